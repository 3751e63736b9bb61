package lma

import (
	"testing"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma/lmaconfig"
)

// The policy index answers as lmaconfig's Lookup does: exact identifier
// (NAI or MAC address), then the NAI's realm case-insensitively (RFC 7542
// 2.4), then "*".
func TestPolicyIndex(t *testing.T) {
	cfg := testCfg(t, true, `
config policy 'mac'
	option match '02:00:00:00:00:09'
	option prefix_pool 'hnp'

config policy 'any'
	option match '*'
	option prefix_pool 'hnp'
`)
	ix := newPolicyIndex(&cfg)
	for _, tt := range []struct {
		k    mnKey
		want string
	}{
		{mnKey{mh.MNIDNAI, "printer@example.net"}, "printer"},
		{mnKey{mh.MNIDNAI, "alice@example.net"}, "staff"},
		{mnKey{mh.MNIDNAI, "alice@EXAMPLE.Net"}, "staff"},
		{mnKey{mh.MNIDNAI, "bob@v6.example.net"}, "v6only"},
		{mnKey{mh.MNIDNAI, "bob@other.example"}, "any"},
		{mnKey{mh.MNIDEUI48, "\x02\x00\x00\x00\x00\x09"}, "mac"},
		{mnKey{mh.MNIDEUI48, "\x02\x00\x00\x00\x00\x08"}, "any"},
	} {
		p := ix.lookup(tt.k)
		if p == nil || p.Name != tt.want {
			t.Errorf("lookup(%v) = %v, want policy %s", tt.k, p, tt.want)
		}
		typ := lmaconfig.MNIDNAI
		if tt.k.subtype == mh.MNIDEUI48 {
			typ = lmaconfig.MNIDEUI48
		}
		if q, ok := cfg.Lookup(typ, []byte(tt.k.id)); !ok || q.Name != p.Name {
			t.Errorf("lookup(%v): index says %v, Config.Lookup %v", tt.k, p, q)
		}
	}
}
