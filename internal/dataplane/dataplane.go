package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
)

// Dataplane is what the engines hold: the whole desired state in, the
// kernel reconciled. [Reconciler] implements it over netlink, and
// dataplanetest.Fake over a recording in-memory kernel.
type Dataplane interface {
	// Set makes the kernel hold exactly s among the objects the data
	// plane owns. It may be called again with the same state, which
	// changes nothing; nil tears everything of ours down. An invalid s
	// changes nothing and returns an error wrapping [ErrInvalid];
	// failures of single objects are joined, each naming its object.
	Set(ctx context.Context, s *State) error
	// Change applies single operations in O(1) each, for engines whose
	// whole state is too large to hand over per event (the LMA with a
	// million bindings); the next Set resynchronises. See
	// [Reconciler.Change].
	Change(ctx context.Context, ops ...Op) error
}

// Kernel is the syscall boundary: production talks netlink, the fake in
// dataplanetest keeps an in-memory model. Everything above it (validation,
// planning, ordering, error handling) is shared.
type Kernel interface {
	// Dump returns the objects of ours that the kernel holds.
	Dump(ctx context.Context) (*State, error)
	// Apply performs one operation. Deleting an object that is gone, and
	// adding an address, rule or set element that exists, succeed.
	Apply(ctx context.Context, op Op) error
}

// Batcher is a [Kernel] that applies runs of operations with fewer
// system calls (the netlink kernel sends many route requests in one
// sendmsg, and many set elements in one nftables transaction): what a
// restarted LMA needs to install a million routes and their filter
// elements. The Reconciler hands it every run of consecutive routes,
// [TunnelSource]s and [GRESource]s of a plan.
type Batcher interface {
	Kernel
	// ApplyBatch performs ops in order, each as Apply would, and returns
	// one result per operation.
	ApplyBatch(ctx context.Context, ops []Op) []error
}

// Options name what the data plane owns; see the package documentation.
type Options struct {
	// LinkPrefix starts the name of every tunnel of ours ("pmip").
	LinkPrefix string
	// Protocol marks routes, rules and addresses of ours (0x9e).
	Protocol uint8
	// Table is the name of our nftables inet table ("pmip").
	Table string
	// Logger receives one line per applied operation at debug level and
	// per failure at warn level; nil discards.
	Logger *slog.Logger
}

// Defaults of [Options].
const (
	DefaultLinkPrefix = "pmip"
	DefaultProtocol   = 0x9e
	DefaultTable      = "pmip"
)

func (o Options) withDefaults() Options {
	if o.LinkPrefix == "" {
		o.LinkPrefix = DefaultLinkPrefix
	}
	if o.Protocol == 0 {
		o.Protocol = DefaultProtocol
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Reconciler implements [Dataplane] over a [Kernel].
type Reconciler struct {
	kernel Kernel
	opts   Options

	mu sync.Mutex
	// cur is what the kernel holds after the last fully successful Set;
	// nil means unknown, and the next Set dumps the kernel first (at
	// start, which adopts what a previous run left, and after a failure).
	cur *State
}

var _ Dataplane = (*Reconciler)(nil)

// NewReconciler returns a Reconciler over k.
func NewReconciler(k Kernel, opts Options) *Reconciler {
	return &Reconciler{kernel: k, opts: opts.withDefaults()}
}

// Dump reads what the kernel holds now, under the same lock as Set,
// Change and Resync: the kernel's netlink sockets serve one request at a
// time, and a dump from another goroutine (an operator's `pmipctl
// dataplane`) interleaved with a change made nftables answer EBUSY.
func (r *Reconciler) Dump(ctx context.Context) (*State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kernel.Dump(ctx)
}

// Set implements [Dataplane]: validate, dump the kernel if its state is not
// known, plan, apply. It does not stop at the first failing object: later
// objects that do not depend on it are still applied.
func (r *Reconciler) Set(ctx context.Context, s *State) error {
	if s == nil {
		s = &State{}
	}
	if err := s.Validate(r.opts.LinkPrefix); err != nil {
		return err
	}
	want := normalize(s)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		cur, err := r.kernel.Dump(ctx)
		if err != nil {
			return fmt.Errorf("dataplane: reading the kernel's state: %w", err)
		}
		r.cur = normalize(cur)
	}
	ops := Plan(r.cur, want)
	var errs []error
	batcher, _ := r.kernel.(Batcher)
	for i := 0; i < len(ops); {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("dataplane: %d of %d operations not applied: %w", len(ops)-i, len(ops), err))
			break
		}
		// A run of routes or of the LMA's filter elements (the bulk of
		// its state: one of each per home address) goes to the kernel
		// in batches, up to runMax at a time so that a cancelled
		// context stops it.
		n := 1
		if batcher != nil && batchable(ops[i].Obj) {
			for n < runMax && i+n < len(ops) && batchable(ops[i+n].Obj) {
				n++
			}
		}
		run := ops[i : i+n]
		var results []error
		if n == 1 {
			results = []error{r.kernel.Apply(ctx, run[0])}
		} else {
			results = batcher.ApplyBatch(ctx, run)
		}
		for j, err := range results {
			if err != nil {
				r.opts.Logger.Warn("dataplane operation failed", "op", run[j].String(), "err", err)
				errs = append(errs, fmt.Errorf("dataplane: %s: %w", run[j], err))
				continue
			}
			r.opts.Logger.Debug("dataplane", "op", run[j].String())
		}
		i += n
	}
	if len(errs) > 0 {
		r.cur = nil // unknown: dump again next time
		return errors.Join(errs...)
	}
	r.cur = want
	return nil
}

