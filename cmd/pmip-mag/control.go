package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/mag"
)

// defaultControlSocket is where pmipctl finds the MAG (internal/ctl's
// protocol, the same as pmip-lma's).
const defaultControlSocket = "/var/run/pmip-mag/ctl.sock"

// Methods of pmip-mag's control socket (besides ctl's "info").
const (
	methodBindings = "bindings" // no params -> magBindings: the Binding Update List
	methodCounters = "counters" // no params -> mag.Stats
	// methodHostapd: no params -> hostapd.MonitorStats of the daemon's
	// monitor on hostapd's control sockets (hostapd_hook 'ctrl'); an
	// error without one.
	methodHostapd = "hostapd"
)

// magBindings is the answer of "bindings": the Binding Update List (RFC
// 5213 6.1), sorted by MAC.
type magBindings struct {
	Bindings []magBinding `json:"bindings"`
}

// magBinding is one Binding Update List entry.
type magBinding struct {
	MAC       string         `json:"mac"`
	MobileID  string         `json:"mobile_node"`
	Interface string         `json:"interface"`
	State     string         `json:"state"`
	Prefixes  []netip.Prefix `json:"home_prefixes,omitempty"`
	HoA       netip.Prefix   `json:"ipv4_home_address,omitzero"`
	Router4   netip.Addr     `json:"ipv4_default_router,omitzero"`
	Expires   time.Time      `json:"expires,omitzero"`
	GREKeyOut uint32         `json:"gre_key_uplink,omitempty"`
	GREKeyIn  uint32         `json:"gre_key_downlink,omitempty"`
}

// controlServer answers pmipctl for eng.
func controlServer(eng *mag.Engine, m *magd) *ctl.Server {
	s := ctl.NewServer("pmip-mag", "", m.log.With("component", "ctl"))
	s.Handle(methodBindings, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		list := eng.Bindings()
		res := magBindings{Bindings: make([]magBinding, 0, len(list))}
		for _, b := range list {
			res.Bindings = append(res.Bindings, magBinding{
				MAC: b.MAC.String(), MobileID: b.MNID, Interface: b.Interface, State: b.State,
				Prefixes: b.Prefixes, HoA: b.HoA, Router4: b.Router4, Expires: b.Expires,
				GREKeyOut: b.GREKeyOut, GREKeyIn: b.GREKeyIn,
			})
		}
		return res, nil
	})
	s.Handle(methodCounters, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		return eng.Stats(), nil
	})
	s.Handle(methodHostapd, func(ctx context.Context, params json.RawMessage) (any, error) {
		if err := ctl.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		if m.mon == nil {
			return nil, errors.New("no hostapd monitor: hostapd_hook is not 'ctrl', or no access link has the hostapd trigger")
		}
		return m.mon.Stats(), nil
	})
	return s
}
