package ra_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/ra"
	"github.com/openpmip/pmip/mag/sniff"
	"golang.org/x/net/bpf"
)

// The access side of a MAG on one interface, as the engine wires it: the
// sniffer reports attachments, the engine registers the client with the
// LMA, and on the PBA it serves the prefix. The access interface must
// carry the fixed router MAC and link-local (the data plane's job), so
// clients can reach the router the RAs name.
func Example() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	none := []bpf.Instruction{bpf.RetConstant{Val: 0}} // replaced by New
	sConn, err := l2.Listen("br-pmip", 0, none)
	if err != nil {
		log.Error("sniffer socket", "err", err)
		return
	}
	aConn, err := l2.Listen("br-pmip", l2.EtherTypeIPv6, none)
	if err != nil {
		log.Error("advertiser socket", "err", err)
		return
	}
	adv, err := ra.New(ra.Config{Interface: "br-pmip", Conn: aConn, Logger: log})
	if err != nil {
		log.Error("advertiser", "err", err)
		return
	}
	attach := make(chan sniff.Trigger, 64)
	sn, err := sniff.New(sniff.Config{
		Interface:     "br-pmip",
		Conn:          sConn,
		Logger:        log,
		OnAttach:      func(t sniff.Trigger) { attach <- t }, // to the engine's event loop
		OnDetach:      func(d sniff.Detach) { adv.Forget(d.MAC) /* and deregister */ },
		DetachTimeout: 5 * time.Minute,
	})
	if err != nil {
		log.Error("sniffer", "err", err)
		return
	}
	ctx := context.Background()
	go sn.Run(ctx)
	go adv.Run(ctx)

	for t := range attach {
		// ... PBU to the LMA, PBA accepted with this prefix and lifetime:
		hnp, lifetime := netip.MustParsePrefix("2001:db8:1:2::/64"), time.Hour
		if err := sn.Registered(t.MAC, t.LinkLocal); err != nil {
			log.Warn("too many clients", "mac", t.MAC)
		}
		if err := adv.Serve(t.MAC, t.LinkLocal, []netip.Prefix{hnp}, lifetime); err != nil {
			log.Warn("serve", "mac", t.MAC, "err", err)
		}
	}
}
