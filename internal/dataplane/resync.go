package dataplane

import "context"

// Resyncer is a [Dataplane] that can distrust what it believes the kernel
// holds: Resync reads the kernel again and then sets s, so that objects of
// ours changed or removed by hand (an operator's `ip route del`, `nft
// flush set`) come back. [Reconciler] implements it; an engine that
// resynchronises periodically asks for it with a type assertion and falls
// back to Set.
type Resyncer interface {
	Resync(ctx context.Context, s *State) error
}

var _ Resyncer = (*Reconciler)(nil)

// Resync implements [Resyncer]: it forgets the state of the last Set, so
// that this Set dumps the kernel first, and plans against what it finds.
// A Set alone trusts that state when no Change came since, and would not
// see what changed behind its back.
func (r *Reconciler) Resync(ctx context.Context, s *State) error {
	r.mu.Lock()
	r.cur = nil
	r.mu.Unlock()
	return r.Set(ctx, s)
}
