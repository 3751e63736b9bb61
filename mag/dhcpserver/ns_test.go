package dhcpserver_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/dhcpserver/dhcpservertest"
)

// Tier 2: real DHCP clients against the server on packet sockets.
//
//	 client namespace                 MAG namespace
//	+------------------------+       +----------------------------------+
//	| c0                     | veth  | s0  MAC 02:00:5e:00:00:01         |
//	| udhcpc -a / dhclient   |-------| no IPv4 address: the server talks |
//	| (script sets the addr) |       | layer 2 only (Listen on s0)       |
//	+------------------------+       +----------------------------------+
//
// The fake engine dictates 10.20.0.17/24, router 10.20.0.1; the client
// must end up with exactly that, resolve its router (and any on-link
// address) to the MAG's MAC through the ARP responder, renew, release.

type nsLink struct {
	client, mag *nstest.NS
	eng         *dhcpservertest.Engine
	srv         *dhcpserver.Server
	dir         string
}

func setupNS(t testing.TB, leaseTime time.Duration, mods ...func(*dhcpserver.Config)) *nsLink {
	nstest.RequireRoot(t)
	x := &nsLink{client: nstest.New(t, "dhcpc"), mag: nstest.New(t, "dhcpmag"), eng: dhcpservertest.NewEngine(), dir: t.TempDir()}
	nstest.Veth(t, x.mag, "s0", x.client, "c0")
	x.mag.Run(t, "ip", "link", "set", "s0", "address", routerMAC.String())
	var dconn, aconn net.PacketConn
	if err := x.mag.Do(func() error {
		ifi, err := net.InterfaceByName("s0")
		if err != nil {
			return err
		}
		d, a, err := dhcpserver.Listen(ifi)
		dconn, aconn = d, a
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg := dhcpserver.Config{Engine: x.eng, RouterMAC: routerMAC, LeaseTime: leaseTime, Logger: testLogger(t)}
	for _, m := range mods {
		m(&cfg)
	}
	srv, err := dhcpserver.New(cfg, dconn, aconn)
	if err != nil {
		t.Fatal(err)
	}
	x.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return x
}

// start runs a client in the client namespace, stopped at the end.
func (x *nsLink) start(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install udhcpc isc-dhcp-client): %v", name, err)
	}
	cmd := exec.Command(name, args...)
	out, err := os.Create(filepath.Join(x.dir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := x.client.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s output:\n%s", name, b)
		}
	})
	return cmd
}

