package ra_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
	"github.com/openpmip/pmip/mag/ra"
	"github.com/openpmip/pmip/mag/sniff"
	"golang.org/x/net/bpf"
)

// Tier 2: a real Linux client doing SLAAC against our sniffer and
// advertiser on the host kernel.
//
//	 client namespace                      MAG namespace
//	+-------------------------+           +-----------------------------------+
//	| c0  accept_ra=1         |   veth    | m0  MAC 00:00:5e:00:52:13          |
//	|     autoconf=1          |-----------|     fe80::200:5eff:fe00:5213 nodad |
//	| (kernel RS, DAD, SLAAC) |           | sniff.Sniffer + ra.Advertiser on   |
//	| + packet socket for     |           | packet sockets; the kernel answers |
//	|   crafted RS / DAD      |           | NS for the fixed link-local        |
//	+-------------------------+           +-----------------------------------+
//
// m0 carries the fixed router identity (RFC 5213 6.9.3) the way the data
// plane must set it up on an AP, so the client can resolve and reach its
// default router, not merely hear RAs from it.

var hnp = netip.MustParsePrefix("2001:db8:1:2::/64")

type access struct {
	client, mag *nstest.NS
	clientMAC   net.HardwareAddr
	sn          *sniff.Sniffer
	adv         *ra.Advertiser
	attaches    chan sniff.Trigger
	detaches    chan sniff.Detach
	acc         string // the MAG's access interface
}

func sysctl(t testing.TB, ns *nstest.NS, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		path := "/proc/sys/" + strings.ReplaceAll(kv[i], ".", "/")
		if err := ns.Do(func() error { return os.WriteFile(path, []byte(kv[i+1]), 0o644) }); err != nil {
			t.Fatalf("sysctl %s=%s in %s: %v", kv[i], kv[i+1], ns.Name, err)
		}
	}
}

// setup builds the topology with the client link down, so the sniffer is
// listening before the client's first DAD probe and RS.
func setup(t testing.TB) *access { return setupAccess(t, false, nil) }

