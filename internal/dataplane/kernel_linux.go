package dataplane

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the production [Kernel]: rtnetlink for links, addresses,
// routes and rules, nf_tables for the filter. Its sockets stay in the
// network namespace of the thread that opened them.
type Netlink struct {
	opts Options
	rt   *netlink.Conn
	nft  *nftKernel

	// addrProto is set once a dump shows an address with IFA_PROTO: the
	// kernel keeps it (Linux 6.1+ marks its own loopback, SLAAC and
	// link-local addresses with it).
	addrProto bool

	// netns is the namespace the sockets were opened in, where sysctls
	// are written; -1 if it could not be opened (no /proc).
	netns int

	// index caches interface indices by name; cleared on every dump and
	// on any failure, so a device recreated by someone else is found
	// again.
	index map[string]uint32

	// batchSize is how many route requests ApplyBatch sends per sendmsg;
	// 0 means routeBatch, 1 one request at a time.
	batchSize int

	// tunnelLinkLocal keeps the kernel's IPv6 link-local address on the
	// tunnels it creates (createTunnel); false, the default, creates them
	// without (tests compare the two).
	tunnelLinkLocal bool
}

var _ Kernel = (*Netlink)(nil)

// OpenNetlink opens the netlink sockets of the calling thread's network
// namespace.
func OpenNetlink(opts Options) (*Netlink, error) {
	opts = opts.withDefaults()
	rt, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("dataplane: rtnetlink: %w", err)
	}
	// The kernel's own words on a refused request ("Unknown device type",
	// "Invalid prefix for given prefix length") reach our errors.
	_ = rt.SetOption(netlink.ExtendedAcknowledge, true)
	nft, err := openNFT(opts.Table)
	if err != nil {
		rt.Close()
		return nil, err
	}
	netns, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		netns = -1
	}
	return &Netlink{opts: opts, rt: rt, nft: nft, netns: netns, index: map[string]uint32{}}, nil
}

// KeepsAddressProtocol reports whether the kernel stores the IFA_PROTO
// mark of our addresses (Linux 6.1+), as the last Dump saw. Without it,
// Dump cannot tell our addresses from others': after a restart an address
// a new State still wants is added again (a no-op), but one it no longer
// wants stays.
func (k *Netlink) KeepsAddressProtocol() bool { return k.addrProto }

// Open returns a Reconciler over the netlink kernel of the calling
// thread's namespace, and the kernel, to Close when done.
func Open(opts Options) (*Reconciler, *Netlink, error) {
	k, err := OpenNetlink(opts)
	if err != nil {
		return nil, nil, err
	}
	return NewReconciler(k, opts), k, nil
}

// Close releases the sockets. Kernel state stays as it is.
func (k *Netlink) Close() error {
	var nsErr error
	if k.netns >= 0 {
		nsErr = unix.Close(k.netns)
		k.netns = -1
	}
	return errors.Join(k.rt.Close(), k.nft.close(), nsErr)
}

func (k *Netlink) exec(typ netlink.HeaderType, flags netlink.HeaderFlags, data []byte) ([]netlink.Message, error) {
	return k.rt.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | flags},
		Data:   data,
	})
}

func (k *Netlink) dump(typ netlink.HeaderType, data []byte) ([]netlink.Message, error) {
	return k.exec(typ, netlink.Dump, data)
}

// Dump implements [Kernel].
func (k *Netlink) Dump(ctx context.Context) (*State, error) {
	s := &State{}
	k.index = map[string]uint32{}
	names := map[uint32]string{}

	msgs, err := k.dump(unix.RTM_GETLINK, make([]byte, sizeofIfInfoMsg))
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	for _, m := range msgs {
		l, err := decodeLink(m.Data)
		if err != nil {
			return nil, fmt.Errorf("links: %w", err)
		}
		names[l.index] = l.name
		k.index[l.name] = l.index
		if _, ours := kindByName(l.kind); !ours || !strings.HasPrefix(l.name, k.opts.LinkPrefix) {
			continue
		}
		t, err := l.tunnel()
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", l.name, err)
		}
		s.Tunnels = append(s.Tunnels, t)
	}

	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := make([]byte, sizeofIfAddrMsg)
		req[0] = fam
		msgs, err := k.dump(unix.RTM_GETADDR, req)
		if err != nil {
			return nil, fmt.Errorf("addresses: %w", err)
		}
		for _, m := range msgs {
			a, err := decodeAddress(m.Data)
			if err != nil {
				return nil, fmt.Errorf("addresses: %w", err)
			}
			k.addrProto = k.addrProto || a.hasProto
			if names[a.index] == "" {
				continue
			}
			if a.protocol != k.opts.Protocol {
				// Not ours: Plan removes a kernel-made link-local from a
				// device whose address generation mode is none.
				if ip := a.Prefix.Addr(); ip.Is6() && ip.IsLinkLocalUnicast() {
					a.Dev = names[a.index]
					s.ForeignLinkLocals = append(s.ForeignLinkLocals, a.Address)
				}
				continue
			}
			a.Dev = names[a.index]
			s.Addresses = append(s.Addresses, a.Address)
		}

		req = make([]byte, sizeofRtMsg)
		req[0] = fam
		msgs, err = k.dump(unix.RTM_GETROUTE, req)
		if err != nil {
			return nil, fmt.Errorf("routes: %w", err)
		}
		for _, m := range msgs {
			r, err := decodeRoute(m.Data)
			if err != nil {
				return nil, fmt.Errorf("routes: %w", err)
			}
			if r.protocol != k.opts.Protocol || r.cloned || r.typ != unix.RTN_UNICAST || names[r.oif] == "" {
				continue
			}
			r.Dev = names[r.oif]
			s.Routes = append(s.Routes, r.Route)
		}

		req = make([]byte, sizeofRuleHdr)
		req[0] = fam
		msgs, err = k.dump(unix.RTM_GETRULE, req)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		for _, m := range msgs {
			r, err := decodeRule(m.Data)
			if err != nil {
				return nil, fmt.Errorf("rules: %w", err)
			}
			if r.protocol != k.opts.Protocol {
				continue
			}
			if r.other || r.action != unix.FR_ACT_TO_TBL {
				// Ours by protocol but not of a shape we create: make
				// it differ from every wanted rule so it is removed.
				r.Table = 0
			}
			s.Rules = append(s.Rules, r.Rule)
		}
	}

	f, err := k.nft.dump()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	s.Filter = f
	return s, nil
}

