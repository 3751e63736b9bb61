package pool

import (
	"errors"
	"net/netip"
	"testing"
)

func TestNewIPv4PoolErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		subnet string
		router string
	}{
		{"IPv6", "2001:db8::/64", ""},
		{"host bits", "10.0.0.1/24", ""},
		{"/31 too small", "10.0.0.0/31", ""},
		{"/32 too small", "10.0.0.1/32", ""},
		{"router outside", "10.0.0.0/24", "10.0.1.1"},
		{"router is network", "10.0.0.0/24", "10.0.0.0"},
		{"router is broadcast", "10.0.0.0/24", "10.0.0.255"},
		{"router IPv6", "10.0.0.0/24", "::1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r netip.Addr
			if tt.router != "" {
				r = netip.MustParseAddr(tt.router)
			}
			if p, err := NewIPv4Pool(netip.MustParsePrefix(tt.subnet), r); err == nil {
				t.Fatalf("NewIPv4Pool = %v, want an error", p)
			}
		})
	}
}

func TestIPv4PoolKeepsBackNetworkBroadcastRouter(t *testing.T) {
	p, err := NewIPv4Pool(netip.MustParsePrefix("192.0.2.0/29"), netip.MustParseAddr("192.0.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultRouter() != netip.MustParseAddr("192.0.2.3") {
		t.Fatalf("DefaultRouter() = %v", p.DefaultRouter())
	}
	if u := p.Usage(); u.Size != 5 || u.Used != 0 {
		t.Fatalf("Usage() = %+v, want size 5 used 0", u)
	}
	var got []string
	for {
		a, err := p.Allocate(netip.Prefix{})
		if errors.Is(err, ErrNoAddrAvail) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	want := []string{"192.0.2.1/29", "192.0.2.2/29", "192.0.2.4/29", "192.0.2.5/29", "192.0.2.6/29"}
	if len(got) != len(want) {
		t.Fatalf("allocated %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	}
	for _, a := range []string{"192.0.2.0/32", "192.0.2.7/32", "192.0.2.3/32"} {
		if err := p.Free(netip.MustParsePrefix(a)); !errors.Is(err, ErrNotInPool) {
			t.Errorf("Free(%v) = %v, want ErrNotInPool", a, err)
		}
		if p.Contains(netip.MustParsePrefix(a)) {
			t.Errorf("Contains(%v) = true", a)
		}
	}
}

func TestIPv4PoolDefaultRouterIsFirstHost(t *testing.T) {
	p, err := NewIPv4Pool(netip.MustParsePrefix("10.1.0.0/16"), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultRouter() != netip.MustParseAddr("10.1.0.1") {
		t.Fatalf("DefaultRouter() = %v", p.DefaultRouter())
	}
	if a, err := p.Allocate(netip.Prefix{}); err != nil || a != netip.MustParsePrefix("10.1.0.2/16") {
		t.Fatalf("first Allocate = %v, %v; want 10.1.0.2/16", a, err)
	}
	if u := p.Usage(); u.Size != 65536-3 || u.Used != 1 {
		t.Fatalf("Usage() = %+v", u)
	}
}

func TestIPv4PoolHintReserveFree(t *testing.T) {
	p, err := NewIPv4Pool(netip.MustParsePrefix("10.1.0.0/16"), netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 5844 3.3.1: a requested address is granted when free, in
	// either form.
	if a, err := p.Allocate(netip.MustParsePrefix("10.1.200.9/32")); err != nil || a != netip.MustParsePrefix("10.1.200.9/16") {
		t.Fatalf("Allocate(hint /32) = %v, %v", a, err)
	}
	if a, err := p.Allocate(netip.MustParsePrefix("10.1.200.9/16")); err != nil || a.Addr() == netip.MustParseAddr("10.1.200.9") {
		t.Fatalf("Allocate(hint in use) = %v, %v; want another address", a, err)
	}
	// 0.0.0.0 asks for any; the default router is never granted.
	for _, h := range []string{"0.0.0.0/32", "10.1.0.1/32", "10.2.0.5/32"} {
		if a, err := p.Allocate(netip.MustParsePrefix(h)); err != nil || a.Addr() == netip.MustParsePrefix(h).Addr() {
			t.Fatalf("Allocate(%v) = %v, %v", h, a, err)
		}
	}
	hoa := netip.MustParsePrefix("10.1.3.3/32")
	if err := p.Reserve(hoa); err != nil {
		t.Fatal(err)
	}
	if err := p.Reserve(hoa); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Reserve = %v, want ErrInUse", err)
	}
	if err := p.Reserve(netip.MustParsePrefix("10.1.3.4/24")); !errors.Is(err, ErrNotInPool) {
		t.Fatalf("Reserve with a foreign length = %v, want ErrNotInPool", err)
	}
	if err := p.Free(hoa); err != nil {
		t.Fatal(err)
	}
	if err := p.Free(hoa); !errors.Is(err, ErrDoubleFree) {
		t.Fatalf("double Free = %v, want ErrDoubleFree", err)
	}
}
