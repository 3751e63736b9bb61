package mag

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/mh"
)

func (h *harness) nextBRA() *mh.BindingRevocationAck {
	h.t.Helper()
	m := h.next()
	a, ok := m.(*mh.BindingRevocationAck)
	if !ok {
		h.t.Fatalf("engine sent %v, want a BRA", m)
	}
	return a
}

// RFC 5846 6.1, 6.2, 8.2: the LMA revokes bindings; the MAG tears them
// down without a deregistration PBU, tells the access side, and answers
// with a BRA echoing the sequence number, flags and MN-ID.
func TestRevocation(t *testing.T) {
	id1 := mh.NewNAI("020000000001@ap.example.net")
	tests := []struct {
		name    string
		bri     *mh.BindingRevocationIndication
		status  mh.RevocationStatus
		ev      []string
		leased  bool // client 1 still has a DHCP lease afterwards
		served6 bool // client 1's prefix still in the data plane
	}{
		{name: "administrative, by MN-ID",
			bri:    &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 11, Flags: mh.RevocationProxy, Options: []mh.Option{id1}},
			status: mh.RevocationSuccess,
			ev:     []string{"br-lan ra withdraw 02:00:00:00:00:01", "br-lan dhcp forget 02:00:00:00:00:01", "br-lan sniff forget 02:00:00:00:00:01"}},
		{name: "inter-MAG handover: the client left, forgotten silently",
			bri:    &mh.BindingRevocationIndication{Trigger: mh.TriggerInterMAGSameAccess, Sequence: 12, Flags: mh.RevocationProxy, Options: []mh.Option{id1, &mh.HomeNetworkPrefix{Prefix: hnp1}}},
			status: mh.RevocationSuccess,
			ev:     []string{"br-lan ra forget 02:00:00:00:00:01", "br-lan dhcp forget 02:00:00:00:00:01", "br-lan sniff forget 02:00:00:00:00:01"}},
		{name: "global",
			bri:    &mh.BindingRevocationIndication{Trigger: mh.TriggerPerPeerPolicy, Sequence: 13, Flags: mh.RevocationProxy | mh.RevocationGlobal, Options: []mh.Option{mh.NewNAI("mag1@example.net")}},
			status: mh.RevocationSuccess,
			ev:     []string{"br-lan ra withdraw 02:00:00:00:00:01", "br-lan dhcp forget 02:00:00:00:00:01", "br-lan sniff forget 02:00:00:00:00:01"}},
		{name: "IPv4 only (V)",
			bri:     &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 14, Flags: mh.RevocationProxy | mh.RevocationIPv4Only, Options: []mh.Option{id1}},
			status:  mh.RevocationSuccess,
			ev:      []string{"br-lan dhcp forget 02:00:00:00:00:01"},
			served6: true},
		{name: "unknown mobile node",
			bri:     &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 15, Flags: mh.RevocationProxy, Options: []mh.Option{mh.NewNAI("nobody@example.net")}},
			status:  mh.RevocationBindingDoesNotExist,
			leased:  true,
			served6: true},
		{name: "prefix of another session",
			bri:     &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 16, Flags: mh.RevocationProxy, Options: []mh.Option{id1, &mh.HomeNetworkPrefix{Prefix: hnp2}}},
			status:  mh.RevocationBindingDoesNotExist,
			leased:  true,
			served6: true},
		{name: "no MN-ID and not global",
			bri:     &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 17, Flags: mh.RevocationProxy},
			status:  mh.RevocationCannotIdentifyBinding,
			leased:  true,
			served6: true},
		{name: "without the P flag",
			bri:     &mh.BindingRevocationIndication{Trigger: mh.TriggerAdministrative, Sequence: 18, Options: []mh.Option{id1}},
			status:  mh.RevocationCannotIdentifyBinding,
			leased:  true,
			served6: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, baseConf, noHeartbeat)
			h.register1(time.Hour)
			h.deliver(tt.bri)
			bra := h.nextBRA()
			if bra.Status != tt.status || bra.Sequence != tt.bri.Sequence || bra.Flags != tt.bri.Flags {
				t.Errorf("BRA %v, want status %v seq %d flags %v", bra, tt.status, tt.bri.Sequence, tt.bri.Flags)
			}
			h.quiet() // RFC 5846 8.2: no deregistration PBU
			if diff := cmp.Diff(tt.ev, h.rec.take()); diff != "" {
				t.Errorf("access side (-want +got):\n%s", diff)
			}
			if _, ok := h.e.Lookup(client1); ok != tt.leased {
				t.Errorf("leased %v, want %v", ok, tt.leased)
			}
			if got := contains(lines(h.dp.String()), hnp1.String()); got != tt.served6 {
				t.Errorf("prefix in the data plane %v, want %v:\n%s", got, tt.served6, h.dp.String())
			}
		})
	}
}
