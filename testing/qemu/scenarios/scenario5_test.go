package scenarios

import (
	"strings"
	"testing"
)

// TestScenario5 is issue 5 scenario 5, IPv4 transport (RFC 5844 4):
//
//	[cn] ── [lma] 198.51.100.1 ══ IPv4 tunnel (IPv4 and IPv6 inside) ══ 198.51.100.11 [ap1] MAG1 ))) client
//	         PBU/PBA in UDP/IPv4 port 5436; the MAGs have no IPv6 on the backhaul
//
// Signalling and tunnel run over IPv4 only; the client still gets both
// its IPv4 home address and its IPv6 home prefix and reaches the CN over
// both.
func TestScenario5(t *testing.T) {
	d := New(t, Config{APs: 1, Transport: "ipv4"})
	d.Up()
	d.AttachAndPing(d.APs[0])
	pkts := d.backhaulMH(d.APs[0])
	if len(pkts) == 0 {
		t.Fatal("no Mobility Header packets on the backhaul")
	}
	for _, p := range pkts {
		if !strings.Contains(p.Src, ".") {
			t.Errorf("a Mobility Header message over IPv6 (from %s) with IPv4 transport", p.Src)
		}
	}
	if out := d.nsSh(d.APs[0].Name, "ip -6 addr show dev bh0 scope global"); strings.TrimSpace(out) != "" {
		t.Errorf("the MAG has IPv6 on the backhaul:\n%s", out)
	}
}
