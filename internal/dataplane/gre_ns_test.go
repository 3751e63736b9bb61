package dataplane_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestGRESourcesNS sends hand-made keyed GRE packets through the LMA's
// check of (outer source . key . inner source) before decapsulation. The
// host kernel has no GRE driver: a raw socket for protocol 47 in the LMA's
// namespace stands in for the flow-based device (it sees what passed the
// prerouting hook, where the check sits, exactly as the driver would):
//
//	ns mag                                       ns lma
//	veth0 2001:db8:ff::2, ::3, 192.0.2.2 ─────── veth0 2001:db8:ff::1, 192.0.2.1
//	                                             raw sockets ip6:47, ip4:47
//	filter: GRE peers 2001:db8:ff::2, 192.0.2.2
//	  ff::2 key 100: 2001:db8:1::/64, 10.1.0.5   ff::2 key 101: 2001:db8:3::/64
//	  ff::2 key 102: 2001:db8:4::/56
//	  192.0.2.2 key 200: 2001:db8:2::/64, 10.1.0.7
func TestGRESourcesNS(t *testing.T) {
	mag := nstest.New(t, "mag")
	lma := nstest.New(t, "lma")
	nstest.Veth(t, mag, "veth0", lma, "veth0")
	for _, a := range []string{"2001:db8:ff::2/64", "2001:db8:ff::3/64"} {
		mag.Run(t, "ip", "addr", "add", a, "dev", "veth0", "nodad")
	}
	mag.Run(t, "ip", "addr", "add", "192.0.2.2/24", "dev", "veth0")
	lma.Run(t, "ip", "addr", "add", "2001:db8:ff::1/64", "dev", "veth0", "nodad")
	lma.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "veth0")
	m6, m4 := addr("2001:db8:ff::2"), addr("192.0.2.2")
	state := &dataplane.State{Filter: &dataplane.Filter{
		GREPeers: []netip.Addr{m6, m4},
		GRESources: []dataplane.GRESource{
			{Peer: m6, Key: 100, Prefix: pfx("2001:db8:1::/64")},
			{Peer: m6, Key: 100, Prefix: pfx("10.1.0.5/32")},
			{Peer: m6, Key: 101, Prefix: pfx("2001:db8:3::/64")},
			{Peer: m6, Key: 102, Prefix: pfx("2001:db8:4::/56")}, // not a /64: the interval set
			{Peer: m4, Key: 200, Prefix: pfx("2001:db8:2::/64")},
			{Peer: m4, Key: 200, Prefix: pfx("10.1.0.7/32")},
		},
	}}
	r, _, nk := open(t, lma)
	ctx := context.Background()
	if err := r.Set(ctx, state); err != nil {
		t.Fatal(err)
	}
	// The dump reads back what was set.
	var got *dataplane.State
	if err := lma.Do(func() (err error) { got, err = nk.Dump(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if got.String() != state.String() {
		t.Fatalf("dump:\n%s\nwant:\n%s", got, state)
	}

	var l6, l4 net.PacketConn
	if err := lma.Do(func() (err error) {
		if l6, err = net.ListenPacket("ip6:47", "2001:db8:ff::1"); err != nil {
			return err
		}
		l4, err = net.ListenPacket("ip4:47", "192.0.2.1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	defer l4.Close()

	type pkt struct {
		from  string // outer source
		flags uint16 // GRE flags and version
		key   uint32
		inner string // inner source
	}
	nonce := 0
	// arrives sends the packet (a few times for an expected one: the
	// first waits for neighbour discovery) and reports whether the LMA's
	// raw socket got it.
	arrives := func(t *testing.T, p pkt, tries int) bool {
		t.Helper()
		outer, inner := netip.MustParseAddr(p.from), netip.MustParseAddr(p.inner)
		l, to := l6, "2001:db8:ff::1"
		if outer.Is4() {
			l, to = l4, "192.0.2.1"
		}
		for range tries {
			nonce++
			tag := fmt.Appendf(nil, "gre-check-%d", nonce)
			b := greFrame(p.flags, p.key, inner, tag)
			if err := mag.Do(func() error {
				network := "ip6:47"
				if outer.Is4() {
					network = "ip4:47"
				}
				c, err := net.ListenPacket(network, outer.String())
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(to)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			deadline := time.Now().Add(800 * time.Millisecond)
			for {
				l.SetReadDeadline(deadline)
				n, _, err := l.ReadFrom(buf)
				if err != nil {
					break
				}
				if bytes.Contains(buf[:n], tag) {
					return true
				}
			}
		}
		return false
	}
	const k = 0x2000
	// Before the check every packet arrives: the check alone makes the
	// differences below.
	if err := r.Set(ctx, &dataplane.State{Filter: &dataplane.Filter{}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []pkt{{"2001:db8:ff::2", k, 101, "2001:db8:1::10"}, {"192.0.2.2", k, 100, "2001:db8:1::10"}, {"2001:db8:ff::2", 0, 0, "10.1.0.7"}} {
		if !arrives(t, p, 4) {
			t.Fatalf("%+v did not arrive without the check", p)
		}
	}
	if err := r.Set(ctx, state); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    pkt
		pass bool
	}{
		{"IPv6 in GRE over IPv6, its key and prefix", pkt{"2001:db8:ff::2", k, 100, "2001:db8:1::10"}, true},
		{"IPv4 in GRE over IPv6, its key and address", pkt{"2001:db8:ff::2", k, 100, "10.1.0.5"}, true},
		{"the MAG's other session, its own key", pkt{"2001:db8:ff::2", k, 101, "2001:db8:3::10"}, true},
		{"another session's key from the same MAG", pkt{"2001:db8:ff::2", k, 101, "2001:db8:1::10"}, false},
		{"a key that is no session's", pkt{"2001:db8:ff::2", k, 999, "2001:db8:1::10"}, false},
		{"a /56 home prefix with its key", pkt{"2001:db8:ff::2", k, 102, "2001:db8:4:7::1"}, true},
		{"a /56 home prefix with another key", pkt{"2001:db8:ff::2", k, 100, "2001:db8:4:7::1"}, false},
		{"next to the /56, its key", pkt{"2001:db8:ff::2", k, 102, "2001:db8:4:100::1"}, false},
		{"another MAG's client behind a right key", pkt{"2001:db8:ff::2", k, 100, "10.1.0.7"}, false},
		{"IPv6 in GRE over IPv4, its key and prefix", pkt{"192.0.2.2", k, 200, "2001:db8:2::10"}, true},
		{"IPv4 in GRE over IPv4, its key and address", pkt{"192.0.2.2", k, 200, "10.1.0.7"}, true},
		{"the IPv6 MAG's key and prefix from the IPv4 MAG", pkt{"192.0.2.2", k, 100, "2001:db8:1::10"}, false},
		{"checksum present (only the key is accepted)", pkt{"2001:db8:ff::2", k | 0x8000, 100, "2001:db8:1::10"}, false},
		{"no key", pkt{"2001:db8:ff::2", 0, 0, "2001:db8:1::10"}, false},
		{"inner link-local (never forwarded)", pkt{"2001:db8:ff::2", k, 7, "fe80::1"}, true},
		{"GRE from an address that is no GRE peer is not checked", pkt{"2001:db8:ff::3", k, 5, "2001:db8:9::1"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tries := 1
			if tt.pass {
				tries = 4
			}
			if got := arrives(t, tt.p, tries); got != tt.pass {
				t.Errorf("%+v: arrived %v, want %v", tt.p, got, tt.pass)
			}
		})
	}
	// A session that goes takes its triple with it.
	if err := r.Change(ctx, dataplane.Op{Action: dataplane.Del, Obj: state.Filter.GRESources[0]}); err != nil {
		t.Fatal(err)
	}
	if arrives(t, pkt{"2001:db8:ff::2", k, 100, "2001:db8:1::10"}, 1) {
		t.Error("arrived after its session's triple was removed")
	}
}

// greFrame is a GRE header (RFC 2784, RFC 2890) with flags, a key when the
// K bit is set and a 4-byte zero checksum field when C is, then an inner
// IPv6 or IPv4 header from src carrying payload.
func greFrame(flags uint16, key uint32, src netip.Addr, payload []byte) []byte {
	proto := uint16(0x86dd)
	if src.Is4() {
		proto = 0x0800
	}
	b := binary.BigEndian.AppendUint16(nil, flags)
	b = binary.BigEndian.AppendUint16(b, proto)
	if flags&0x8000 != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	if flags&0x2000 != 0 {
		b = binary.BigEndian.AppendUint32(b, key)
	}
	if src.Is6() {
		h := make([]byte, 40)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		h[6], h[7] = 59, 64 // no next header
		copy(h[8:24], src.AsSlice())
		copy(h[24:40], netip.MustParseAddr("2001:db8:cc::1").AsSlice())
		return append(append(b, h...), payload...)
	}
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	h[8], h[9] = 64, 253 // experimental protocol
	copy(h[12:16], src.AsSlice())
	copy(h[16:20], netip.MustParseAddr("198.51.100.1").AsSlice())
	return append(append(b, h...), payload...)
}
