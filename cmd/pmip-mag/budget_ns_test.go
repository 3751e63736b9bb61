package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

// budgetClients is issue 4's load: 64 clients attached and registered.
const budgetClients = 64

// TestBudgets measures issue 4's budgets on the real process in the
// domain of domain_ns_test.go, with 64 clients emulated from the client
// namespace (frames with their own MACs on c0) and hostapd events sent to
// the hook socket:
//
//   - attach to PBU: from writing the trigger (hostapd event for half the
//     clients, DHCPDISCOVER on the wire for the other half) to the PBU's
//     arrival at the LMA, one client at a time;
//   - PBA to served: the LMA holds each PBA until the client's
//     DHCPDISCOVER and RS wait at the MAG, then sends it; from its
//     departure to the arrival at the client of the RA with the home
//     network prefix and of the DHCPOFFER with the home address, one
//     client at a time. A trigger's and a PBA's departure are read in
//     user space before and after the send; arrivals (the PBU at the
//     LMA, the RA and DHCPOFFER at the client) are the kernel's receive
//     stamps (SO_TIMESTAMPNS), so the test's own wake-up is not counted
//     (pba_to_served_read is the same figure read in user space, as all
//     of them were before 2026-11-23);
//   - VmHWM of the daemon once all 64 are served; then SIGTERM and the
//     time until the 64 deregistrations are acknowledged and it exited.
//
// It prints "BENCH name value unit" lines for scripts/bench-mag.sh and
// fails only if the MAG does not register and serve every client; the
// figures are for the script to judge.
func TestBudgets(t *testing.T) {
	if os.Getenv("PMIP_BENCH") == "" {
		t.Skip("a measurement, not a test: scripts/bench-mag.sh runs it with PMIP_BENCH=1")
	}
	// identity_wait 0: the DHCP half of the clients measures the DHCP
	// trigger's own path, not the wait for a hostapd event these
	// emulated clients never get (mag/identity.go).
	d := newDomain(t, "\toption initial_bindack_timeout_first_reg '10000'\n\toption identity_wait '0'\n")
	// The emulated clients are frames; the client namespace's own stack
	// stays silent so that it is not a 65th client.
	writeSysctl(t, d.client, "net.ipv6.conf.c0.disable_ipv6", "1")
	d.client.Run(t, "ip", "link", "set", "c0", "up")
	d.start(t, "-log-level", "info")
	time.Sleep(200 * time.Millisecond)
	idleHWM := procStatus(t, d.pid(), "VmHWM")
	if f := os.Getenv("PMIP_BENCH_SMAPS"); f != "" {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", d.pid()))
		os.WriteFile(f, b, 0o644)
	}
	d.peer.mu.Lock()
	d.peer.hold = true
	d.peer.mu.Unlock()

	cap := startCapture(t, d)
	macs := make([]net.HardwareAddr, budgetClients)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0x42, 0, 0, byte(i >> 8), byte(i)}
	}

	// One client at a time, spaced so that one client's work (logging,
	// data plane, filter reload) is over before the next is measured.
	// (The access side would take all 64 at once: sniff and dhcpserver
	// admit a burst of 64, then queue at 20/s; mag's
	// TestSimultaneousArrivals.)
	pace := time.NewTicker(time.Second / 16)
	defer pace.Stop()

	// Attach to PBU, one client at a time.
	var attach []time.Duration
	for i, mac := range macs {
		s := mac.String()
		<-pace.C
		t0 := time.Now()
		if i%2 == 0 {
			err := hostapd.Send(d.socket, hostapd.Event{Kind: hostapd.Connected, Interface: "phy0-ap0", MAC: mac, Source: hostapd.SourceAction})
			if err != nil {
				t.Fatal(err)
			}
		} else {
			cap.send(t, l2test.DHCP(mac, l2test.DHCPDiscover, nil))
		}
		d.peer.waitFor(t, "PBU of "+s, 5*time.Second, func() bool { return d.peer.countLocked(s, false) > 0 })
		at, _ := d.peer.firstPBU(s)
		attach = append(attach, at.Sub(t0))
	}

	// Every client now asks for its addresses; the PBAs are held.
	for i, mac := range macs {
		<-pace.C
		if i%2 == 0 {
			cap.send(t, l2test.DHCP(mac, l2test.DHCPDiscover, nil))
		}
		cap.send(t, l2test.RS(mac, linkLocalOf(mac)))
	}
	time.Sleep(100 * time.Millisecond)

	// PBA to served, one client at a time.
	var toRA, toOffer, served, servedRead []time.Duration
	for _, mac := range macs {
		s := mac.String()
		t1, err := d.peer.release(t, s)
		if err != nil {
			t.Fatal(err)
		}
		ra, offer := cap.wait(t, s, 2*time.Second)
		read := cap.read(s)
		toRA = append(toRA, ra.Sub(t1))
		toOffer = append(toOffer, offer.Sub(t1))
		served = append(served, max(ra.Sub(t1), offer.Sub(t1)))
		servedRead = append(servedRead, read.Sub(t1))
	}
	time.Sleep(200 * time.Millisecond) // let the last data plane changes land
	hwm := procStatus(t, d.pid(), "VmHWM")
	rss := procStatus(t, d.pid(), "VmRSS")
	anon := procStatus(t, d.pid(), "RssAnon")
	file := procStatus(t, d.pid(), "RssFile")
	threads := procStatus(t, d.pid(), "Threads")
	text, rodata := binaryRSS(t, d.pid(), d.bin)
	if f := os.Getenv("PMIP_BENCH_SMAPS"); f != "" {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", d.pid()))
		os.WriteFile(f+".64", b, 0o644)
	}

	d.peer.mu.Lock()
	for _, mac := range macs {
		if n := d.peer.countLocked(mac.String(), false); n != 1 {
			t.Errorf("%s: %d registration PBUs, want 1", mac, n)
		}
	}
	d.peer.mu.Unlock()

	took := d.stop(t)
	d.peer.mu.Lock()
	deregs := 0
	for _, mac := range macs {
		deregs += d.peer.countLocked(mac.String(), true)
	}
	d.peer.mu.Unlock()
	if deregs != budgetClients {
		t.Errorf("%d deregistrations after SIGTERM, want %d", deregs, budgetClients)
	}

	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		p := func(q float64) float64 {
			return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
		}
		fmt.Printf("BENCH %s_p50 %.3f ms\nBENCH %s_p99 %.3f ms\nBENCH %s_max %.3f ms\n", name, p(0.5), name, p(0.99), name, p(1))
	}
	report("attach_to_pbu", attach)
	report("pba_to_ra", toRA)
	report("pba_to_dhcpoffer", toOffer)
	report("pba_to_served", served)
	report("pba_to_served_read", servedRead)
	fmt.Printf("BENCH vmhwm_idle %d kB\nBENCH vmhwm_64_clients %d kB\nBENCH vmrss_64_clients %d kB\n", idleHWM, hwm, rss)
	fmt.Printf("BENCH rss_anon_64_clients %d kB\nBENCH rss_file_64_clients %d kB\n", anon, file)
	fmt.Printf("BENCH rss_text_64_clients %d kB\nBENCH rss_rodata_64_clients %d kB\n", text, rodata)
	fmt.Printf("BENCH threads_64_clients %d threads\n", threads)
	if fi, err := os.Stat(d.bin); err == nil {
		fmt.Printf("BENCH binary_amd64_stripped %d B\n", fi.Size())
	}
	fmt.Printf("BENCH sigterm_64_deregistered_exit %.1f ms\n", float64(took.Microseconds())/1000)
}

