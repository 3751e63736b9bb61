// Package dataplanetest is a recording fake of the data plane for engine
// tests: the real [dataplane.Reconciler] (validation, planning, ordering,
// error joining) over an in-memory kernel that applies each operation the
// way Linux would (devices must exist, a tunnel name is taken once, a
// device takes its routes and addresses with it) and renders what it holds
// as stable sorted text, so tests compare with a literal:
//
//	fake := dataplanetest.New("wlan0")
//	err := fake.Set(ctx, state)
//	if diff := cmp.Diff(want, fake.String()); diff != "" { ... }
package dataplanetest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/openpmip/pmip/internal/dataplane"
)

// Fake is a [dataplane.Dataplane] over an in-memory [Kernel].
type Fake struct {
	*dataplane.Reconciler
	Kernel *Kernel
}

var _ dataplane.Dataplane = (*Fake)(nil)

// New returns a fake whose kernel already has the devices named (the
// access and uplink interfaces that the data plane does not own).
func New(devices ...string) *Fake {
	k := NewKernel(devices...)
	return &Fake{Reconciler: dataplane.NewReconciler(k, dataplane.Options{}), Kernel: k}
}

// String renders what the fake kernel holds of ours.
func (f *Fake) String() string { return f.Kernel.String() }

// Kernel is an in-memory [dataplane.Kernel] that records every operation.
type Kernel struct {
	mu      sync.Mutex
	devices map[string]bool // devices not ours
	state   dataplane.State
	// linkLocals are the kernel's own link-local addresses (not ours).
	linkLocals []dataplane.Address
	ops        []string
	dumps      int
	fail       map[string]error
}

var _ dataplane.Kernel = (*Kernel)(nil)

// NewKernel returns an empty kernel with the foreign devices named.
func NewKernel(devices ...string) *Kernel {
	k := &Kernel{devices: map[string]bool{}, fail: map[string]error{}}
	for _, d := range devices {
		k.devices[d] = true
	}
	return k
}

// Fail makes every operation whose rendering ("add route 10.0.0.1/32 dev
// pmip1 ...") contains substr fail with err, until Fail(substr, nil).
func (k *Kernel) Fail(substr string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil {
		delete(k.fail, substr)
		return
	}
	k.fail[substr] = err
}

// Ops returns the operations applied (or attempted) since the last call,
// one rendering each, in order.
func (k *Kernel) Ops() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ops := k.ops
	k.ops = nil
	return ops
}

// Dumps returns how many times the reconciler read the kernel's state.
func (k *Kernel) Dumps() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dumps
}

// String renders the kernel's objects of ours.
func (k *Kernel) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state.String()
}

// KernelLinkLocal gives the foreign device dev a link-local address the
// kernel made itself (as Linux does when a device comes up with address
// generation mode eui64): not ours, reported by Dump in
// ForeignLinkLocals.
func (k *Kernel) KernelLinkLocal(dev string, p netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.devices[dev] {
		return syscall.ENODEV
	}
	if !p.Addr().Is6() || !p.Addr().IsLinkLocalUnicast() {
		return fmt.Errorf("dataplanetest: %s is not an IPv6 link-local address", p)
	}
	k.linkLocals = append(k.linkLocals, dataplane.Address{Dev: dev, Prefix: p})
	return nil
}

// KernelLinkLocals returns the kernel-made link-local addresses the
// devices still have.
func (k *Kernel) KernelLinkLocals() []dataplane.Address {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.linkLocals)
}

// Dump implements [dataplane.Kernel].
func (k *Kernel) Dump(context.Context) (*dataplane.State, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dumps++
	s := k.state.Clone()
	s.ForeignLinkLocals = slices.Clone(k.linkLocals)
	return s, nil
}

