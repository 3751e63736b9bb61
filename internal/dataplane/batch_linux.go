package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// routeBatch is how many route requests go in one sendmsg. The kernel
// answers each with its own acknowledgement, queued on our socket before
// we read any: 64 stay far below the default receive buffer (about 200
// KiB, some 1 KiB of it per queued message), where an overrun would drop
// acknowledgements. Measured on the host kernel (BenchmarkSetRoutes):
// most of the gain is reached at 64.
const routeBatch = 64

// batchTimeout bounds the wait for a batch's acknowledgements; they come
// within microseconds unless the kernel lost them.
const batchTimeout = 30 * time.Second

var _ Batcher = (*Netlink)(nil)

// ApplyBatch implements [Batcher]: routes and rules are sent routeBatch
// requests per sendmsg and their acknowledgements collected, each judged as
// Apply would judge it alone; runs of the filter elements isElement names
// go in one nftables transaction; any other object is applied on its own.
func (k *Netlink) ApplyBatch(ctx context.Context, ops []Op) []error {
	errs := make([]error, len(ops))
	size := k.batchSize
	if size <= 0 {
		size = routeBatch
	}
	var pending []int // indices of the routes and rules in the batch being built
	var msgs []netlink.Message
	flush := func() {
		if len(msgs) > 0 {
			k.sendBatch(msgs, pending, ops, errs)
		}
		pending, msgs = pending[:0], msgs[:0]
	}
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		if isElement(op.Obj) {
			flush()
			j := i + 1
			for j < len(ops) && j-i < elementBatch && isElement(ops[j].Obj) {
				j++
			}
			k.applyElements(ctx, ops[i:j], errs[i:j])
			i = j - 1
			continue
		}
		var m netlink.Message
		var skip bool
		var err error
		switch o := op.Obj.(type) {
		case Route:
			m, skip, err = k.routeRequest(op.Action, o)
		case Rule:
			// A MAG's client has two (from its prefix and from its
			// address, iif the access link): on a PBA they go with its
			// routes, one sendmsg for all.
			m, err = k.ruleRequest(op.Action, o)
		default:
			flush()
			errs[i] = k.Apply(ctx, op)
			continue
		}
		if size == 1 {
			flush()
			errs[i] = k.Apply(ctx, op)
			continue
		}
		switch {
		case err != nil:
			errs[i] = err
			k.index = map[string]uint32{}
		case !skip:
			pending = append(pending, i)
			msgs = append(msgs, m)
			if len(msgs) == size {
				flush()
			}
		}
	}
	flush()
	return errs
}

// elementBatch is how many set elements go in one nftables transaction
// (some 100 octets of netlink each).
const elementBatch = 512

// isElement reports whether o is a set element ApplyBatch sends in one
// nftables transaction with its neighbours: the LMA's, and a MAG client's
// two sources (its prefix and its address) on a PBA.
func isElement(o Object) bool {
	switch o.(type) {
	case Source, TunnelSource, GRESource:
		return true
	}
	return false
}

// applyElements adds and deletes set elements in one transaction. The
// kernel takes a transaction whole or not at all: if it refuses, each
// element is applied on its own so that only the failing ones report an
// error (and a deletion of an element that is gone succeeds, as in
// Apply).
func (k *Netlink) applyElements(ctx context.Context, ops []Op, errs []error) {
	if len(ops) > 1 && k.nft.elements(ops) == nil {
		return
	}
	for i, op := range ops {
		errs[i] = k.Apply(ctx, op)
	}
}

// sendBatch sends msgs, the requests of ops[idx[0]], ops[idx[1]], ..., in
// one sendmsg and reads one acknowledgement for each, in order (the kernel
// processes a batch in order and acknowledges every request that asks,
// failed or not).
func (k *Netlink) sendBatch(msgs []netlink.Message, idx []int, ops []Op, errs []error) {
	fail := func(from int, err error) {
		for _, i := range idx[from:] {
			errs[i] = err
		}
		k.index = map[string]uint32{}
	}
	if _, err := k.rt.SendMessages(msgs); err != nil {
		fail(0, err)
		return
	}
	if err := k.rt.SetReadDeadline(time.Now().Add(batchTimeout)); err != nil {
		fail(0, err)
		return
	}
	defer k.rt.SetReadDeadline(time.Time{})
	for n, i := range idx {
		_, err := k.rt.Receive()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The rest are lost: the socket's sequence is broken.
			fail(n, fmt.Errorf("no acknowledgement from the kernel: %w", err))
			return
		}
		if _, rule := ops[i].Obj.(Rule); rule {
			errs[i] = ruleResult(ops[i].Action, err)
		} else {
			errs[i] = routeResult(ops[i].Action, err)
		}
		if errs[i] != nil {
			k.index = map[string]uint32{}
		}
	}
}

