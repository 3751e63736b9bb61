package ra

import (
	"fmt"
	"net"

	"github.com/openpmip/pmip/mag/l2"
)

// AnnounceRouter sends client mac one unsolicited Neighbor Advertisement
// for the router's link-local address (RFC 4861 7.2.6), the IPv6 twin of
// the DHCP server's unsolicited ARP reply (docs/handover.md 8.5, 9): a
// client that moved here from another MAG keeps its addresses and its
// default router (RFC 5213 6.9.3: the same link-local and link-layer
// address at every MAG), but its kernel dropped or never completed its
// neighbour entry for the router while its link was down for the
// reassociation. An entry waiting for resolution (INCOMPLETE) or holding
// another link-layer address takes this one at once (RFC 4861 7.2.5:
// Override set, so the address is recorded, and the entry goes STALE: an
// unsolicited advertisement is no proof of reachability) and the packets
// queued behind it leave, without another Neighbor Solicitation and its
// RetransTimer (1 s) wait. A client with no entry ignores it (RFC 4861
// 7.2.5: "silently discarded"), so it is harmless after a first attach.
//
// The message: Router set (RFC 4861 4.4: the sender is a router; 7.2.5: a
// client whose entry loses IsRouter drops it from its default router
// list), Solicited clear (7.2.6: unsolicited), Override set (7.2.6: the
// node's own address, it should override), Target the router link-local
// address and the Target Link-Layer Address option the fixed MAC (RFC
// 5213 6.9.3). IPv6 destination all-nodes (7.2.6), layer-2 unicast to the
// client (RFC 6085 2), like the RAs, so no other station is told, from the
// router link-local address with hop limit 255 (RFC 4861 7.1.2).
func (a *Advertiser) AnnounceRouter(mac net.HardwareAddr) error {
	if !l2.IsUnicastMAC(mac) {
		return fmt.Errorf("ra: announce router to %s: %w", mac, ErrBadMAC)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return fmt.Errorf("ra: announce router to %s: %w", mac, net.ErrClosed)
	}
	frame, err := a.appendAnnouncement(a.naBuf[:0], mac)
	if err != nil {
		// The router identity was validated by New: a broken invariant.
		a.stats.WriteErrors++
		return fmt.Errorf("ra: announce router to %s: %w", mac, err)
	}
	a.naBuf = frame[:0]
	if err := a.cfg.Conn.WriteFrame(frame); err != nil {
		a.stats.WriteErrors++
		return fmt.Errorf("ra: announce router to %s: %w", mac, err)
	}
	a.stats.Announced++
	a.log.Debug("router announced (unsolicited neighbor advertisement)", "mac", mac, "target", a.cfg.RouterLinkLocal)
	return nil
}

// appendAnnouncement appends AnnounceRouter's Neighbor Advertisement to
// the client mac, as a whole frame, to dst.
func (a *Advertiser) appendAnnouncement(dst []byte, mac net.HardwareAddr) ([]byte, error) {
	na := &l2.NeighborAdvertisement{
		Router:        true,
		Solicited:     false,
		Override:      true,
		TargetAddress: a.cfg.RouterLinkLocal,
		Options: []l2.Option{
			&l2.LinkLayerAddress{Direction: l2.Target, Addr: a.cfg.RouterMAC},
		},
	}
	return l2.AppendND(dst, a.cfg.RouterMAC, mac, a.cfg.RouterLinkLocal, allNodes, na)
}
