package main

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/openpmip/pmip/mag/l2"
)

// An access link going down must not stop the MAG. A packet socket
// bound to the link reports ENETDOWN once when it goes down (af_packet's
// device notifier sets the socket's error) and reads frames again once
// it is back up; the access components (DHCP server, RA sender, attach
// sniffer) take a read error as the end of their socket, and the daemon
// as a failure. These wrappers read on across ENETDOWN, so the
// components live through a link bounce while the data plane is
// resynchronised (dataplane.WatchLinks, Engine.ResyncDataplane).

// linkDownPause spaces reads that keep failing with ENETDOWN.
const linkDownPause = 100 * time.Millisecond

func linkDown(err error) bool { return errors.Is(err, syscall.ENETDOWN) }

// linkDownPacketConn is a net.PacketConn that reads on across ENETDOWN.
type linkDownPacketConn struct{ net.PacketConn }

func (c linkDownPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if !linkDown(err) {
			return n, addr, err
		}
		time.Sleep(linkDownPause)
	}
}

// linkDownL2 is an l2.Conn that reads on across ENETDOWN.
type linkDownL2 struct{ l2.Conn }

func (c linkDownL2) ReadFrame(b []byte) (int, error) {
	for {
		n, err := c.Conn.ReadFrame(b)
		if !linkDown(err) {
			return n, err
		}
		time.Sleep(linkDownPause)
	}
}
