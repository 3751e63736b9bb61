package lma

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/openpmip/pmip/lma/store"
)

// recover rebuilds the Binding Cache and the pools' allocations from the
// store, bumps the RFC 5847 restart counter and reconciles the data plane.
func (e *Engine) recover(ctx context.Context) error {
	now := e.clk.Now()
	began := time.Now() // the phases' wall time, for the log
	var loaded []*binding
	var refreshes []refreshRecord
	var stale [][]byte
	err := e.st.ForEach(func(k, v []byte) error {
		if string(k) == restartCounterKey {
			if len(v) == 4 {
				e.restarts = binary.BigEndian.Uint32(v)
			}
			return nil
		}
		if id, ok := parseRefreshKey(k); ok {
			x, err := decodeRefresh(v)
			if err != nil {
				e.log.Error("lma: unreadable refresh record in the store, removed", "key", string(k), "err", err)
				stale = append(stale, slices.Clone(k))
				return nil
			}
			x.id = id
			refreshes = append(refreshes, x)
			return nil
		}
		id, ok := parseBindingKey(k)
		if !ok {
			e.log.Warn("lma: unknown key in the store, ignored", "key", string(k))
			return nil
		}
		b, err := decodeBinding(v)
		if err != nil || b.id != id {
			e.log.Error("lma: unreadable binding in the store, removed", "key", string(k), "err", err)
			stale = append(stale, slices.Clone(k))
			return nil
		}
		if id >= e.nextID {
			e.nextID = id + 1
		}
		loaded = append(loaded, e.bc.load(b))
		return nil
	})
	if err != nil {
		return fmt.Errorf("lma: reading bindings from the store: %w", err)
	}
	read := time.Since(began)
	nRefresh := len(refreshes)
	stale = append(stale, e.applyRefreshes(loaded, refreshes)...)
	refreshes = nil
	// Sessions whose lifetime (or MinDelayBeforeBCEDelete) ran out while
	// the LMA was down go, with their refresh records.
	live := loaded[:0]
	for _, b := range loaded {
		if b.deadline <= now.UnixNano() {
			stale = append(stale, bindingKey(b.id), refreshKey(b.id))
			e.bc.discard(b)
			continue
		}
		live = append(live, b)
	}
	clear(loaded[len(live):])
	loaded = live
	// Oldest first, so that if two records ever claimed one prefix the
	// first registered keeps it.
	applied := time.Since(began)
	slices.SortFunc(loaded, func(a, b *binding) int { return cmp.Compare(a.registered, b.registered) })
	for _, b := range loaded {
		if why := e.claim(b); why != "" {
			e.log.Error("lma: stored binding conflicts with another, removed", "binding", e.bc.describe(b).String(), "reason", why)
			stale = append(stale, bindingKey(b.id), refreshKey(b.id))
			e.bc.discard(b)
			continue
		}
		e.bc.add(b)
	}
	loaded = nil
	claimed := time.Since(began)
	if err := e.deleteKeys(ctx, stale); err != nil {
		return err
	}
	// RFC 5847 5.2: the restart counter goes up on every start, durably,
	// before any heartbeat carries it.
	e.restarts++
	if err := e.st.Put(ctx, []byte(restartCounterKey), binary.BigEndian.AppendUint32(nil, e.restarts)); err != nil {
		return fmt.Errorf("lma: storing the restart counter: %w", err)
	}
	// The kernel may hold what a previous run left: Set makes it exactly
	// the recovered sessions' tunnels and routes, stale ones removed.
	// Without a data plane there is nothing to rebuild (only the tunnels'
	// session counts, which later changes rely on).
	if e.noDP {
		e.countTunnels()
	} else if err := e.dp.Set(ctx, e.fullState()); err != nil {
		e.stats.dpErrors.Add(1)
		e.log.Error("lma: reconciling the data plane at start", "err", err)
	}
	e.log.Info("lma: recovered", "bindings", e.bc.len(), "refresh_records", nRefresh, "removed", len(stale), "restart_counter", e.restarts,
		"read", read.Round(time.Millisecond), "refreshes_applied", applied.Round(time.Millisecond), "claimed", claimed.Round(time.Millisecond),
		"took", time.Since(began).Round(time.Millisecond))
	return nil
}

// deleteKeys removes stale records from the store: over a
// store.Submitter in batches of one group commit each (a million
// sessions expired while the LMA was down would otherwise be a million
// commits before it answers a PBU), else one Delete at a time.
func (e *Engine) deleteKeys(ctx context.Context, keys [][]byte) error {
	sub, ok := e.st.(store.Submitter)
	if !ok {
		for _, k := range keys {
			if err := e.st.Delete(ctx, k); err != nil {
				return fmt.Errorf("lma: removing stale record %s: %w", k, err)
			}
		}
		return nil
	}
	const perCommit = 4096
	var b store.Batch
	done := make(chan error, 1)
	for len(keys) > 0 {
		n := min(len(keys), perCommit)
		for _, k := range keys[:n] {
			b.Delete(k)
		}
		if err := sub.Submit(&b, func(err error) { done <- err }); err != nil {
			return fmt.Errorf("lma: removing %d stale records: %w", n, err)
		}
		b.Reset()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("lma: removing %d stale records: %w", n, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("lma: removing stale records: %w", ctx.Err())
		}
		keys = keys[n:]
	}
	return nil
}

// applyRefreshes applies each refresh record to the binding record of its
// id and generation, and returns the keys of those that apply to none
// (left from before a handoff or a deregistration rewrote the binding,
// or from a binding since removed). It sorts loaded by id.
func (e *Engine) applyRefreshes(loaded []*binding, refreshes []refreshRecord) (stale [][]byte) {
	if len(refreshes) == 0 {
		return nil
	}
	slices.SortFunc(loaded, func(a, b *binding) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(refreshes, func(a, b refreshRecord) int { return cmp.Compare(a.id, b.id) })
	i := 0
	for _, x := range refreshes {
		for i < len(loaded) && loaded[i].id < x.id {
			i++
		}
		if i < len(loaded) && loaded[i].id == x.id && loaded[i].gen == x.gen && loaded[i].state == stateActive {
			x.apply(loaded[i])
			continue
		}
		stale = append(stale, refreshKey(x.id))
	}
	return stale
}

// claim reserves what a recovered binding holds: its prefixes, address and
// GRE key in the indexes, and in the pools they came from, so that nothing
// is handed out twice. It returns why it could not.
func (e *Engine) claim(b *binding) string {
	for i := range int(b.nhnp) {
		if p := e.bc.hnpAt(b, i); e.bc.withHNP(p) != nil {
			return fmt.Sprintf("prefix %s held twice", p)
		}
	}
	if b.hoa.valid() && e.bc.withHoA(b.hoa.a.addr()) != nil {
		return fmt.Sprintf("address %s held twice", b.hoa.a.addr())
	}
	if b.greUpSet && e.bc.upKeyUsed(b.greUp) {
		return fmt.Sprintf("GRE key %d held twice", b.greUp)
	}
	if b.mnSubtype == 0 {
		return "no mobile node identifier subtype"
	}
	var done []netip.Prefix
	for _, x := range append(e.bc.hnps(b), b.hoa.prefix()) {
		if !x.IsValid() {
			continue
		}
		if err := e.pools.reserve(x, nil); err != nil {
			for _, d := range done {
				e.pools.free(d)
			}
			return err.Error()
		}
		done = append(done, x)
	}
	return ""
}
