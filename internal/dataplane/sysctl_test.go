package dataplane

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/nstest"
)

// RTM_NEWLINK with IFLA_AF_SPEC, as `ip link set DEV addrgenmode none`
// and the kernel's inet_set_link_af read it.
func TestLinkAFGolden(t *testing.T) {
	got, err := encodeLinkAF(7, "", nil, int(AddrGenNone))
	if err != nil {
		t.Fatal(err)
	}
	want := cat(
		[]byte{0, 0}, u16h(0), u32h(7), u32h(0), u32h(0), // ifinfomsg, index 7
		nla(26|nested, // IFLA_AF_SPEC
			nla(10|nested, // AF_INET6
				nla(8, u8(1)))), // IFLA_INET6_ADDR_GEN_MODE none
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("addrgenmode (-want +got):\n%s", diff)
	}

	got, err = encodeLinkAF(0, "pmip0", map[uint16]uint32{ipv4DevconfRPFilter: rpFilterOff}, -1)
	if err != nil {
		t.Fatal(err)
	}
	want = cat(
		[]byte{0, 0}, u16h(0), u32h(0), u32h(0), u32h(0), // ifinfomsg, by name
		nla(3, str("pmip0")), // IFLA_IFNAME
		nla(26|nested, // IFLA_AF_SPEC
			nla(2|nested, // AF_INET
				nla(1|nested, // IFLA_INET_CONF
					nla(8, u32h(0))))), // IPV4_DEVCONF_RP_FILTER off
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rp_filter (-want +got):\n%s", diff)
	}
}

