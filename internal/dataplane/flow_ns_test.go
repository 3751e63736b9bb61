package dataplane_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestFlowMarks proves the flow map with real packets: a packet that
// matches a traffic selector takes the mark's routing table, every other
// packet the main table, and moving a flow (RFC 7864) is one map element.
// veths stand in for the two MAG tunnels of a multi-homed client:
//
//	ns cn                        ns lma                          ns maga
//	cn0 2001:db8:cc::2 ──── cn0 2001:db8:cc::1    ta 2001:db8:a::1 ──── ta 2001:db8:a::2
//	    198.51.100.2            198.51.100.1          192.0.2.1              192.0.2.2
//	                            table 100: client via maga         lo 2001:db8:1::10, 10.1.0.5
//	                            table 101: client via magb       ns magb
//	                            main:      client via magb  tb ──── tb (2001:db8:b::2, 192.0.2.6)
//	                            fwmark 0x10 -> 100, 0x11 -> 101     lo 2001:db8:1::10, 10.1.0.5
//
// Selected: UDP to port 5001 of the client's IPv6 address, and all IPv4
// traffic from 198.51.100.0/24 to its IPv4 address.
func TestFlowMarks(t *testing.T) {
	cn := nstest.New(t, "cn")
	lma := nstest.New(t, "lma")
	maga := nstest.New(t, "maga")
	magb := nstest.New(t, "magb")
	nstest.Veth(t, cn, "cn0", lma, "cn0")
	nstest.Veth(t, lma, "ta", maga, "ta")
	nstest.Veth(t, lma, "tb", magb, "tb")
	cn.Run(t, "ip", "addr", "add", "2001:db8:cc::2/64", "dev", "cn0", "nodad")
	cn.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "cn0")
	cn.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:cc::1")
	cn.Run(t, "ip", "route", "add", "default", "via", "198.51.100.1")
	for _, m := range []struct {
		ns       *nstest.NS
		dev      string
		a6, a4   string
		gw6, gw4 string
	}{
		{maga, "ta", "2001:db8:a::2/64", "192.0.2.2/30", "2001:db8:a::1", "192.0.2.1"},
		{magb, "tb", "2001:db8:b::2/64", "192.0.2.6/30", "2001:db8:b::1", "192.0.2.5"},
	} {
		m.ns.Run(t, "ip", "addr", "add", m.a6, "dev", m.dev, "nodad")
		m.ns.Run(t, "ip", "addr", "add", m.a4, "dev", m.dev)
		m.ns.Run(t, "ip", "addr", "add", "2001:db8:1::10/128", "dev", "lo", "nodad")
		m.ns.Run(t, "ip", "addr", "add", "10.1.0.5/32", "dev", "lo")
		m.ns.Run(t, "ip", "-6", "route", "add", "default", "via", m.gw6)
		m.ns.Run(t, "ip", "route", "add", "default", "via", m.gw4)
	}
	client6, client4 := pfx("2001:db8:1::/64"), pfx("10.1.0.5/32")
	flow6 := dataplane.Flow{Src: pfx("::/0"), Dst: client6, Proto: 17, DstPortFrom: 5001, DstPortTo: 5001, Mark: 0x10}
	flow4 := dataplane.Flow{Src: pfx("198.51.100.0/24"), Dst: client4, Mark: 0x10}
	state := func(flows ...dataplane.Flow) *dataplane.State {
		s := &dataplane.State{
			Sysctls: append(dataplane.ForwardingSysctls(),
				dataplane.Sysctl{Family: 4, Dev: "all", Name: "rp_filter", Value: 0}),
			Addresses: []dataplane.Address{
				{Dev: "cn0", Prefix: pfx("2001:db8:cc::1/64"), NoDAD: true},
				{Dev: "cn0", Prefix: pfx("198.51.100.1/24")},
				{Dev: "ta", Prefix: pfx("2001:db8:a::1/64"), NoDAD: true},
				{Dev: "ta", Prefix: pfx("192.0.2.1/30")},
				{Dev: "tb", Prefix: pfx("2001:db8:b::1/64"), NoDAD: true},
				{Dev: "tb", Prefix: pfx("192.0.2.5/30")},
			},
			Rules: []dataplane.Rule{
				{Priority: 100, Src: pfx("::/0"), Mark: 0x10, Mask: 0xff, Table: 100},
				{Priority: 100, Src: pfx("0.0.0.0/0"), Mark: 0x10, Mask: 0xff, Table: 100},
				{Priority: 101, Src: pfx("::/0"), Mark: 0x11, Mask: 0xff, Table: 101},
				{Priority: 101, Src: pfx("0.0.0.0/0"), Mark: 0x11, Mask: 0xff, Table: 101},
			},
			Filter: &dataplane.Filter{Flows: flows},
		}
		for _, r := range []struct {
			table   uint32
			dev, gw string
		}{{100, "ta", "a"}, {101, "tb", "b"}, {0, "tb", "b"}} {
			s.Routes = append(s.Routes,
				dataplane.Route{Table: r.table, Dst: client6, Dev: r.dev, Gateway: addr("2001:db8:" + r.gw + "::2")},
				dataplane.Route{Table: r.table, Dst: client4, Dev: r.dev, Gateway: addr(map[string]string{"a": "192.0.2.2", "b": "192.0.2.6"}[r.gw])})
		}
		return s
	}

	// A listener on each MAG for each port and family.
	type key struct {
		mag  string
		dst  string
		port int
	}
	conns := map[key]*net.UDPConn{}
	for name, ns := range map[string]*nstest.NS{"a": maga, "b": magb} {
		for _, dst := range []string{"2001:db8:1::10", "10.1.0.5"} {
			for _, port := range []int{5001, 5002} {
				if err := ns.Do(func() error {
					c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(dst), Port: port})
					conns[key{name, dst, port}] = c
					return err
				}); err != nil {
					t.Fatal(err)
				}
				defer conns[key{name, dst, port}].Close()
			}
		}
	}
	// via sends one datagram from the correspondent and says which MAG it
	// reached ("" for none), trying again while neighbour discovery
	// settles. A try waits up to 2 s for the datagram (a loaded host can
	// be slow; this only bounds a failure); once one MAG has it, the
	// other is given 300 ms more to show a copy that went both ways.
	n := 0
	via := func(t *testing.T, dst string, port int) string {
		t.Helper()
		for range 5 {
			n++
			msg := fmt.Sprint(n)
			if err := cn.Do(func() error {
				c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: port})
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Write([]byte(msg))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			got := make(chan string, 2)
			deadline := time.Now().Add(2 * time.Second)
			for _, mag := range []string{"a", "b"} {
				c := conns[key{mag, dst, port}]
				c.SetReadDeadline(deadline) // here, not in the reader: see below
				go func() {
					buf := make([]byte, 32)
					for {
						k, _, err := c.ReadFrom(buf)
						if err != nil {
							got <- ""
							return
						}
						if string(buf[:k]) == msg {
							got <- mag
							return
						}
					}
				}()
			}
			a := <-got
			if other := map[string]string{"a": "b", "b": "a"}[a]; other != "" {
				conns[key{other, dst, port}].SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			}
			b := <-got
			if a+b != "" {
				return a + b
			}
		}
		return ""
	}
	check := func(t *testing.T, want map[string]string) {
		t.Helper()
		got := map[string]string{
			"udp6/5001": via(t, "2001:db8:1::10", 5001),
			"udp6/5002": via(t, "2001:db8:1::10", 5002),
			"udp4/5001": via(t, "10.1.0.5", 5001),
			"udp4/5002": via(t, "10.1.0.5", 5002),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("MAG each flow reached (-want +got):\n%s", diff)
		}
	}

	ctx := context.Background()
	r, c, _ := open(t, lma)
	t.Run("no flows", func(t *testing.T) {
		if err := r.Set(ctx, state()); err != nil {
			t.Fatal(err)
		}
		check(t, map[string]string{"udp6/5001": "b", "udp6/5002": "b", "udp4/5001": "b", "udp4/5002": "b"})
	})
	t.Run("selected flows take table 100", func(t *testing.T) {
		c.take()
		if err := r.Set(ctx, state(flow6, flow4)); err != nil {
			t.Fatal(err)
		}
		if ops := c.take(); len(ops) != 2 {
			t.Errorf("ops %q", ops)
		}
		check(t, map[string]string{"udp6/5001": "a", "udp6/5002": "b", "udp4/5001": "a", "udp4/5002": "a"})
	})
	t.Run("moving a flow is one element", func(t *testing.T) {
		moved := flow6
		moved.Mark = 0x11
		if err := r.Change(ctx,
			dataplane.Op{Action: dataplane.Del, Obj: flow6},
			dataplane.Op{Action: dataplane.Add, Obj: moved}); err != nil {
			t.Fatal(err)
		}
		check(t, map[string]string{"udp6/5001": "b", "udp6/5002": "b", "udp4/5001": "a", "udp4/5002": "a"})
	})
}
