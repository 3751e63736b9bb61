package main

import (
	"context"
	"strings"

	"github.com/openpmip/pmip/internal/dataplane"
)

// noTunnel is the reduced data plane of -dataplane no-tunnel, for kernels
// without ip6_tunnel or GRE (test hosts, an AP image being brought up): it
// programs everything the engine asks for except the tunnel devices and
// the routes through them, so the access side (the fixed router MAC and
// link-local address, the on-link routes to clients, the anti-spoofing
// filter) is real while no client traffic reaches the LMA. Policy rules
// are kept; their table holds no route, so the kernel's lookup falls
// through to the following rules (the main table): do not run this mode
// where clients must not reach the AP's own uplink.
type noTunnel struct {
	dp dataplane.Dataplane
}

var _ dataplane.Dataplane = noTunnel{}

var _ dataplane.Resyncer = noTunnel{}

func (n noTunnel) Set(ctx context.Context, s *dataplane.State) error {
	return n.dp.Set(ctx, reduced(s))
}

// Resync implements dataplane.Resyncer when the data plane below does.
func (n noTunnel) Resync(ctx context.Context, s *dataplane.State) error {
	if rs, ok := n.dp.(dataplane.Resyncer); ok {
		return rs.Resync(ctx, reduced(s))
	}
	return n.dp.Set(ctx, reduced(s))
}

// reduced is s without its tunnels and the routes through them.
func reduced(s *dataplane.State) *dataplane.State {
	if s == nil {
		return nil
	}
	r := *s
	tunnels := map[string]bool{}
	for _, t := range s.Tunnels {
		tunnels[t.Name] = true
	}
	r.Tunnels = nil
	r.Routes = nil
	for _, rt := range s.Routes {
		if !throughTunnel(rt, tunnels) {
			r.Routes = append(r.Routes, rt)
		}
	}
	return &r
}

func (n noTunnel) Change(ctx context.Context, ops ...dataplane.Op) error {
	kept := make([]dataplane.Op, 0, len(ops))
	for _, op := range ops {
		switch o := op.Obj.(type) {
		case dataplane.Tunnel:
			continue
		case dataplane.Route:
			if throughTunnel(o, nil) {
				continue
			}
		}
		kept = append(kept, op)
	}
	if len(kept) == 0 {
		return nil
	}
	return n.dp.Change(ctx, kept...)
}

// throughTunnel reports whether r leaves through a tunnel: one of the
// named devices, a device named with the data plane's tunnel prefix, or an
// encapsulation.
func throughTunnel(r dataplane.Route, tunnels map[string]bool) bool {
	return tunnels[r.Dev] || strings.HasPrefix(r.Dev, dataplane.DefaultLinkPrefix) || r.Encap.IsSet()
}