func TestValidateLinkSettings(t *testing.T) {
	for name, s := range map[string]State{
		"family":        {Sysctls: []Sysctl{{Family: 5, Dev: "all", Name: "forwarding", Value: 1}}},
		"no device":     {Sysctls: []Sysctl{{Family: 4, Name: "forwarding", Value: 1}}},
		"path in name":  {Sysctls: []Sysctl{{Family: 4, Dev: "all", Name: "../../kernel/x", Value: 1}}},
		"upper case":    {Sysctls: []Sysctl{{Family: 6, Dev: "all", Name: "Forwarding", Value: 1}}},
		"path in dev":   {Sysctls: []Sysctl{{Family: 6, Dev: "../x", Name: "forwarding", Value: 1}}},
		"twice":         {Sysctls: []Sysctl{{Family: 6, Dev: "all", Name: "forwarding", Value: 1}, {Family: 6, Dev: "all", Name: "forwarding", Value: 0}}},
		"mode":          {AddrGenModes: []AddrGenMode{{Dev: "wlan0", Mode: 4}}},
		"mode dev":      {AddrGenModes: []AddrGenMode{{Dev: "", Mode: AddrGenNone}}},
		"mode twice":    {AddrGenModes: []AddrGenMode{{Dev: "wlan0", Mode: AddrGenNone}, {Dev: "wlan0", Mode: AddrGenEUI64}}},
		"long dev name": {Sysctls: []Sysctl{{Family: 6, Dev: "wlan0123456789012", Name: "accept_ra"}}},
	} {
		if err := s.Validate("pmip"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	good := State{
		Sysctls:      append(ForwardingSysctls(), Sysctl{Family: 4, Dev: "eth0.2", Name: "rp_filter", Value: 2}),
		AddrGenModes: []AddrGenMode{{Dev: "wlan0", Mode: AddrGenNone}},
	}
	if err := good.Validate("pmip"); err != nil {
		t.Errorf("valid state: %v", err)
	}
	// sysctl(8) writes a dot inside a device name as a slash.
	if got := good.Sysctls[2].String(); got != "sysctl net.ipv4.conf.eth0/2.rp_filter=2" {
		t.Errorf("rendering %q", got)
	}
	if got := good.Sysctls[2].Path(); got != "net/ipv4/conf/eth0.2/rp_filter" {
		t.Errorf("path %q", got)
	}
}

// Settings are applied once, after the tunnels they may name, never
// undone; a recreated tunnel gets its own again (the kernel dropped them
// with the old device).
func TestPlanLinkSettings(t *testing.T) {
	tun := Tunnel{Name: "pmip0", Kind: IP6, Local: addr("2001:db8::1"), Remote: addr("2001:db8::2")}
	want := &State{
		Tunnels:      []Tunnel{tun},
		AddrGenModes: []AddrGenMode{{Dev: "wlan0", Mode: AddrGenNone}},
		Sysctls: append(ForwardingSysctls(),
			Sysctl{Family: 6, Dev: "wlan0", Name: "accept_ra", Value: 0},
			Sysctl{Family: 4, Dev: "pmip0", Name: "accept_local", Value: 1}),
	}
	got := opStrings(Plan(nil, want))
	wantOps := []string{
		"add tunnel pmip0 ip6tnl local 2001:db8::1 remote 2001:db8::2 hoplimit 64",
		"replace link wlan0 addrgenmode none",
		"replace sysctl net.ipv4.conf.all.forwarding=1",
		"replace sysctl net.ipv4.conf.pmip0.accept_local=1",
		"replace sysctl net.ipv6.conf.all.forwarding=1",
		"replace sysctl net.ipv6.conf.wlan0.accept_ra=0",
	}
	if diff := cmp.Diff(wantOps, got); diff != "" {
		t.Errorf("first plan (-want +got):\n%s", diff)
	}
	if ops := Plan(want, want); len(ops) != 0 {
		t.Errorf("steady plan: %q", opStrings(ops))
	}
	if ops := Plan(want, nil); len(ops) != 1 || !strings.HasPrefix(ops[0].String(), "del tunnel") {
		t.Errorf("tear-down plan undoes settings: %q", opStrings(ops))
	}
	moved := want.Clone()
	moved.Tunnels[0].Remote = addr("2001:db8::3")
	got = opStrings(Plan(want, moved))
	wantOps = []string{
		"del tunnel pmip0 ip6tnl local 2001:db8::1 remote 2001:db8::2 hoplimit 64",
		"add tunnel pmip0 ip6tnl local 2001:db8::1 remote 2001:db8::3 hoplimit 64",
		"replace sysctl net.ipv4.conf.pmip0.accept_local=1",
	}
	if diff := cmp.Diff(wantOps, got); diff != "" {
		t.Errorf("recreated tunnel (-want +got):\n%s", diff)
	}
	changed := want.Clone()
	changed.Sysctls[2].Value = 1
	if got := opStrings(Plan(want, changed)); len(got) != 1 || got[0] != "replace sysctl net.ipv6.conf.wlan0.accept_ra=1" {
		t.Errorf("changed value: %q", got)
	}
}

// TestTunnelRPFilter, on the host kernel (which has no tunnel of ours, so
// a veth stands in for one):
//
//	ns "rpf": pmip-v0 ──veth── x0 (ns "rpfpeer")
//
// The request sent after creating a tunnel turns its IPv4 reverse-path
// filter off.
func TestTunnelRPFilter(t *testing.T) {
	ns := nstest.New(t, "rpf")
	peer := nstest.New(t, "rpfpeer")
	nstest.Veth(t, ns, "pmip-v0", peer, "x0")
	proc := "/proc/sys/net/ipv4/conf/pmip-v0/rp_filter"
	if err := ns.Do(func() error { return os.WriteFile(proc, []byte("1"), 0) }); err != nil {
		t.Fatal(err)
	}
	var k *Netlink
	if err := ns.Do(func() (err error) { k, err = OpenNetlink(Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.tunnelSettings("pmip-v0"); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := ns.Do(func() (err error) { got, err = os.ReadFile(proc); return err }); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != "0" {
		t.Errorf("rp_filter %s, want 0", got)
	}
	if err := k.tunnelSettings("pmip-none"); err == nil {
		t.Error("settings of a missing device succeeded")
	}
}

func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.String()
	}
	return out
}