// Apply implements [dataplane.Kernel] with Linux's semantics.
func (k *Kernel) Apply(_ context.Context, op dataplane.Op) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := op.String()
	k.ops = append(k.ops, s)
	for substr, err := range k.fail {
		if strings.Contains(s, substr) {
			return err
		}
	}
	switch o := op.Obj.(type) {
	case dataplane.Tunnel:
		return k.tunnel(op.Action, o)
	case dataplane.Address:
		return k.address(op.Action, o)
	case dataplane.Route:
		return k.route(op.Action, o)
	case dataplane.Rule:
		k.state.Rules = slices.DeleteFunc(k.state.Rules, func(r dataplane.Rule) bool { return r == o })
		if op.Action != dataplane.Del {
			k.state.Rules = append(k.state.Rules, o)
		}
	case dataplane.FilterTable:
		k.state.Filter = nil
		if op.Action != dataplane.Del {
			k.state.Filter = &dataplane.Filter{}
		}
	case dataplane.AccessIface, dataplane.Source, dataplane.Flow, dataplane.TunnelIface, dataplane.TunnelSource,
		dataplane.GREPeer, dataplane.GRESource:
		return k.element(op.Action, o)
	case dataplane.LinkMAC:
		if op.Action == dataplane.Del {
			return nil // the address stays as it is
		}
		if !k.devices[o.Dev] {
			return syscall.ENODEV
		}
		k.state.LinkMACs = append(slices.DeleteFunc(k.state.LinkMACs, func(c dataplane.LinkMAC) bool { return c.Dev == o.Dev }), o)
	case dataplane.AddrGenMode:
		if op.Action == dataplane.Del {
			return nil // set, never restored
		}
		if !k.exists(o.Dev) {
			return syscall.ENODEV
		}
		k.state.AddrGenModes = append(slices.DeleteFunc(k.state.AddrGenModes, func(c dataplane.AddrGenMode) bool { return c.Dev == o.Dev }), o)
	case dataplane.Sysctl:
		if op.Action == dataplane.Del {
			return nil // set, never restored
		}
		if o.Dev != "all" && o.Dev != "default" && !k.exists(o.Dev) {
			return syscall.ENODEV // no /proc/sys/net/ipv*/conf/DEV
		}
		k.state.Sysctls = append(slices.DeleteFunc(k.state.Sysctls, func(c dataplane.Sysctl) bool {
			return c.Family == o.Family && c.Dev == o.Dev && c.Name == o.Name
		}), o)
	default:
		return fmt.Errorf("dataplanetest: unknown object %T", op.Obj)
	}
	return nil
}

func (k *Kernel) exists(dev string) bool {
	return k.devices[dev] || slices.ContainsFunc(k.state.Tunnels, func(t dataplane.Tunnel) bool { return t.Name == dev })
}

func (k *Kernel) tunnel(a dataplane.Action, t dataplane.Tunnel) error {
	i := slices.IndexFunc(k.state.Tunnels, func(c dataplane.Tunnel) bool { return c.Name == t.Name })
	switch a {
	case dataplane.Add:
		if k.exists(t.Name) {
			return syscall.EEXIST
		}
		if t.External && slices.ContainsFunc(k.state.Tunnels, func(c dataplane.Tunnel) bool { return c.External && c.Kind == t.Kind }) {
			return syscall.EEXIST // one collect_md device per kind and namespace
		}
		k.state.Tunnels = append(k.state.Tunnels, t)
	case dataplane.Replace:
		if i < 0 {
			return syscall.ENODEV
		}
		k.state.Tunnels[i] = t
	case dataplane.Del:
		if i < 0 {
			return nil
		}
		k.state.Tunnels = slices.Delete(k.state.Tunnels, i, i+1)
		// The device takes its addresses and routes with it.
		k.state.Addresses = slices.DeleteFunc(k.state.Addresses, func(x dataplane.Address) bool { return x.Dev == t.Name })
		k.state.Routes = slices.DeleteFunc(k.state.Routes, func(x dataplane.Route) bool { return x.Dev == t.Name })
		// And its settings.
		k.state.Sysctls = slices.DeleteFunc(k.state.Sysctls, func(x dataplane.Sysctl) bool { return x.Dev == t.Name })
		k.state.AddrGenModes = slices.DeleteFunc(k.state.AddrGenModes, func(x dataplane.AddrGenMode) bool { return x.Dev == t.Name })
	}
	return nil
}

