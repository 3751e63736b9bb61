package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
)

// Test topology: pmipctl's run against a ctl.Server on a temporary unix
// socket that answers like pmip-lma with fixed data.
//
//	run(args) ──unix socket── ctl.Server{bindings, pools, mags, revoke, ...}

func fakeLMA(t *testing.T) (string, *ctl.BindingsParams) {
	t.Helper()
	s := ctl.NewServer("pmip-lma", "test", nil)
	seen := &ctl.BindingsParams{}
	up := uint32(7)
	s.Handle(ctl.MethodBindings, func(_ context.Context, params json.RawMessage) (any, error) {
		var p ctl.BindingsParams
		if err := ctl.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		*seen = p
		return ctl.BindingsResult{Total: 3, Truncated: p.Limit == 2, Bindings: []ctl.Binding{
			{ID: 1, MobileNode: "alice@example.net", MAG: "ap1", ProxyCoA: netip.MustParseAddr("2001:db8:1:1::2"), Tunnel: "ip6ip6",
				HomePrefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:100:1::/64")}, IPv4HomeAddress: netip.MustParsePrefix("10.20.0.2/16"),
				State: "active", Expires: time.Now().Add(time.Hour + 30*time.Second)},
			{ID: 2, MobileNode: "printer@example.net", MAG: "ap2", ProxyCoA: netip.MustParseAddr("2001:db8:1:2::2"), Tunnel: "gre",
				GREUplinkKey: &up, State: "deregistered", Expires: time.Now().Add(-time.Second)},
		}}, nil
	})
	s.Handle(ctl.MethodPools, func(context.Context, json.RawMessage) (any, error) {
		return ctl.PoolsResult{Pools: []ctl.Pool{{Name: "hnp", Family: "ipv6", Prefix: netip.MustParsePrefix("2001:db8:100::/48"), Size: 65536, Used: 16384, Free: 49152}}}, nil
	})
	s.Handle(ctl.MethodMAGs, func(context.Context, json.RawMessage) (any, error) {
		rc := uint32(4)
		return ctl.MAGsResult{MAGs: []ctl.MAG{
			{Name: "ap1", Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:1:1::2"), netip.MustParseAddr("198.51.100.22")}, Bindings: 1, Heartbeat: "up", RestartCounter: &rc},
			{Name: "ap2", Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:1:2::2")}, Heartbeat: "failed", MissedHeartbeats: 4},
		}}, nil
	})
	s.Handle(ctl.MethodRevoke, func(_ context.Context, params json.RawMessage) (any, error) {
		var p ctl.RevokeParams
		if err := ctl.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		if p.MobileNode != "alice@example.net" {
			return nil, ctl.Errorf(ctl.CodeNotFound, "no session of mobile node %q", p.MobileNode)
		}
		return ctl.RevokeResult{Revoked: 2}, nil
	})
	s.Handle(ctl.MethodCounters, func(context.Context, json.RawMessage) (any, error) {
		return ctl.Counters{RestartCounter: 3, Counters: map[string]uint64{"pbus_received": 10, "bindings": 2},
			PBAsByStatus: map[string]uint64{"0": 8, "152": 1, "154": 1}}, nil
	})
	// pmip-mag's monitor counters (hostapd.MonitorStats), as a MAG answers.
	s.Handle("hostapd", func(context.Context, json.RawMessage) (any, error) {
		return struct {
			Attached int
			Events   uint64
			Note     string
		}{2, 12, "a b"}, nil
	})
	path := filepath.Join(t.TempDir(), "ctl.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, seen
}

func TestCommands(t *testing.T) {
	sock, seen := fakeLMA(t)
	tests := []struct {
		name string
		args []string
		code int
		want []string // lines (or parts of them) expected in stdout, or stderr when code != 0
		seen *ctl.BindingsParams
	}{
		{"bindings table", []string{"bindings"}, 0, []string{
			"ID  MOBILE NODE          MAG  PROXY-COA        TUNNEL       HOME PREFIXES        IPV4 HOA      STATE         EXPIRES IN",
			"1   alice@example.net    ap1  2001:db8:1:1::2  ip6ip6       2001:db8:100:1::/64  10.20.0.2/16  active        1h0m",
			"2   printer@example.net  ap2  2001:db8:1:2::2  gre key 7/-  -                    -             deregistered  due",
			"2 shown, 3 in the binding cache",
		}, &ctl.BindingsParams{Limit: 1000}},
		{"bindings filters", []string{"bindings", "-mn", "02:00:00:00:00:01", "-mag", "ap1", "-prefix", "10.20.0.2", "-limit", "2"}, 0,
			[]string{"(cut by -limit; -limit 0 shows all)"},
			&ctl.BindingsParams{MobileNode: "02:00:00:00:00:01", MAG: "ap1", Prefix: netip.MustParsePrefix("10.20.0.2/32"), Limit: 2}},
		{"bindings prefix masked", []string{"bindings", "-prefix", "2001:db8:100:1::1/64"}, 0, nil,
			&ctl.BindingsParams{Prefix: netip.MustParsePrefix("2001:db8:100:1::/64"), Limit: 1000}},
		{"bindings json", []string{"-json", "bindings"}, 0, []string{`"mobile_node": "alice@example.net"`, `"gre_uplink_key": 7`, `"total": 3`}, nil},
		{"pools", []string{"pools"}, 0, []string{
			"POOL  FAMILY  PREFIX             SIZE   USED   FREE   USE",
			"hnp   ipv6    2001:db8:100::/48  65536  16384  49152  25.0%",
		}, nil},
		{"mags", []string{"mags"}, 0, []string{
			"ap1  2001:db8:1:1::2,198.51.100.22  1         up         0       4                -",
			"ap2  2001:db8:1:2::2                0         failed     4       -                -",
		}, nil},
		{"counters", []string{"counters"}, 0, []string{"restart_counter                                  3\n",
			"pbus_received                                    10\n", "pba status 0 Binding Update accepted             8\n",
			"pba status 152 PROXY_REG_NOT_ENABLED             1\n", "pba status 154 MAG_NOT_AUTHORIZED_FOR_PROXY_REG  1\n"}, nil},
		{"revoke", []string{"revoke", "alice@example.net"}, 0, []string{"revoked 2 session(s)"}, nil},
		{"revoke unknown", []string{"revoke", "nobody@example.net"}, 1, []string{`not_found: no session of mobile node "nobody@example.net"`}, nil},
		{"info", []string{"info"}, 0, []string{"pmip-lma test, control protocol 1", "methods: bindings counters hostapd info mags pools revoke"}, nil},
		{"hostapd", []string{"hostapd"}, 0, []string{"Attached  2\n", "Events    12\n", "Note      a b\n"}, nil},
		{"call", []string{"call", "pools"}, 0, []string{`"name": "hnp"`}, nil},
		{"call unknown method", []string{"call", "flows"}, 1, []string{"unknown_method"}, nil},
		{"no command", nil, 2, []string{"Commands:"}, nil},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}, nil},
		{"revoke needs an id", []string{"revoke"}, 2, []string{"revoke takes one mobile node identifier"}, nil},
		{"bad prefix", []string{"bindings", "-prefix", "2001:db8::/129"}, 2, []string{"neither a prefix nor an address"}, nil},
		{"negative limit", []string{"bindings", "-limit", "-3"}, 2, []string{"negative"}, nil},
		{"extra args", []string{"pools", "now"}, 2, []string{"pools takes no arguments"}, nil},
		{"call bad json", []string{"call", "pools", "{"}, 2, []string{"not JSON"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			*seen = ctl.BindingsParams{}
			var out, errOut bytes.Buffer
			args := append([]string{"-socket", sock}, tt.args...)
			if tt.args == nil {
				args = nil
			}
			code := run(args, &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errOut.String())
			}
			got := out.String()
			if tt.code != 0 {
				got = errOut.String()
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			if tt.seen != nil && *seen != *tt.seen {
				t.Errorf("daemon saw %+v, want %+v", *seen, *tt.seen)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-socket", filepath.Join(t.TempDir(), "none.sock"), "pools"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "is the daemon running") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