// waitLog waits for a line of the client script's log containing want.
func (x *nsLink) waitLog(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(filepath.Join(x.dir, "events"))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the client's events within %v:\n%s", want, d, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (x *nsLink) script(t *testing.T, body string) string {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(x.dir, "script")
	s := strings.NewReplacer("@IP@", ip, "@LOG@", filepath.Join(x.dir, "events")).Replace(body)
	if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// attachAfterLeaseReady checks the attach rule end to end: the client is
// seen, nothing is offered, and only LeaseReady brings the OFFER.
func (x *nsLink) attachAfterLeaseReady(t *testing.T) {
	t.Helper()
	select {
	case c := <-x.eng.SeenC:
		if c.HardwareAddr.String() != x.clientMAC(t).String() {
			t.Fatalf("OnClientSeen for %v", c.HardwareAddr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server never reported the client")
	}
	time.Sleep(300 * time.Millisecond) // the client keeps asking, unanswered
	if st := x.srv.Stats(); st.Offers != 0 || st.Acks != 0 {
		t.Fatalf("answered before the PBA: %+v", st)
	}
	x.eng.SetLease(x.clientMAC(t), testLease())
	x.srv.LeaseReady(x.clientMAC(t))
	if st := x.srv.Stats(); st.Offers != 1 || st.Answered != 1 {
		t.Fatalf("LeaseReady did not answer the waiting DISCOVER: %+v", st)
	}
}

func (x *nsLink) clientMAC(t *testing.T) net.HardwareAddr {
	t.Helper()
	var hw net.HardwareAddr
	if err := x.client.Do(func() error {
		ifi, err := net.InterfaceByName("c0")
		if ifi != nil {
			hw = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return hw
}

// checkClientConfig checks the address and that the router and another
// on-link address resolve to the MAG's MAC.
func (x *nsLink) checkClientConfig(t *testing.T) {
	t.Helper()
	if out := x.client.Run(t, "ip", "-4", "-o", "addr", "show", "dev", "c0"); !strings.Contains(out, "inet "+homeAddr.String()+" ") {
		t.Errorf("client address: %s", out)
	}
	for _, target := range []string{router.String(), "10.20.0.99"} {
		_, _ = x.client.Output("ping", "-c", "1", "-W", "1", target) // resolves; nothing answers the echo
		if out := x.client.Run(t, "ip", "neigh", "show", target, "dev", "c0"); !strings.Contains(out, "lladdr "+routerMAC.String()) {
			t.Errorf("neighbour %s: %q, want lladdr %s", target, out, routerMAC)
		}
	}
}

func TestUdhcpc(t *testing.T) {
	x := setupNS(t, time.Hour)
	script := x.script(t, `#!/bin/sh
# busybox udhcpc event script: $1 is the event, the lease is in the environment.
case "$1" in
bound|renew)
	@IP@ addr replace "$ip/$mask" dev "$interface"
	echo "$1 ip=$ip mask=$mask router=$router lease=$lease serverid=$serverid" >> @LOG@ ;;
deconfig)
	@IP@ -4 addr flush dev "$interface"
	echo "deconfig" >> @LOG@ ;;
*)
	echo "$1 $message" >> @LOG@ ;;
esac
`)
	// -a: the client ARP-probes the offered address (RFC 5227); the
	// responder must stay silent or the client would DECLINE.
	cmd := x.start(t, "udhcpc", "-f", "-i", "c0", "-s", script, "-a", "-t", "20", "-T", "3",
		"-x", "hostname:pmiptest", "-p", filepath.Join(x.dir, "pid"))
	x.attachAfterLeaseReady(t)
	line := x.waitLog(t, "bound ", 10*time.Second)
	if want := "bound ip=10.20.0.17 mask=24 router=10.20.0.1 lease=3600 serverid=10.20.0.1"; line != want {
		t.Errorf("bound:\n got %q\nwant %q", line, want)
	}
	x.checkClientConfig(t)
	if d := x.eng.Declines(); len(d) != 0 {
		t.Errorf("client declined: %+v", d)
	}

	// Renew (SIGUSR1): a unicast DHCPREQUEST in RENEWING state to the
	// server identifier, which only arrives if ARP for it worked.
	acks := x.srv.Stats().Acks
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	x.waitLog(t, "renew ip=10.20.0.17", 10*time.Second)
	// udhcpc sends the unicast renewal from a socket bound to ciaddr:68
	// and connected to the server, closed right after sending; an ACK
	// that arrives within those microseconds (veth, same host) matches
	// that socket better than the listening one and is lost, and udhcpc
	// falls back to a broadcast REBINDING 3 s later. Either way it must
	// have been ACKed by us, RENEWING first.
	if st := x.srv.Stats(); st.Acks < acks+1 || st.Acks > acks+2 || st.Naks != 0 {
		t.Errorf("acks %d naks %d after renewal, want %d or %d acks", st.Acks, st.Naks, acks+1, acks+2)
	}

	// Release (SIGUSR2).
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	x.waitLog(t, "deconfig", 10*time.Second)
	waitUntil(t, func() bool { return len(x.eng.Releases()) == 1 })
	if r := x.eng.Releases()[0]; r.Addr != homeAddr.Addr() {
		t.Errorf("released %v", r.Addr)
	}
}

func TestDhclient(t *testing.T) {
	// A short lease so dhclient renews by itself at T1 (RFC 2131 4.4.5).
	x := setupNS(t, 4*time.Second)
	script := x.script(t, `#!/bin/sh
# ISC dhclient script: $reason is the event.
case "$reason" in
PREINIT)
	@IP@ link set dev "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
	@IP@ addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
	echo "$reason ip=$new_ip_address mask=$new_subnet_mask routers=$new_routers lease=$new_dhcp_lease_time sid=$new_dhcp_server_identifier" >> @LOG@ ;;
RELEASE|EXPIRE|FAIL|STOP)
	@IP@ -4 addr flush dev "$interface"
	echo "$reason" >> @LOG@ ;;
*)
	echo "$reason" >> @LOG@ ;;
esac
`)
	lf, pf := filepath.Join(x.dir, "leases"), filepath.Join(x.dir, "pid")
	x.start(t, "dhclient", "-d", "-v", "-sf", script, "-lf", lf, "-pf", pf, "c0")
	x.attachAfterLeaseReady(t)
	line := x.waitLog(t, "BOUND ", 10*time.Second)
	if want := "BOUND ip=10.20.0.17 mask=255.255.255.0 routers=10.20.0.1 lease=4 sid=10.20.0.1"; line != want {
		t.Errorf("bound:\n got %q\nwant %q", line, want)
	}
	x.checkClientConfig(t)
	x.waitLog(t, "RENEW ip=10.20.0.17", 10*time.Second)

	out, err := x.client.Output("dhclient", "-r", "-v", "-sf", script, "-lf", lf, "-pf", pf, "c0")
	if err != nil {
		t.Fatalf("dhclient -r: %v\n%s", err, out)
	}
	waitUntil(t, func() bool { return len(x.eng.Releases()) == 1 })
	if r := x.eng.Releases()[0]; r.Addr != homeAddr.Addr() {
		t.Errorf("released %v", r.Addr)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