func (k *Kernel) address(a dataplane.Action, x dataplane.Address) error {
	same := func(c dataplane.Address) bool { return c.Dev == x.Dev && c.Prefix == x.Prefix }
	if a == dataplane.Del {
		// Linux deletes an address whoever made it.
		k.state.Addresses = slices.DeleteFunc(k.state.Addresses, same)
		k.linkLocals = slices.DeleteFunc(k.linkLocals, same)
		return nil
	}
	if !k.exists(x.Dev) {
		return syscall.ENODEV
	}
	if a == dataplane.Add && slices.ContainsFunc(k.state.Addresses, same) {
		return nil
	}
	k.state.Addresses = append(slices.DeleteFunc(k.state.Addresses, same), x)
	return nil
}

func (k *Kernel) route(a dataplane.Action, r dataplane.Route) error {
	same := func(c dataplane.Route) bool {
		return c.Table == r.Table && c.Dst == r.Dst && c.Metric == r.Metric
	}
	if a == dataplane.Del {
		k.state.Routes = slices.DeleteFunc(k.state.Routes, same)
		return nil
	}
	if !k.exists(r.Dev) {
		return syscall.ENODEV
	}
	k.state.Routes = append(slices.DeleteFunc(k.state.Routes, same), r)
	return nil
}

func (k *Kernel) element(a dataplane.Action, o dataplane.Object) error {
	f := k.state.Filter
	if f == nil {
		return syscall.ENOENT // no table, no set
	}
	switch e := o.(type) {
	case dataplane.AccessIface:
		f.AccessIfaces = slices.DeleteFunc(f.AccessIfaces, func(c string) bool { return c == string(e) })
		if a != dataplane.Del {
			f.AccessIfaces = append(f.AccessIfaces, string(e))
		}
	case dataplane.Source:
		f.Sources = slices.DeleteFunc(f.Sources, func(c dataplane.Source) bool {
			return c.Prefix == e.Prefix && c.MAC.String() == e.MAC.String()
		})
		if a != dataplane.Del {
			f.Sources = append(f.Sources, e)
		}
	case dataplane.TunnelIface:
		f.Tunnels = slices.DeleteFunc(f.Tunnels, func(c string) bool { return c == string(e) })
		if a != dataplane.Del {
			f.Tunnels = append(f.Tunnels, string(e))
		}
	case dataplane.TunnelSource:
		f.TunnelSources = slices.DeleteFunc(f.TunnelSources, func(c dataplane.TunnelSource) bool { return c == e })
		if a != dataplane.Del {
			f.TunnelSources = append(f.TunnelSources, e)
		}
	case dataplane.GREPeer:
		f.GREPeers = slices.DeleteFunc(f.GREPeers, func(c netip.Addr) bool { return c == netip.Addr(e) })
		if a != dataplane.Del {
			f.GREPeers = append(f.GREPeers, netip.Addr(e))
		}
	case dataplane.GRESource:
		f.GRESources = slices.DeleteFunc(f.GRESources, func(c dataplane.GRESource) bool { return c == e })
		if a != dataplane.Del {
			f.GRESources = append(f.GRESources, e)
		}
	case dataplane.Flow:
		key := func(fl dataplane.Flow) dataplane.Flow { fl.Mark = 0; return fl }
		f.Flows = slices.DeleteFunc(f.Flows, func(c dataplane.Flow) bool { return key(c) == key(e) })
		if a != dataplane.Del {
			f.Flows = append(f.Flows, e)
		}
	}
	return nil
}
