package lmaconfig

import (
	"errors"
	"os"
	"testing"

	"github.com/openpmip/pmip/internal/uci"
)

// FuzzParse: any file gives a Config or errors that are all *uci.Error,
// never a panic; in an accepted Config every policy's pools exist with the
// right family and no two pools overlap.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("../../docs/lma.conf.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("config lma m\noption address 2001:db8::1\nconfig pool p\noption subnet 10.0.0.0/30\noption default_router 10.0.0.1\nconfig policy x\noption match *\noption ipv4_pool p\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			for _, e := range unjoin(err) {
				var ue *uci.Error
				if !errors.As(e, &ue) {
					t.Fatalf("error %q is %T, not *uci.Error", e, e)
				}
			}
			return
		}
		if !c.Address.Is6() {
			t.Fatalf("LMA address %v", c.Address)
		}
		for i, p := range c.Pools {
			for _, q := range c.Pools[i+1:] {
				if p.Prefix.Overlaps(q.Prefix) {
					t.Fatalf("pools %s and %s overlap", p.Name, q.Name)
				}
			}
			_ = p.Size()
		}
		for _, p := range c.Policies {
			if p.PrefixPool != "" {
				if pool, ok := c.PoolByName(p.PrefixPool); !ok || pool.Family != PoolIPv6 {
					t.Fatalf("policy %s: prefix pool %q", p.Name, p.PrefixPool)
				}
			}
			if p.IPv4 == IPv4Pool {
				if pool, ok := c.PoolByName(p.IPv4Pool); !ok || pool.Family != PoolIPv4 {
					t.Fatalf("policy %s: IPv4 pool %q", p.Name, p.IPv4Pool)
				}
			}
			if !p.IPv6() && p.IPv4 == IPv4None {
				t.Fatalf("policy %s assigns nothing", p.Name)
			}
			c.Lookup(MNIDNAI, []byte(p.Match))
		}
	})
}