// setupAccess builds the topology. With bridged, the MAG's access
// interface is a bridge acc0 with m0 as its port, the shape of an OpenWrt
// AP whose radios are bridge ports: the bridge, not the port, carries the
// fixed router identity and the sockets.
func setupAccess(t testing.TB, bridged bool, mod func(*sniff.Config)) *access {
	nstest.RequireRoot(t)
	x := &access{
		client:   nstest.New(t, "client"),
		mag:      nstest.New(t, "mag"),
		attaches: make(chan sniff.Trigger, 16),
		detaches: make(chan sniff.Detach, 16),
		acc:      "m0",
	}
	nstest.Veth(t, x.mag, "m0", x.client, "c0")
	x.client.Run(t, "ip", "link", "set", "c0", "down")
	sysctl(t, x.client,
		"net.ipv6.conf.c0.accept_ra", "1",
		"net.ipv6.conf.c0.autoconf", "1",
		"net.ipv6.conf.c0.forwarding", "0",
		"net.ipv6.conf.c0.router_solicitation_interval", "1",
		"net.ipv6.conf.c0.router_solicitations", "3")
	if bridged {
		x.acc = "acc0"
		x.mag.Run(t, "ip", "link", "add", "acc0", "type", "bridge")
		x.mag.Run(t, "ip", "link", "set", "m0", "addrgenmode", "none")
		x.mag.Run(t, "ip", "link", "set", "m0", "master", "acc0")
	}
	// The data plane's part: the fixed MAC and link-local on the access
	// interface, no address of the kernel's own making, no DAD for an
	// address every MAG shares.
	acc := x.acc
	x.mag.Run(t, "ip", "link", "set", acc, "down")
	x.mag.Run(t, "ip", "link", "set", acc, "addrgenmode", "none")
	x.mag.Run(t, "ip", "link", "set", acc, "address", ra.DefaultRouterMAC.String())
	sysctl(t, x.mag, "net.ipv6.conf."+acc+".accept_ra", "0", "net.ipv6.conf."+acc+".forwarding", "1")
	x.mag.Run(t, "ip", "link", "set", acc, "up")
	x.mag.Run(t, "ip", "-6", "addr", "add", ra.DefaultRouterLinkLocal.String()+"/64", "dev", acc, "nodad")

	var sConn, aConn *l2.Socket
	if err := x.mag.Do(func() (err error) {
		if sConn, err = l2.Listen(acc, 0, []bpf.Instruction{bpf.RetConstant{Val: 0}}); err != nil {
			return err
		}
		aConn, err = l2.Listen(acc, l2.EtherTypeIPv6, []bpf.Instruction{bpf.RetConstant{Val: 0}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	scfg := sniff.Config{
		Interface: acc,
		Conn:      sConn,
		OnAttach:  func(tr sniff.Trigger) { x.attaches <- tr },
		OnDetach:  func(d sniff.Detach) { x.detaches <- d },
	}
	if mod != nil {
		mod(&scfg)
	}
	var err error
	x.sn, err = sniff.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	x.adv, err = ra.New(ra.Config{
		Interface:          acc,
		Conn:               aConn,
		MaxRtrAdvInterval:  30 * time.Second,
		MaxRADelay:         -1,
		MinDelayBetweenRAs: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { x.sn.Run(ctx); done <- struct{}{} }()
	go func() { x.adv.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })

	ifi, err := interfaceIn(x.client, "c0")
	if err != nil {
		t.Fatal(err)
	}
	x.clientMAC = ifi.HardwareAddr
	return x
}

// clientUp sets c0 up and waits until both ends of the veth are
// operational: until the kernel's link watcher activates a device's queueing
// discipline (up to a second, more on a loaded host), frames sent on it are
// dropped.
func (x *access) clientUp(t testing.TB) {
	t.Helper()
	x.client.Run(t, "ip", "link", "set", "c0", "up")
	for _, end := range []struct {
		ns  *nstest.NS
		dev string
	}{{x.client, "c0"}, {x.mag, "m0"}, {x.mag, x.acc}} {
		nstest.WaitFor(t, 10*time.Second, func() string {
			out, _ := end.ns.Output("ip", "link", "show", "dev", end.dev)
			if strings.Contains(out, "state UP") && !strings.Contains(out, "qdisc noop") {
				return ""
			}
			return end.dev + " not operational:\n" + out
		})
	}
}

func interfaceIn(ns *nstest.NS, name string) (ifi *net.Interface, err error) {
	err = ns.Do(func() error {
		ifi, err = net.InterfaceByName(name)
		return err
	})
	return ifi, err
}

func (x *access) nextAttach(t testing.TB, within time.Duration) sniff.Trigger {
	t.Helper()
	select {
	case tr := <-x.attaches:
		return tr
	case <-time.After(within):
		t.Fatalf("no attach trigger within %s (sniffer stats %+v)", within, x.sn.Stats())
	}
	return sniff.Trigger{}
}

func TestKernelClientSLAAC(t *testing.T) {
	t.Run("veth", func(t *testing.T) { testKernelClientSLAAC(t, false) })
	t.Run("bridge", func(t *testing.T) { testKernelClientSLAAC(t, true) })
}

func testKernelClientSLAAC(t *testing.T, bridged bool) {
	x := setupAccess(t, bridged, nil)
	x.clientUp(t)

	// The kernel's DAD probe for its link-local (or its RS) attaches it:
	// exactly once.
	tr := x.nextAttach(t, 10*time.Second)
	if !bytes.Equal(tr.MAC, x.clientMAC) || tr.Interface != x.acc {
		t.Fatalf("attach %+v, want MAC %s on %s", tr, x.clientMAC, x.acc)
	}
	if tr.Kind != sniff.KindDAD && tr.Kind != sniff.KindRouterSolicitation {
		t.Errorf("attach kind %s", tr.Kind)
	}
	t.Logf("attach trigger: %s from %s link-local %s", tr.Kind, tr.MAC, tr.LinkLocal)

	// The engine's answer to the PBA: serve the home network prefix.
	if err := x.sn.Registered(tr.MAC); err != nil {
		t.Fatal(err)
	}
	if err := x.adv.Serve(tr.MAC, tr.LinkLocal, []netip.Prefix{hnp}, 300*time.Second); err != nil {
		t.Fatal(err)
	}
	inPrefix := regexp.MustCompile(`inet6 (2001:db8:1:2:[0-9a-f:]+)/64 scope global`)
	nstest.WaitFor(t, 10*time.Second, func() string {
		out, _ := x.client.Output("ip", "-6", "addr", "show", "dev", "c0")
		if m := inPrefix.FindStringSubmatch(out); m != nil && !strings.Contains(out, "tentative") {
			return ""
		}
		return "client has no global address in " + hnp.String() + ":\n" + out
	})
	nstest.WaitFor(t, 5*time.Second, func() string {
		out, _ := x.client.Output("ip", "-6", "route", "show", "default")
		if strings.Contains(out, "via "+ra.DefaultRouterLinkLocal.String()+" dev c0") {
			return ""
		}
		return "client's default route is not the fixed link-local:\n" + out
	})
	// The client reaches its router at the fixed addresses: neighbor
	// resolution of the fixed link-local gives the fixed MAC.
	x.client.Run(t, "ping", "-6", "-c", "1", "-W", "3", ra.DefaultRouterLinkLocal.String()+"%c0")
	neigh := x.client.Run(t, "ip", "-6", "neigh", "show", "dev", "c0")
	if !strings.Contains(neigh, ra.DefaultRouterLinkLocal.String()+" lladdr "+ra.DefaultRouterMAC.String()+" router") {
		t.Errorf("client neighbor table lacks the fixed router:\n%s", neigh)
	}
	// One client, one registration: its later RSs and DAD probes (for the
	// global address) were deduplicated.
	select {
	case extra := <-x.attaches:
		t.Errorf("second attach for the same client: %+v", extra)
	default:
	}
	t.Logf("client:\n%s", x.client.Run(t, "ip", "-6", "addr", "show", "dev", "c0"))
}

// clientSocket opens a packet socket in the client namespace that reads
// Router Advertisements.
func clientSocket(t testing.TB, x *access) *l2.Socket {
	t.Helper()
	raOnly := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: l2.EtherTypeIPv6, SkipTrue: 3},
		bpf.LoadAbsolute{Off: 14 + 40, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 134, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
	var s *l2.Socket
	if err := x.client.Do(func() (err error) {
		s, err = l2.Listen("c0", l2.EtherTypeIPv6, raOnly)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readRA(t testing.TB, s *l2.Socket) (*l2.ND, error) {
	t.Helper()
	buf := make([]byte, 2048)
	if err := s.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	n, err := s.ReadFrame(buf)
	if err != nil {
		return nil, err
	}
	nd, err := l2.ParseND(buf[:n])
	if err != nil {
		return nil, err
	}
	if _, ok := nd.Message.(*l2.RouterAdvertisement); !ok {
		return nil, fmt.Errorf("read %T", nd.Message)
	}
	return nd, nil
}

func TestCraftedRSAndDAD(t *testing.T) {
	x := setup(t)
	// Client link up with SLAAC machinery off, so only our crafted frames
	// speak for it.
	sysctl(t, x.client, "net.ipv6.conf.c0.router_solicitations", "0", "net.ipv6.conf.c0.dad_transmits", "0")
	x.client.Run(t, "ip", "link", "set", "c0", "addrgenmode", "none")
	x.clientUp(t)
	cs := clientSocket(t, x)
	ll := netip.MustParseAddr("fe80::1234")

	// An RS from an unknown MAC: an attach trigger, and no RA (no PBA yet).
	if err := cs.WriteFrame(l2test.RS(x.clientMAC, ll)); err != nil {
		t.Fatal(err)
	}
	tr := x.nextAttach(t, 5*time.Second)
	if tr.Kind != sniff.KindRouterSolicitation || tr.LinkLocal != ll || !bytes.Equal(tr.MAC, x.clientMAC) {
		t.Fatalf("attach %+v", tr)
	}
	// After Serve, the RA arrives unicast; then an RS is answered unicast.
	if err := x.adv.Serve(tr.MAC, tr.LinkLocal, []netip.Prefix{hnp}, 300*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"Serve", "RS"} {
		if i == 1 {
			time.Sleep(60 * time.Millisecond) // past MinDelayBetweenRAs of this test's config
			if err := cs.WriteFrame(l2test.RS(x.clientMAC, ll)); err != nil {
				t.Fatal(err)
			}
		}
		nd, err := readRA(t, cs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(nd.Eth.Dst, x.clientMAC) || !bytes.Equal(nd.Eth.Src, ra.DefaultRouterMAC) ||
			nd.IP.Src != ra.DefaultRouterLinkLocal || nd.IP.Dst != ll {
			t.Errorf("RA after %s: %s/%s -> %s/%s", what, nd.Eth.Src, nd.IP.Src, nd.Eth.Dst, nd.IP.Dst)
		}
	}
	if st := x.adv.Stats(); st.Solicited != 1 {
		t.Errorf("advertiser stats %+v, want 1 solicited", st)
	}
	// A DAD probe from a new MAC attaches that MAC.
	other := net.HardwareAddr{0x02, 0x42, 0, 0, 0, 7}
	if err := cs.WriteFrame(l2test.DAD(other, netip.MustParseAddr("fe80::42"))); err != nil {
		t.Fatal(err)
	}
	tr = x.nextAttach(t, 5*time.Second)
	if tr.Kind != sniff.KindDAD || !bytes.Equal(tr.MAC, other) || tr.LinkLocal != netip.MustParseAddr("fe80::42") {
		t.Errorf("attach %+v", tr)
	}
}

// TestServeToWireLatency measures "PBA received to RA on the wire": from
// the engine's call to Serve until the RA is read by a packet socket on
// the client's end of the veth.
func TestServeToWireLatency(t *testing.T) {
	x := setup(t)
	sysctl(t, x.client, "net.ipv6.conf.c0.router_solicitations", "0", "net.ipv6.conf.c0.dad_transmits", "0")
	x.clientUp(t)
	cs := clientSocket(t, x)
	const n = 200
	var lat []time.Duration
	for range n {
		start := time.Now()
		if err := x.adv.Serve(x.clientMAC, netip.MustParseAddr("fe80::1"), []netip.Prefix{hnp}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := readRA(t, cs); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100]
	t.Logf("Serve to RA read on the client's veth: median %s, p99 %s, max %s (n=%d)", p50, p99, lat[n-1], n)
	if p50 > 5*time.Millisecond {
		t.Errorf("median %s over the 5 ms budget", p50)
	}
}

// TestSilentKernelClient: a registered client that sends nothing is asked
// (unicast NS to its link-local) before being reported detached; the
// kernel answers, so it stays. Once its link is down, the probes go
// unanswered and it is reported.
func TestSilentKernelClient(t *testing.T) {
	x := setupAccess(t, false, func(c *sniff.Config) {
		c.DetachTimeout = 2 * time.Second
		c.SeenInterval = time.Second
		c.ProbeInterval = 200 * time.Millisecond
	})
	sysctl(t, x.client, "net.ipv6.conf.c0.router_solicitations", "0", "net.ipv6.conf.c0.dad_transmits", "0")
	x.client.Run(t, "ip", "link", "set", "c0", "addrgenmode", "none")
	x.clientUp(t)
	ll := netip.MustParseAddr("fe80::1234")
	x.client.Run(t, "ip", "-6", "addr", "add", ll.String()+"/64", "dev", "c0", "nodad")
	if err := x.sn.Registered(x.clientMAC, ll); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-x.detaches:
		t.Fatalf("silent but present client detached: %+v (stats %+v)", d, x.sn.Stats())
	case <-time.After(5 * time.Second):
	}
	if st := x.sn.Stats(); st.ProbeAnswered == 0 {
		t.Fatalf("no probe answered in 5 s of silence: %+v", st)
	}
	x.client.Run(t, "ip", "link", "set", "c0", "down")
	start := time.Now()
	select {
	case d := <-x.detaches:
		if !bytes.Equal(d.MAC, x.clientMAC) {
			t.Errorf("detach %+v", d)
		}
		t.Logf("detached %s after link down (stats %+v)", time.Since(start).Round(time.Millisecond), x.sn.Stats())
	case <-time.After(10 * time.Second):
		t.Fatalf("departed client not detached (stats %+v)", x.sn.Stats())
	}
}

// BenchmarkServeOnWire is the tier-2 figure of "PBA received to RA on the
// wire": one Serve (a binding refresh) until the RA is read on the client's
// end of the veth. It needs root and skips otherwise.
func BenchmarkServeOnWire(b *testing.B) {
	x := setup(b)
	sysctl(b, x.client, "net.ipv6.conf.c0.router_solicitations", "0", "net.ipv6.conf.c0.dad_transmits", "0")
	x.clientUp(b)
	cs := clientSocket(b, x)
	ll := netip.MustParseAddr("fe80::1")
	for b.Loop() {
		if err := x.adv.Serve(x.clientMAC, ll, []netip.Prefix{hnp}, time.Hour); err != nil {
			b.Fatal(err)
		}
		if _, err := readRA(b, cs); err != nil {
			b.Fatal(err)
		}
	}
}