// linkLocalOf is the EUI-64 link-local address of mac (RFC 4291 2.5.1).
func linkLocalOf(mac net.HardwareAddr) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}

// capture is the emulated clients' side of c0: it sends their frames and
// notes when the first RA and the first DHCPOFFER reached each of them.
type capture struct {
	conn *packet.Conn

	mu sync.Mutex
	// ra and offer: the kernel's receive stamp of each client's first RA
	// and DHCPOFFER on c0 (SO_TIMESTAMPNS), the time the frame reached
	// the client; raRead and offerRead: when this test read it, which
	// adds its own wake-up (the figures before 2026-11-23).
	ra, raRead       map[string]time.Time
	offer, offerRead map[string]time.Time
	changed          chan struct{}
}

func startCapture(t testing.TB, d *domain) *capture {
	t.Helper()
	c := &capture{
		ra: map[string]time.Time{}, raRead: map[string]time.Time{},
		offer: map[string]time.Time{}, offerRead: map[string]time.Time{},
		changed: make(chan struct{}),
	}
	if err := d.client.Do(func() error {
		ifi, err := net.InterfaceByName("c0")
		if err != nil {
			return err
		}
		c.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rc, err := c.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_TIMESTAMPNS_NEW on the capture socket: %v %v", err, serr)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		oob := make([]byte, unix.CmsgSpace(16))
		for {
			var n, oobn int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
				return rerr != unix.EAGAIN
			})
			if err != nil || rerr != nil {
				return // closed
			}
			read := time.Now()
			at := kernelStamp(oob[:oobn])
			if at.IsZero() {
				at = read
			}
			c.note(buf[:n], at, read)
		}
	}()
	t.Cleanup(func() { c.conn.Close(); <-done })
	return c
}