// routeRequest is the request of a route operation; skip means there is
// nothing to do (a route whose device is gone is gone with it).
func (k *Netlink) routeRequest(a Action, r Route) (netlink.Message, bool, error) {
	i, err := k.ifindex(r.Dev)
	if err != nil {
		if a == Del && errors.Is(err, unix.ENODEV) {
			return netlink.Message{}, true, nil
		}
		return netlink.Message{}, false, err
	}
	b, err := encodeRoute(r, i, k.opts.Protocol)
	if err != nil {
		return netlink.Message{}, false, err
	}
	m, err := changeMessage(a, b, unix.RTM_NEWROUTE, unix.RTM_DELROUTE, netlink.Replace)
	return m, false, err
}

// ruleRequest is the request of a rule operation.
func (k *Netlink) ruleRequest(a Action, r Rule) (netlink.Message, error) {
	if a == Del && r.Table == 0 {
		// A rule of ours in a shape we do not create (see Dump): delete it
		// by priority and source only.
		r = Rule{Priority: r.Priority, Src: r.Src}
	}
	b, err := encodeRule(r, k.opts.Protocol)
	if err != nil {
		return netlink.Message{}, err
	}
	return changeMessage(a, b, unix.RTM_NEWRULE, unix.RTM_DELRULE, netlink.Excl)
}

// changeMessage wraps an encoded route or rule in the request of action
// a: newType with Create and onExisting for Add and Replace (Replace for
// routes; Excl for rules: an existing rule is reported, EEXIST, and
// ruleResult takes that as done), delType for Del; every request asks for an
// acknowledgement.
func changeMessage(a Action, data []byte, newType, delType netlink.HeaderType, onExisting netlink.HeaderFlags) (netlink.Message, error) {
	m := netlink.Message{Data: data}
	switch a {
	case Add, Replace:
		m.Header.Type = newType
		m.Header.Flags = netlink.Request | netlink.Create | onExisting | netlink.Acknowledge
	case Del:
		m.Header.Type = delType
		m.Header.Flags = netlink.Request | netlink.Acknowledge
	default:
		return netlink.Message{}, fmt.Errorf("unknown action %v", a)
	}
	return m, nil
}

// ruleResult is the outcome of a rule request: adding a rule that exists
// and deleting one that is gone succeed (the kernel has no replace for
// rules).
func ruleResult(a Action, err error) error {
	if a == Del && errors.Is(err, unix.ENOENT) {
		return nil
	}
	if a != Del && errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// routeResult is the outcome of a route request: deleting a route that is
// gone succeeds.
func routeResult(a Action, err error) error {
	if a == Del && (errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT)) {
		return nil
	}
	return err
}

// exchange sends msgs in one sendmsg and reads the kernel's answer to each,
// in order: the messages it replied with (a bare acknowledgement's own)
// and its error. Every answer is read, also after a failed request, so
// that the socket's next request is answered in sequence; a missing
// answer (the read deadline passed) fails it and the rest.
func (k *Netlink) exchange(msgs []netlink.Message) ([][]netlink.Message, []error) {
	replies := make([][]netlink.Message, len(msgs))
	errs := make([]error, len(msgs))
	fail := func(from int, err error) ([][]netlink.Message, []error) {
		for i := from; i < len(errs); i++ {
			errs[i] = err
		}
		k.index = map[string]uint32{}
		return replies, errs
	}
	if _, err := k.rt.SendMessages(msgs); err != nil {
		return fail(0, err)
	}
	if err := k.rt.SetReadDeadline(time.Now().Add(batchTimeout)); err != nil {
		return fail(0, err)
	}
	defer k.rt.SetReadDeadline(time.Time{})
	for i := range msgs {
		ms, err := k.rt.Receive()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fail(i, fmt.Errorf("no answer from the kernel: %w", err))
		}
		replies[i], errs[i] = ms, err
	}
	return replies, errs
}