// Apply implements [Kernel].
func (k *Netlink) Apply(ctx context.Context, op Op) error {
	err := k.apply(op)
	if err != nil {
		k.index = map[string]uint32{}
	}
	return err
}

func (k *Netlink) apply(op Op) error {
	switch o := op.Obj.(type) {
	case Tunnel:
		return k.tunnel(op.Action, o)
	case Address:
		return k.address(op.Action, o)
	case Route:
		return k.route(op.Action, o)
	case Rule:
		return k.rule(op.Action, o)
	case FilterTable, AccessIface, Source, Flow, TunnelIface, TunnelSource, GREPeer, GRESource:
		return k.nft.apply(op)
	case LinkMAC:
		return k.linkMAC(op.Action, o)
	case AddrGenMode:
		return k.addrGenMode(op.Action, o)
	case Sysctl:
		return k.sysctl(op.Action, o)
	}
	return fmt.Errorf("unknown object %T", op.Obj)
}

// linkMAC sets a device's hardware address (RTM_NEWLINK with IFLA_ADDRESS
// on an existing index, `ip link set DEV address MAC`). Deleting does
// nothing: the address the device had before is not known.
func (k *Netlink) linkMAC(a Action, l LinkMAC) error {
	if a == Del {
		return nil
	}
	index, err := k.ifindex(l.Dev)
	if err != nil {
		return err
	}
	req := &rtnetlink.LinkMessage{Index: index, Attributes: &rtnetlink.LinkAttributes{Address: l.MAC}}
	b, err := req.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = k.exec(unix.RTM_NEWLINK, netlink.Acknowledge, b)
	return err
}

// ifindex resolves a device name over our own socket (so in our
// namespace, whatever thread calls).
func (k *Netlink) ifindex(name string) (uint32, error) {
	if i, ok := k.index[name]; ok {
		return i, nil
	}
	req := &rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{Name: name}}
	b, err := req.MarshalBinary()
	if err != nil {
		return 0, err
	}
	msgs, err := k.exec(unix.RTM_GETLINK, 0, b)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return 0, fmt.Errorf("device %q: %w", name, unix.ENODEV)
		}
		return 0, fmt.Errorf("device %q: %w", name, err)
	}
	for _, m := range msgs {
		l, err := decodeLink(m.Data)
		if err == nil && l.name == name {
			k.index[name] = l.index
			return l.index, nil
		}
	}
	return 0, fmt.Errorf("device %q: %w", name, unix.ENODEV)
}

func (k *Netlink) tunnel(a Action, t Tunnel) error {
	switch a {
	case Add:
		delete(k.index, t.Name)
		return k.createTunnel(t)
	case Replace:
		i, err := k.ifindex(t.Name)
		if err != nil {
			return err
		}
		req := &rtnetlink.LinkMessage{Index: i, Flags: unix.IFF_UP, Change: unix.IFF_UP, Attributes: &rtnetlink.LinkAttributes{MTU: t.MTU}}
		b, err := req.MarshalBinary()
		if err != nil {
			return err
		}
		if _, err = k.exec(unix.RTM_NEWLINK, netlink.Acknowledge, b); err != nil {
			return err
		}
		return k.tunnelSettings(t.Name)
	case Del:
		i, err := k.ifindex(t.Name)
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		if err != nil {
			return err
		}
		req := &rtnetlink.LinkMessage{Index: i}
		b, err := req.MarshalBinary()
		if err != nil {
			return err
		}
		delete(k.index, t.Name)
		_, err = k.exec(unix.RTM_DELLINK, netlink.Acknowledge, b)
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unknown action %v", a)
}

func (k *Netlink) address(a Action, x Address) error {
	i, err := k.ifindex(x.Dev)
	if err != nil {
		if a == Del && errors.Is(err, unix.ENODEV) {
			return nil
		}
		return err
	}
	b, err := encodeAddress(x, i, k.opts.Protocol)
	if err != nil {
		return err
	}
	switch a {
	case Add:
		_, err = k.exec(unix.RTM_NEWADDR, netlink.Create|netlink.Excl|netlink.Acknowledge, b)
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
	case Replace:
		_, err = k.exec(unix.RTM_NEWADDR, netlink.Create|netlink.Replace|netlink.Acknowledge, b)
	case Del:
		_, err = k.exec(unix.RTM_DELADDR, netlink.Acknowledge, b)
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENODEV) {
			return nil
		}
	}
	return err
}

func (k *Netlink) route(a Action, r Route) error {
	m, skip, err := k.routeRequest(a, r)
	if err != nil || skip {
		return err // a route whose device is gone went with it
	}
	_, err = k.rt.Execute(m)
	return routeResult(a, err)
}

func (k *Netlink) rule(a Action, r Rule) error {
	m, err := k.ruleRequest(a, r)
	if err != nil {
		return err
	}
	_, err = k.rt.Execute(m)
	return ruleResult(a, err)
}
