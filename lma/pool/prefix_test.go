package pool

import (
	"errors"
	"net/netip"
	"testing"
)

func mustPrefixPool(t testing.TB, agg string, bits int) *PrefixPool {
	t.Helper()
	p, err := NewPrefixPool(netip.MustParsePrefix(agg), bits)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewPrefixPoolErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		agg  netip.Prefix
		bits int
	}{
		{"zero prefix", netip.Prefix{}, 64},
		{"IPv4 aggregate", netip.MustParsePrefix("10.0.0.0/8"), 24},
		{"IPv4-mapped aggregate", netip.MustParsePrefix("::ffff:10.0.0.0/104"), 120},
		{"host bits set", netip.MustParsePrefix("2001:db8::1/40"), 64},
		{"home prefix shorter than aggregate", netip.MustParsePrefix("2001:db8::/48"), 40},
		{"home prefix beyond 128", netip.MustParsePrefix("2001:db8::/48"), 129},
		{"more than 2^32 prefixes", netip.MustParsePrefix("2001:db8::/31"), 64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := NewPrefixPool(tt.agg, tt.bits); err == nil {
				t.Fatalf("NewPrefixPool(%v, %d) = %v, want an error", tt.agg, tt.bits, p)
			}
		})
	}
	// The largest pool allowed: a /32 of /64s.
	p := mustPrefixPool(t, "2001:db8::/32", 64)
	if u := p.Usage(); u.Size != 1<<32 || u.Used != 0 {
		t.Fatalf("Usage() = %+v, want size 2^32, used 0", u)
	}
}

func TestPrefixPoolAllocateInOrderThenExhaust(t *testing.T) {
	p := mustPrefixPool(t, "2001:db8:0:fc::/62", 64)
	want := []string{"2001:db8:0:fc::/64", "2001:db8:0:fd::/64", "2001:db8:0:fe::/64", "2001:db8:0:ff::/64"}
	for _, w := range want {
		got, err := p.Allocate(netip.Prefix{})
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != w {
			t.Fatalf("Allocate = %v, want %v", got, w)
		}
	}
	if got, err := p.Allocate(netip.Prefix{}); !errors.Is(err, ErrNoAddrAvail) {
		t.Fatalf("Allocate on a full pool = %v, %v; want ErrNoAddrAvail", got, err)
	}
	if u := p.Usage(); u.Size != 4 || u.Used != 4 || u.Free() != 0 {
		t.Fatalf("Usage() = %+v", u)
	}
}

func TestPrefixPoolCarriesAcross64Bits(t *testing.T) {
	// Prefixes longer than /64 and an aggregate whose index carries from
	// the low 64 bits into the high ones.
	p := mustPrefixPool(t, "2001:db8:0:1:ffff:ffff:ffff:ff00/120", 124)
	var got []string
	for range 16 {
		pfx, err := p.Allocate(netip.Prefix{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pfx.String())
	}
	if got[0] != "2001:db8:0:1:ffff:ffff:ffff:ff00/124" || got[15] != "2001:db8:0:1:ffff:ffff:ffff:fff0/124" {
		t.Fatalf("first and last = %v, %v", got[0], got[15])
	}
	q := mustPrefixPool(t, "2001:db8::/32", 64)
	hint := netip.MustParsePrefix("2001:db8:ffff:ffff::/64")
	if pfx, err := q.Allocate(hint); err != nil || pfx != hint {
		t.Fatalf("Allocate(last /64 of a /32) = %v, %v", pfx, err)
	}
}

func TestPrefixPoolHint(t *testing.T) {
	p := mustPrefixPool(t, "2001:db8::/48", 64)
	hint := netip.MustParsePrefix("2001:db8:0:42::/64")

	// RFC 5213 5.3.2: a free requested prefix is granted.
	if got, err := p.Allocate(hint); err != nil || got != hint {
		t.Fatalf("Allocate(%v) = %v, %v", hint, got, err)
	}
	// In use: another one is handed out instead.
	if got, err := p.Allocate(hint); err != nil || got == hint {
		t.Fatalf("Allocate(%v) again = %v, %v; want another prefix", hint, got, err)
	}
	// ALL_ZERO, outside the pool, wrong length, host bits: no hint.
	for _, h := range []string{"::/64", "2001:db9::/64", "2001:db8:0:43::/56", "2001:db8:0:43::1/64"} {
		got, err := p.Allocate(netip.MustParsePrefix(h))
		if err != nil || !p.Contains(got) || got.String() == h {
			t.Fatalf("Allocate(%v) = %v, %v", h, got, err)
		}
	}
}

func TestPrefixPoolReserveFreeErrors(t *testing.T) {
	p := mustPrefixPool(t, "2001:db8::/48", 64)
	in := netip.MustParsePrefix("2001:db8:0:7::/64")
	for _, tt := range []struct {
		name string
		op   func(netip.Prefix) error
		arg  netip.Prefix
		want error
	}{
		{"free never allocated", p.Free, in, ErrDoubleFree},
		{"reserve", p.Reserve, in, nil},
		{"reserve twice", p.Reserve, in, ErrInUse},
		{"free", p.Free, in, nil},
		{"double free", p.Free, in, ErrDoubleFree},
		{"reserve outside", p.Reserve, netip.MustParsePrefix("2001:db9::/64"), ErrNotInPool},
		{"free outside", p.Free, netip.MustParsePrefix("2001:db9::/64"), ErrNotInPool},
		{"wrong length", p.Reserve, netip.MustParsePrefix("2001:db8::/56"), ErrNotInPool},
		{"host bits", p.Reserve, netip.MustParsePrefix("2001:db8::1/64"), ErrNotInPool},
		{"IPv4", p.Reserve, netip.MustParsePrefix("10.0.0.0/24"), ErrNotInPool},
		{"zero", p.Free, netip.Prefix{}, ErrNotInPool},
	} {
		if err := tt.op(tt.arg); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s(%v) = %v, want %v", tt.name, tt.arg, err, tt.want)
		}
	}
	if u := p.Usage(); u.Used != 0 {
		t.Fatalf("Usage().Used = %d after balanced reserve/free", u.Used)
	}
}

// TestPrefixPoolNextFit checks a freed prefix is not handed straight to the
// next mobile node but only after the rest of the pool went round.
func TestPrefixPoolNextFit(t *testing.T) {
	p := mustPrefixPool(t, "2001:db8::/60", 64) // 16 prefixes
	first, _ := p.Allocate(netip.Prefix{})
	if err := p.Free(first); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 16; i++ {
		got, err := p.Allocate(netip.Prefix{})
		if err != nil {
			t.Fatal(err)
		}
		if got == first {
			t.Fatalf("allocation %d reused the just-freed %v before the pool wrapped", i, first)
		}
	}
	if got, err := p.Allocate(netip.Prefix{}); err != nil || got != first {
		t.Fatalf("after wrapping Allocate = %v, %v; want %v", got, err, first)
	}
}