// runMax is the longest run of routes handed to a [Batcher] at once.
const runMax = 4096

// batchable reports whether a [Batcher] takes o in a run: routes, and the
// set elements an LMA holds one of per home address.
func batchable(o Object) bool {
	switch o.(type) {
	case Route, TunnelSource, GRESource:
		return true
	}
	return false
}

// Change applies single operations without planning the whole state: each
// costs at most one kernel request, whatever the number of objects (a
// [Batcher] takes them as one run: routes and rules in one sendmsg), which is what
// an LMA with a million bindings needs per registration (a Set diffs the
// whole state: about 2 µs per route, see BenchmarkPlanSteady). Each object
// is validated on its own; Add and Replace both mean "make it so". After a
// Change the reconciler no longer knows the kernel's state, so the next Set
// reads it again (that Set is the resynchronisation, e.g. after a restart
// or periodically). Failures are joined like Set's.
func (r *Reconciler) Change(ctx context.Context, ops ...Op) error {
	var errs []error
	valid := make([]Op, 0, len(ops))
	for _, op := range ops {
		o, err := r.validateOne(op)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", op, err))
			continue
		}
		valid = append(valid, o)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = nil
	if batcher, ok := r.kernel.(Batcher); ok && len(valid) > 1 {
		// A MAG client's objects on a PBA (two routes, two rules, two
		// filter elements) as one run: the routes and rules in one
		// sendmsg instead of a round trip each.
		if err := ctx.Err(); err != nil {
			return err
		}
		for j, err := range batcher.ApplyBatch(ctx, valid) {
			if err != nil {
				errs = append(errs, fmt.Errorf("dataplane: %s: %w", valid[j], err))
			}
		}
		return errors.Join(errs...)
	}
	for _, op := range valid {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if err := r.kernel.Apply(ctx, op); err != nil {
			errs = append(errs, fmt.Errorf("dataplane: %s: %w", op, err))
		}
	}
	return errors.Join(errs...)
}

// validateOne checks one object as Validate would in a State of its own,
// and normalises it as Plan would.
func (r *Reconciler) validateOne(op Op) (Op, error) {
	if op.Action != Add && op.Action != Del && op.Action != Replace {
		return op, fmt.Errorf("%w: unknown action %d", ErrInvalid, op.Action)
	}
	s := State{}
	switch o := op.Obj.(type) {
	case Tunnel:
		s.Tunnels = []Tunnel{o}
		op.Obj = normTunnel(o)
	case Address:
		s.Addresses = []Address{o}
	case Route:
		s.Routes = []Route{o}
		if o.Encap.IsSet() {
			// The device is checked by the kernel; describe it as the
			// external tunnel the route needs.
			kind := IP6GRE
			if o.Encap.Dst.Is4() {
				kind = IP4GRE
			}
			s.Tunnels = []Tunnel{{Name: o.Dev, Kind: kind, External: true}}
		}
		if op.Action == Add {
			op.Action = Replace
		}
		op.Obj = normRoute(o)
	case Rule:
		s.Rules = []Rule{o}
	case AccessIface:
		s.Filter = &Filter{AccessIfaces: []string{string(o)}}
	case Source:
		s.Filter = &Filter{Sources: []Source{o}}
	case Flow:
		s.Filter = &Filter{Flows: []Flow{o}}
	case TunnelIface:
		s.Filter = &Filter{Tunnels: []string{string(o)}}
	case TunnelSource:
		s.Filter = &Filter{TunnelSources: []TunnelSource{o}}
	case GREPeer:
		s.Filter = &Filter{GREPeers: []netip.Addr{netip.Addr(o)}}
	case GRESource:
		s.Filter = &Filter{GRESources: []GRESource{o}}
	case LinkMAC:
		s.LinkMACs = []LinkMAC{o}
	case Sysctl:
		s.Sysctls = []Sysctl{o}
	case AddrGenMode:
		s.AddrGenModes = []AddrGenMode{o}
	case FilterTable:
	default:
		return op, fmt.Errorf("%w: unknown object %T", ErrInvalid, op.Obj)
	}
	prefix := r.opts.LinkPrefix
	if rt, ok := op.Obj.(Route); ok && rt.Encap.IsSet() {
		prefix = "" // the stand-in tunnel above is not a name we create
	}
	return op, s.Validate(prefix)
}
