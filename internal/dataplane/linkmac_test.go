package dataplane_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/nstest"
)

// The fixed MAG MAC of RFC 5213 6.9.3 (the RFC 6543 address).
var fixedMAC = mac("00:00:5e:00:52:13")

// LinkMAC sets a foreign device's address once; the planner never undoes
// it, and Validate refuses what the kernel would.
func TestLinkMACPlan(t *testing.T) {
	ctx := context.Background()
	f := dataplanetest.New("wlan0")
	s := &dataplane.State{LinkMACs: []dataplane.LinkMAC{{Dev: "wlan0", MAC: fixedMAC}}}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := f.Kernel.Ops(); len(ops) != 1 || ops[0] != "replace link wlan0 address 00:00:5e:00:52:13" {
		t.Errorf("first Set: %q", ops)
	}
	if err := f.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := f.Kernel.Ops(); len(ops) != 0 {
		t.Errorf("second Set: %q", ops)
	}
	if err := f.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ops := f.Kernel.Ops(); len(ops) != 0 {
		t.Errorf("tear-down touched the foreign device: %q", ops)
	}
	for name, l := range map[string]dataplane.LinkMAC{
		"multicast":    {Dev: "wlan0", MAC: mac("01:00:5e:00:00:01")},
		"zero":         {Dev: "wlan0", MAC: mac("00:00:00:00:00:00")},
		"short":        {Dev: "wlan0", MAC: fixedMAC[:4]},
		"ours":         {Dev: "pmip0", MAC: fixedMAC},
		"no device":    {MAC: fixedMAC},
		"long ifname ": {Dev: "wlan0123456789012", MAC: fixedMAC},
	} {
		err := (&dataplane.State{LinkMACs: []dataplane.LinkMAC{l}}).Validate("pmip")
		if !errors.Is(err, dataplane.ErrInvalid) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	dup := &dataplane.State{LinkMACs: []dataplane.LinkMAC{{Dev: "wlan0", MAC: fixedMAC}, {Dev: "wlan0", MAC: fixedMAC}}}
	if err := dup.Validate("pmip"); !errors.Is(err, dataplane.ErrInvalid) {
		t.Errorf("duplicate: Validate = %v", err)
	}
}

// TestNetlinkLinkMAC, on the host kernel:
//
//	ns "mac": wlan0 ──veth── cl0 (ns "macpeer")
//
// The access interface takes the fixed MAG MAC; a restarted reconciler
// sets it again harmlessly; tearing down leaves it.
func TestNetlinkLinkMAC(t *testing.T) {
	ns := nstest.New(t, "mac")
	peer := nstest.New(t, "macpeer")
	nstest.Veth(t, ns, "wlan0", peer, "cl0")
	ctx := context.Background()
	s := &dataplane.State{LinkMACs: []dataplane.LinkMAC{{Dev: "wlan0", MAC: fixedMAC}}}
	r, c, _ := open(t, ns)
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if out := ns.Run(t, "ip", "link", "show", "wlan0"); !strings.Contains(out, "link/ether 00:00:5e:00:52:13") {
		t.Errorf("wlan0 after Set:\n%s", out)
	}
	c.take()
	if err := r.Set(ctx, s); err != nil || len(c.take()) != 0 {
		t.Errorf("second Set: %v", err)
	}
	r2, c2, _ := open(t, ns)
	if err := r2.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ops := c2.take(); len(ops) != 1 {
		t.Errorf("restarted reconciler: %q", ops)
	}
	if err := r2.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if out := ns.Run(t, "ip", "link", "show", "wlan0"); !strings.Contains(out, "link/ether 00:00:5e:00:52:13") {
		t.Errorf("wlan0 after tear-down:\n%s", out)
	}
	bad := &dataplane.State{LinkMACs: []dataplane.LinkMAC{{Dev: "nosuch0", MAC: fixedMAC}}}
	if err := r2.Set(ctx, bad); err == nil {
		t.Error("MAC of a missing device set")
	}
}
