package dataplane

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// WatchLinks calls up(name, index), from its own goroutine, whenever one
// of the named links comes up: goes from administratively down, or
// absent, to up (IFF_UP). index is the link's interface index: a link
// deleted and created again has a new one, and sockets bound to the old
// index (packet sockets) no longer see its traffic. It listens to the kernel's link notifications
// (RTNLGRP_LINK) until ctx ends, and returns nil then.
//
// A link set down loses what the kernel ties to its being up: its IPv6
// addresses (addrconf flushes them, the fixed link-local address of RFC
// 5213 6.9.3 included) and the routes through it; a link deleted and
// created again (OpenWrt's netifd rebuilds its bridges on a network
// restart) also loses its MAC. Nothing tells a [Reconciler] whose last
// Set it trusts, so an engine resynchronises ([Resyncer]) when up
// reports its link back.
//
// If the kernel drops notifications (the socket's buffer overran), every
// watched link that is up is reported, since one of them may have
// bounced meanwhile.
func WatchLinks(ctx context.Context, names []string, up func(name string, index int)) error {
	if len(names) == 0 {
		return errors.New("dataplane: WatchLinks needs link names")
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Groups: unix.RTMGRP_LINK})
	if err != nil {
		return fmt.Errorf("dataplane: link notifications: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	// A burst of changes (a bridge with many ports) must not overrun
	// the socket: ENOBUFS is handled, but costs a resynchronisation.
	_ = c.SetReadBuffer(256 << 10)

	// The state before the first notification; a link changed between
	// the subscription and this read is seen either way.
	isUp := map[string]bool{}
	for _, n := range names {
		isUp[n], _ = linkUp(n)
	}
	for {
		msgs, err := c.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				for _, n := range names {
					var index int
					isUp[n], index = linkUp(n)
					if isUp[n] {
						up(n, index)
					}
				}
				continue
			}
			return fmt.Errorf("dataplane: link notifications: %w", err)
		}
		for _, m := range msgs {
			name, index, nowUp, ok := linkNotification(m)
			if !ok {
				continue
			}
			was, watched := isUp[name]
			if !watched {
				continue
			}
			isUp[name] = nowUp
			if nowUp && !was {
				up(name, index)
			}
		}
	}
}

// linkNotification decodes an RTM_NEWLINK or RTM_DELLINK: the link's
// name and whether it is up (a deleted link is not). The message is a
// struct ifinfomsg (16 octets: family, pad, type, index, flags, change)
// and attributes, of which only IFLA_IFNAME is read; decoded by hand
// rather than with rtnetlink.LinkMessage, whose full attribute decoder
// costs the AP's binary 15 KB.
func linkNotification(m netlink.Message) (name string, index int, up, ok bool) {
	t := m.Header.Type
	if t != unix.RTM_NEWLINK && t != unix.RTM_DELLINK {
		return "", 0, false, false
	}
	const ifinfomsgLen = 16
	if len(m.Data) < ifinfomsgLen {
		return "", 0, false, false
	}
	index = int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
	flags := binary.NativeEndian.Uint32(m.Data[8:12])
	ad, err := netlink.NewAttributeDecoder(m.Data[ifinfomsgLen:])
	if err != nil {
		return "", 0, false, false
	}
	for ad.Next() {
		if ad.Type() == unix.IFLA_IFNAME {
			name = ad.String()
		}
	}
	if ad.Err() != nil || name == "" {
		return "", 0, false, false
	}
	return name, index, t == unix.RTM_NEWLINK && flags&unix.IFF_UP != 0, true
}

func linkUp(name string) (bool, int) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return false, 0
	}
	return ifi.Flags&net.FlagUp != 0, ifi.Index
}
