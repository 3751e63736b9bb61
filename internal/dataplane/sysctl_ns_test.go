package dataplane_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestNetlinkSysctls, on the host kernel:
//
//	ns "sc": wlan0 ──veth── cl0 (ns "scpeer")
//
// The MAG's router identity on an access link as desired state:
// forwarding on, accept_ra 0, addrgenmode none. The reconciler is opened
// in the namespace and driven from the test's own thread, outside it, as
// the tests drive every namespace: the sysctls must land in the
// namespace, not in the host's (the host has no wlan0, so a write there
// would fail). A restarted reconciler reads them and writes nothing;
// tear-down leaves them.
func TestNetlinkSysctls(t *testing.T) {
	ns := nstest.New(t, "sc")
	peer := nstest.New(t, "scpeer")
	nstest.Veth(t, ns, "wlan0", peer, "cl0")
	writeProc(t, ns, "ipv6/conf/all/forwarding", "0")
	writeProc(t, ns, "ipv4/conf/all/forwarding", "0")
	writeProc(t, ns, "ipv6/conf/wlan0/accept_ra", "1")
	hostFwd, _ := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding")

	s := &dataplane.State{
		AddrGenModes: []dataplane.AddrGenMode{{Dev: "wlan0", Mode: dataplane.AddrGenNone}},
		Sysctls: append(dataplane.ForwardingSysctls(),
			dataplane.Sysctl{Family: 6, Dev: "wlan0", Name: "accept_ra", Value: 0},
			dataplane.Sysctl{Family: 6, Dev: "wlan0", Name: "forwarding", Value: 1}),
	}
	ctx := context.Background()
	r, c, _ := open(t, ns)
	if err := r.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Five settings, and the link-local the kernel made on wlan0 when
	// the veth came up removed (addrgenmode none: RFC 5213 6.8, 6.9.3).
	if ops := c.take(); len(ops) != 6 || !strings.HasPrefix(ops[5], "del address fe80:") {
		t.Errorf("first Set: %q", ops)
	}
	check := func(when string) {
		t.Helper()
		for path, want := range map[string]string{
			"ipv4/conf/all/forwarding":      "1",
			"ipv4/ip_forward":               "1",
			"ipv6/conf/all/forwarding":      "1",
			"ipv6/conf/wlan0/forwarding":    "1",
			"ipv6/conf/wlan0/accept_ra":     "0",
			"ipv6/conf/wlan0/addr_gen_mode": "1",
		} {
			if got := readProc(t, ns, path); got != want {
				t.Errorf("%s: %s = %s, want %s", when, path, got, want)
			}
		}
		if !haveTool(t, "ip") {
			return
		}
		if out := ns.Run(t, "ip", "-d", "link", "show", "wlan0"); !strings.Contains(out, "addrgenmode none") {
			t.Errorf("%s: ip -d link:\n%s", when, out)
		}
	}
	check("after Set")
	if got, _ := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding"); string(got) != string(hostFwd) {
		t.Errorf("the host's forwarding changed from %q to %q", hostFwd, got)
	}

	r2, c2, _ := open(t, ns)
	if err := r2.Set(ctx, s); err != nil {
		t.Fatal(err)
	}
	// After a restart the settings are applied again (a dump does not
	// report them), which reads each parameter and writes none.
	if ops := c2.take(); len(ops) != 5 {
		t.Errorf("restarted reconciler: %q", ops)
	}
	if err := r2.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check("after tear-down")

	bad := &dataplane.State{Sysctls: []dataplane.Sysctl{{Family: 6, Dev: "nosuch0", Name: "accept_ra"}}}
	if err := r2.Set(ctx, bad); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("sysctl of a missing device: %v", err)
	}
	bad = &dataplane.State{Sysctls: []dataplane.Sysctl{{Family: 6, Dev: "wlan0", Name: "no_such_knob"}}}
	if err := r2.Set(ctx, bad); err == nil {
		t.Error("unknown parameter written")
	}
}

// writeProc and readProc reach /proc/sys/net/PATH of the namespace from
// Go (the QEMU guest has no sysctl tool).
func writeProc(t *testing.T, ns *nstest.NS, path, value string) {
	t.Helper()
	if err := ns.Do(func() error { return os.WriteFile("/proc/sys/net/"+path, []byte(value), 0) }); err != nil {
		t.Fatal(err)
	}
}

func readProc(t *testing.T, ns *nstest.NS, path string) string {
	t.Helper()
	var b []byte
	if err := ns.Do(func() (err error) { b, err = os.ReadFile("/proc/sys/net/" + path); return err }); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