func (c *capture) send(t testing.TB, frame []byte) {
	t.Helper()
	if _, err := c.conn.WriteTo(frame, &packet.Addr{HardwareAddr: frame[:6]}); err != nil {
		t.Fatal(err)
	}
}

// note records an RA (ICMPv6 type 134 right after the IPv6 header) or a
// DHCPOFFER (UDP to port 68, option 53 = 2) sent to a unicast MAC.
func (c *capture) note(f []byte, at, read time.Time) {
	if len(f) < 14 || f[0]&1 != 0 {
		return
	}
	dst := net.HardwareAddr(f[:6]).String()
	var ra, offer bool
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x86dd:
		ra = len(f) > 54 && f[20] == 58 && f[54] == 134
	case 0x0800:
		if len(f) < 34 || f[23] != 17 {
			return
		}
		udp := 14 + int(f[14]&0x0f)*4
		if len(f) < udp+8+240 || binary.BigEndian.Uint16(f[udp+2:]) != 68 {
			return
		}
		opts := f[udp+8+240:]
		for len(opts) >= 2 && opts[0] != 255 {
			if opts[0] == 0 {
				opts = opts[1:]
				continue
			}
			if opts[0] == 53 && opts[1] == 1 && len(opts) >= 3 {
				offer = opts[2] == 2
				break
			}
			if len(opts) < 2+int(opts[1]) {
				break
			}
			opts = opts[2+int(opts[1]):]
		}
	}
	if !ra && !offer {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, mr := c.offer, c.offerRead
	if ra {
		m, mr = c.ra, c.raRead
	}
	if m[dst].IsZero() {
		m[dst], mr[dst] = at, read
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// wait returns when mac received its first RA and DHCPOFFER: their
// kernel receive stamps.
func (c *capture) wait(t testing.TB, mac string, timeout time.Duration) (ra, offer time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		ra, offer = c.ra[mac], c.offer[mac]
		ch := c.changed
		c.mu.Unlock()
		if !ra.IsZero() && !offer.IsZero() {
			return ra, offer
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s not served within %v: RA at %v, DHCPOFFER at %v", mac, timeout, ra, offer)
		}
	}
}

// binaryRSS sums the resident kB of the daemon binary's executable and
// read-only mappings in /proc/PID/smaps: its code, and its read-only data
// with the tables the runtime reads (pclntab, type data). The kernel maps
// file pages around each fault (fault-around, large folios), so these
// follow the binary's size more than the code the daemon runs.
func binaryRSS(t testing.TB, pid int, bin string) (text, rodata int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var cur *int
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 6 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			cur = nil
			if f[5] == bin {
				switch f[1] {
				case "r-xp":
					cur = &text
				case "r--p":
					cur = &rodata
				}
			}
		case len(f) == 5 && strings.Contains(f[0], "-"):
			cur = nil // an anonymous mapping
		case cur != nil && len(f) == 3 && f[0] == "Rss:":
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("smaps: %q", l)
			}
			*cur += n
		}
	}
	return text, rodata
}

// read is when this test read the later of mac's first RA and DHCPOFFER.
func (c *capture) read(mac string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maxTime(c.raRead[mac], c.offerRead[mac])
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// kernelStamp is the SCM_TIMESTAMPNS_NEW receive stamp in a message's
// control data (cmsg(3)), zero if there is none.
func kernelStamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS_NEW && len(m.Data) >= 16 {
			// struct __kernel_timespec: two 64-bit fields.
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Time{}
}
