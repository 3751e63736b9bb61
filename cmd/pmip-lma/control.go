package main

import (
	"context"
	"encoding/json"
	"runtime/debug"
	"strconv"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/lma"
)

// registerControl serves the engine's operations API on the control
// socket (internal/ctl's LMA methods).
func (d *daemon) registerControl() {
	e := d.eng
	d.ctl.Handle(ctl.MethodBindings, func(ctx context.Context, params json.RawMessage) (any, error) {
		var p ctl.BindingsParams
		if err := ctl.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		if p.Limit < 0 {
			return nil, ctl.Errorf(ctl.CodeBadRequest, "limit %d is negative", p.Limit)
		}
		list, err := e.Bindings(ctx, lma.BindingFilter{MobileNode: p.MobileNode, MAG: p.MAG, Prefix: p.Prefix, Limit: p.Limit})
		if err != nil {
			return nil, err
		}
		res := ctl.BindingsResult{Bindings: make([]ctl.Binding, 0, len(list)), Total: e.Counters().Bindings,
			Truncated: p.Limit > 0 && len(list) >= p.Limit}
		for _, b := range list {
			res.Bindings = append(res.Bindings, bindingView(b))
		}
		return res, nil
	})
	d.ctl.Handle(ctl.MethodPools, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		pools, err := e.Pools(ctx)
		if err != nil {
			return nil, err
		}
		res := ctl.PoolsResult{Pools: make([]ctl.Pool, 0, len(pools))}
		for _, p := range pools {
			res.Pools = append(res.Pools, ctl.Pool{Name: p.Name, Family: p.Family, Prefix: p.Prefix, Size: p.Size, Used: p.Used, Free: p.Free})
		}
		return res, nil
	})
	d.ctl.Handle(ctl.MethodMAGs, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		mags, err := e.MAGs(ctx)
		if err != nil {
			return nil, err
		}
		res := ctl.MAGsResult{MAGs: make([]ctl.MAG, 0, len(mags))}
		for _, m := range mags {
			v := ctl.MAG{Name: m.Name, Addresses: m.Addresses, Bindings: m.Bindings, Heartbeat: m.Heartbeat,
				MissedHeartbeats: m.MissedHeartbeats, LastHeard: m.LastHeard}
			if m.HasRestartCount {
				rc := m.RestartCounter
				v.RestartCounter = &rc
			}
			res.MAGs = append(res.MAGs, v)
		}
		return res, nil
	})
	d.ctl.Handle(ctl.MethodRevoke, func(ctx context.Context, params json.RawMessage) (any, error) {
		var p ctl.RevokeParams
		if err := ctl.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		if p.MobileNode == "" {
			return nil, ctl.Errorf(ctl.CodeBadRequest, "mobile_node is required")
		}
		// RFC 5846 8.1: the LMA revokes with the Administrative Reason
		// trigger and tells the serving MAG.
		n, err := e.RevokeMobileNode(ctx, p.MobileNode)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, ctl.Errorf(ctl.CodeNotFound, "no session of mobile node %q", p.MobileNode)
		}
		d.log.Info("pmip-lma: mobile node revoked by the operator", "mobile_node", p.MobileNode, "sessions", n)
		return ctl.RevokeResult{Revoked: n}, nil
	})
	d.ctl.Handle(ctl.MethodCounters, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		rc, err := e.RestartCounter(ctx)
		if err != nil {
			return nil, err
		}
		c := e.Counters()
		res := ctl.Counters{RestartCounter: rc, PBAsByStatus: map[string]uint64{}, Counters: map[string]uint64{
			"pbus_received": c.PBUs, "malformed": c.Malformed, "dropped": c.Dropped, "bindings": uint64(c.Bindings),
			"created": c.Created, "refreshed": c.Refreshed, "handoffs": c.Handoffs, "deregistrations": c.Deregistrations,
			"expired": c.Expired, "revoked": c.Revoked, "dataplane_errors": c.DataplaneErrors, "store_errors": c.StoreErrors,
			"heartbeats_received": c.HeartbeatsReceived, "heartbeats_sent": c.HeartbeatsSent,
			"heartbeat_failures": c.HeartbeatFailures, "mag_restarts": c.MAGRestarts,
			"bris_sent": c.BRIsSent, "bras_received": c.BRAsReceived,
			"binding_errors_sent": c.BindingErrors, "binding_errors_rate_limited": c.BindingErrorsLimited,
			"dataplane_resyncs": c.DataplaneResyncs,
		}}
		for st, n := range c.PBAsByStatus {
			res.PBAsByStatus[strconv.Itoa(int(st))] = n
		}
		if d.st != nil {
			// The store's work, as the metrics show it: how often it
			// compacts is what a load of refreshes costs the disk.
			s := d.st.Stats()
			res.Counters["store_puts"], res.Counters["store_deletes"] = s.Puts, s.Deletes
			res.Counters["store_commits"], res.Counters["store_log_bytes"] = s.Commits, s.LogBytes
			res.Counters["store_compactions"], res.Counters["store_compaction_errors"] = s.Compactions, s.CompactionErrors
		}
		return res, nil
	})
	d.ctl.Handle(ctl.MethodDataplane, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		if d.rec == nil {
			return ctl.DataplaneResult{Driver: "none"}, nil
		}
		s, err := d.rec.Dump(ctx)
		if err != nil {
			return nil, err
		}
		return ctl.DataplaneResult{Driver: "netlink", State: s.String()}, nil
	})
}

func bindingView(b lma.BindingInfo) ctl.Binding {
	v := ctl.Binding{ID: b.ID, MobileNode: b.MobileNode, MNIDType: b.MNIDType, LinkLayerID: b.LinkLayerID,
		AccessTechnology: b.AccessTechnology, MAG: b.MAG, ProxyCoA: b.ProxyCoA, Tunnel: b.Tunnel,
		HomePrefixes: b.HomePrefixes, IPv4HomeAddress: b.IPv4HomeAddress, IPv4DefaultRouter: b.IPv4DefaultRouter,
		Policy: b.Policy, State: b.State, Lifetime: ctl.Duration(b.Lifetime),
		Registered: b.Registered, Updated: b.Updated, Expires: b.Expires}
	if b.HasGREUplinkKey {
		k := b.GREUplinkKey
		v.GREUplinkKey = &k
	}
	if b.HasGREDownlinkKey {
		k := b.GREDownlinkKey
		v.GREDownlinkKey = &k
	}
	return v
}

// buildVersion names the build: the module version or VCS revision the
// binary was built from.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			if v == "" || v == "(devel)" {
				v = s.Value[:12]
			}
		}
	}
	return v
}
