package scenarios

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/testing/qemu"
)

// fallbackTunnels are the devices the tunnel modules create in every
// namespace; they carry nothing of ours.
var fallbackTunnels = []string{"ip6tnl0", "ip6gre0", "gre0", "gretap0", "erspan0", "tunl0", "sit0", "ip6_vti0", "ip_vti0"}

var tunnelKinds = []string{"ip6tnl", "ip6gre", "gre", "ipip", "sit"}

// TunnelStats is the traffic through a namespace's tunnels.
type TunnelStats struct {
	Devices          []string
	RxPackets, TxPkt uint64
}

type ipLink struct {
	Name     string `json:"ifname"`
	LinkInfo *struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
	Stats64 *struct {
		Rx struct {
			Packets uint64 `json:"packets"`
		} `json:"rx"`
		Tx struct {
			Packets uint64 `json:"packets"`
		} `json:"tx"`
	} `json:"stats64"`
}

func (d *Domain) links(ns string) []ipLink {
	d.T.Helper()
	out := d.nsSh(ns, "ip -j -s -d link show")
	var links []ipLink
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		d.T.Fatalf("ip -j link in %s: %v\n%s", ns, err, out)
	}
	return links
}

func isOurTunnel(l ipLink) bool {
	return l.LinkInfo != nil && slices.Contains(tunnelKinds, l.LinkInfo.Kind) && !slices.Contains(fallbackTunnels, l.Name)
}

// Tunnels returns the PMIPv6 tunnels in ns and their packet counters.
func (d *Domain) Tunnels(ns string) TunnelStats {
	d.T.Helper()
	var s TunnelStats
	for _, l := range d.links(ns) {
		if !isOurTunnel(l) {
			continue
		}
		s.Devices = append(s.Devices, l.Name+" ("+l.LinkInfo.Kind+")")
		if l.Stats64 != nil {
			s.RxPackets += l.Stats64.Rx.Packets
			s.TxPkt += l.Stats64.Tx.Packets
		}
	}
	return s
}

// KernelState renders what PMIPv6 may change in a namespace's kernel:
// tunnel devices, routes of every table, policy rules and the nftables
// ruleset. Route cache entries (PMTU exceptions) and neighbours are left
// out: the kernel ages them, nobody configured them.
func (d *Domain) KernelState(ns string) string {
	d.T.Helper()
	var b strings.Builder
	for _, l := range d.links(ns) {
		if isOurTunnel(l) {
			fmt.Fprintf(&b, "tunnel %s %s\n", l.Name, l.LinkInfo.Kind)
		}
	}
	out := d.nsSh(ns, "ip -4 route show table all; ip -6 route show table all; ip -4 rule; ip -6 rule; nft list ruleset")
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " cache") || strings.Contains(l, "expires") || strings.TrimSpace(l) == "" {
			continue
		}
		// nftables counters count traffic, not configuration.
		b.WriteString(nftCounter.ReplaceAllString(l, "counter") + "\n")
	}
	return b.String()
}

var nftCounter = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// diffLines returns the lines only in a and only in b.
func diffLines(a, b string) (onlyA, onlyB []string) {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	for _, l := range as {
		if !slices.Contains(bs, l) {
			onlyA = append(onlyA, l)
		}
	}
	for _, l := range bs {
		if !slices.Contains(as, l) {
			onlyB = append(onlyB, l)
		}
	}
	return onlyA, onlyB
}

// Bindings asks the LMA (pmipctl -json bindings) for its Binding Cache.
func (d *Domain) Bindings() ([]ctl.Binding, error) {
	out, err := d.trySh("ip netns exec lma " + d.bins["pmipctl"] + " -socket " + lmaSocket + " -json bindings")
	if err != nil {
		return nil, fmt.Errorf("pmipctl bindings: %w\n%s", err, out)
	}
	var r ctl.BindingsResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("pmipctl -json bindings: %w\n%s", err, out)
	}
	return r.Bindings, nil
}

// MAGBinding is one entry of a MAG's Binding Update List as pmip-mag's
// control socket reports it (pmipctl call bindings).
type MAGBinding struct {
	MAC        string `json:"mac"`
	MobileNode string `json:"mobile_node"`
	Interface  string `json:"interface"`
	State      string `json:"state"`
}

// MAGBindings asks ap's MAG for its Binding Update List.
func (d *Domain) MAGBindings(ap *AP) ([]MAGBinding, error) {
	out, err := d.vmFor(ap.Name).Run(d.ctx, "/bin/sh", "-c", d.bins["pmipctl"]+" -socket "+magControl(ap)+" call bindings")
	if err != nil {
		return nil, fmt.Errorf("pmipctl bindings at %s: %w\n%s", ap.Name, err, out)
	}
	var r struct {
		Bindings []MAGBinding `json:"bindings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return nil, fmt.Errorf("pmipctl -json bindings at %s: %w\n%s", ap.Name, err, out)
	}
	return r.Bindings, nil
}

// PMIPCtl runs pmipctl against the LMA and returns its table.
func (d *Domain) PMIPCtl(args string) string {
	d.T.Helper()
	return d.nsSh("lma", d.bins["pmipctl"]+" -socket "+lmaSocket+" "+args)
}

// dumpOnFailure keeps the kernel state of every namespace and the LMA's
// bindings with the results of a failed test.
func (d *Domain) dumpOnFailure() {
	if !d.T.Failed() {
		return
	}
	scripts := map[*qemu.VM]*strings.Builder{}
	add := func(vm *qemu.VM, format string, args ...any) {
		b := scripts[vm]
		if b == nil {
			b = &strings.Builder{}
			b.WriteString("set +e\n")
			scripts[vm] = b
		}
		fmt.Fprintf(b, format+"\n", args...)
	}
	for _, ns := range append([]string{"lma", "cn", "client"}, apNames(d.APs)...) {
		add(d.vmFor(ns), "ip netns exec %s /bin/sh -c 'for c in \"ip -d link\" \"ip addr\" \"ip -4 route show table all\" \"ip -6 route show table all\" \"ip -4 rule\" \"ip -6 rule\" \"ip neigh\" \"nft list ruleset\"; do echo \"### $c\"; $c; done' >%s/dump-%s.txt 2>&1", ns, resultsDir, ns)
	}
	if p := d.bins["pmipctl"]; p != "" {
		add(d.VM, "ip netns exec lma %s -socket %s bindings >%s/pmipctl-lma-bindings.txt 2>&1", p, lmaSocket, resultsDir)
		add(d.VM, "ip netns exec lma %s -socket %s counters >%s/pmipctl-lma-counters.txt 2>&1", p, lmaSocket, resultsDir)
		for _, ap := range d.APs {
			add(d.vmFor(ap.Name), "%s -socket %s call bindings >%s/pmipctl-%s-bindings.txt 2>&1", p, magControl(ap), resultsDir, ap.Name)
		}
	}
	for vm, b := range scripts {
		fmt.Fprintf(b, "ps >%s/ps-%s.txt 2>&1\n", resultsDir, vm.Image.Arch.Name)
		if out, err := vm.Run(d.ctx, "/bin/sh", "-c", b.String()); err != nil {
			d.T.Logf("dumping the guest's state: %v\n%s", err, out)
		}
	}
	d.T.Logf("scenario results (logs, pcaps, dumps): %s", d.VM.LogDir())
}

func apNames(aps []*AP) []string {
	var n []string
	for _, ap := range aps {
		n = append(n, ap.Name)
	}
	return n
}
