package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Per-device IPv4 settings over netlink (IFLA_AF_SPEC / AF_INET /
// IFLA_INET_CONF, indexed by IPV4_DEVCONF_*, include/uapi/linux/ip.h) and
// the IPv6 address generation mode (IFLA_AF_SPEC / AF_INET6).
const (
	ipv4DevconfRPFilter = 8 // IPV4_DEVCONF_RP_FILTER
	// rpFilterOff is rp_filter 0 on our tunnels. Loose mode (2) is not
	// enough: a device without an IPv4 address (our tunnels have none)
	// fails the reverse-path check of any source whose route leaves by
	// another device, loose or strict (__fib_validate_source,
	// "last_resort"). The kernel applies max(conf/all, conf/DEV): it
	// takes net.ipv4.conf.all.rp_filter=0 too, which the engines set as
	// a [Sysctl] (each device's own value then rules for it).
	rpFilterOff = 0
)

// encodeLinkAF is an RTM_NEWLINK changing the device with the given index
// (or, with index 0, name): IPv4 devconf values and, unless addrGen is
// negative, the IPv6 address generation mode.
func encodeLinkAF(index uint32, name string, inet map[uint16]uint32, addrGen int) ([]byte, error) {
	b := make([]byte, sizeofIfInfoMsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:8], index)
	ae := netlink.NewAttributeEncoder()
	if index == 0 {
		ae.String(unix.IFLA_IFNAME, name)
	}
	ae.Nested(unix.IFLA_AF_SPEC, func(nae *netlink.AttributeEncoder) error {
		if len(inet) > 0 {
			nae.Nested(unix.AF_INET, func(nae *netlink.AttributeEncoder) error {
				nae.Nested(unix.IFLA_INET_CONF, func(nae *netlink.AttributeEncoder) error {
					for id := uint16(1); id <= 64; id++ { // in a stable order
						if v, ok := inet[id]; ok {
							nae.Uint32(id, v)
						}
					}
					return nil
				})
				return nil
			})
		}
		if addrGen >= 0 {
			nae.Nested(unix.AF_INET6, func(nae *netlink.AttributeEncoder) error {
				nae.Uint8(unix.IFLA_INET6_ADDR_GEN_MODE, uint8(addrGen))
				return nil
			})
		}
		return nil
	})
	a, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return append(b, a...), nil
}

// tunnelSettings turns IPv4 reverse-path filtering off on a tunnel of
// ours. Both daemons route asymmetrically through their tunnels: the MAG
// receives downlink from its tunnel for sources its main table reaches by
// the uplink, and sends uplink through policy rules that the reverse-path
// lookup (iif lo) never sees; the LMA moves a home address from one MAG's
// tunnel to another's on handover. A reverse-path filter (rp_filter 1 or
// 2, Debian's and OpenWrt's sysctl.d defaults) would drop those packets.
// Anti-spoofing is the nftables table's job (RFC 5213 6.10.5 on the MAG,
// 5.6.1 on the LMA), which checks every source against its binding, for
// IPv6 too where the kernel has no rp_filter.
func (k *Netlink) tunnelSettings(name string) error {
	b, err := encodeLinkAF(0, name, map[uint16]uint32{ipv4DevconfRPFilter: rpFilterOff}, -1)
	if err != nil {
		return err
	}
	_, err = k.exec(unix.RTM_NEWLINK, netlink.Acknowledge, b)
	if err != nil {
		return fmt.Errorf("rp_filter of %s: %w", name, err)
	}
	return nil
}

// addrGenMode sets IFLA_INET6_ADDR_GEN_MODE, `ip link set DEV addrgenmode
// MODE`. Deleting does nothing: the mode is never restored.
func (k *Netlink) addrGenMode(a Action, m AddrGenMode) error {
	if a == Del {
		return nil
	}
	index, err := k.ifindex(m.Dev)
	if err != nil {
		return err
	}
	b, err := encodeLinkAF(index, "", nil, int(m.Mode))
	if err != nil {
		return err
	}
	_, err = k.exec(unix.RTM_NEWLINK, netlink.Acknowledge, b)
	return err
}

// sysctl writes a parameter under /proc/sys of our namespace when its
// value differs. Deleting does nothing: parameters are never restored.
func (k *Netlink) sysctl(a Action, s Sysctl) error {
	if a == Del {
		return nil
	}
	return k.inNetns(func() error {
		path := "/proc/sys/" + s.Path()
		want := []byte(strconv.Itoa(s.Value))
		cur, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			if _, derr := os.Stat("/proc/sys/net/ipv" + strconv.Itoa(s.Family) + "/conf/" + s.Dev); errors.Is(derr, fs.ErrNotExist) {
				return fmt.Errorf("device %q: %w", s.Dev, unix.ENODEV)
			}
			return fmt.Errorf("no parameter %s: %w", path, err)
		}
		if err != nil {
			return err
		}
		if bytes.Equal(bytes.TrimSpace(cur), want) {
			return nil
		}
		return os.WriteFile(path, want, 0)
	})
}

// inNetns runs fn on a thread in the network namespace the sockets were
// opened in: /proc/sys/net shows the namespace of the thread that opens a
// file, and the caller's thread may be elsewhere (a test driving a
// namespace from outside, a daemon that moved). When the calling thread is
// in it already, fn runs there; otherwise on a new thread that joins the
// namespace and dies with its goroutine, so no thread of the pool is left
// in a foreign namespace.
func (k *Netlink) inNetns(fn func() error) error {
	if k.netns < 0 {
		return fn()
	}
	var ours, here unix.Stat_t
	if err := unix.Fstat(k.netns, &ours); err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	runtime.LockOSThread()
	if err := unix.Stat("/proc/thread-self/ns/net", &here); err == nil && here.Ino == ours.Ino && here.Dev == ours.Dev {
		defer runtime.UnlockOSThread()
		return fn()
	}
	runtime.UnlockOSThread()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Setns(k.netns, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
