package mag_test

import (
	"context"
	"log/slog"
	"net"
	"os"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/mag"
	"github.com/openpmip/pmip/mag/dhcpserver"
	"github.com/openpmip/pmip/mag/hostapd"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/magconfig"
	"github.com/openpmip/pmip/mag/ra"
	"github.com/openpmip/pmip/mag/sniff"
)

// Example_wiring is how a main puts the MAG together (error handling cut
// short): the engine first, then each access link's components, which
// report to it, then SetAccess, then everything runs.
func Example_wiring() {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := magconfig.Load("/etc/config/pmip")
	if err != nil {
		log.Error("config", "err", err)
		return
	}
	conn, _ := transport.ListenRaw(cfg.ProxyCoA, transport.Options{}) // ListenUDP for transport ipv4
	dp, kernel, _ := dataplane.Open(dataplane.Options{Logger: log})
	defer kernel.Close()
	// The restart counter (RFC 5847 5.2) is persisted by the main and
	// incremented at every start.
	eng, err := mag.New(cfg, mag.Options{RestartCounter: 1}, log, clock.Real{}, conn, dp)
	if err != nil {
		log.Error("engine", "err", err)
		return
	}
	for _, a := range cfg.Access {
		ifi, _ := net.InterfaceByName(a.Interface)
		dconn, aconn, _ := dhcpserver.Listen(ifi)
		srv, _ := dhcpserver.New(dhcpserver.Config{
			Engine: eng.DHCPEngine(a.Interface), RouterMAC: cfg.LinkLayerAddress,
			LeaseTime: cfg.DHCPLeaseTime, Logger: log,
		}, dconn, aconn)
		raConn, _ := l2.Listen(a.Interface, 0, nil)
		adv, _ := ra.New(ra.Config{Interface: a.Interface, Conn: raConn, Logger: log,
			RouterMAC: cfg.LinkLayerAddress, RouterLinkLocal: cfg.LinkLocalAddress})
		snConn, _ := l2.Listen(a.Interface, 0, nil)
		sn, _ := sniff.New(sniff.Config{Interface: a.Interface, Conn: snConn, Logger: log,
			OnAttach: eng.OnSniffAttach, OnDetach: eng.OnSniffDetach,
			DetachTimeout: cfg.SilenceTimeout, MaxPending: cfg.MaxPendingClients,
			RouterMAC: cfg.LinkLayerAddress, RouterLinkLocal: cfg.LinkLocalAddress})
		eng.SetAccess(a.Interface, mag.AccessSide{RA: adv, DHCP: srv, Sniff: sn})
		go srv.Serve(ctx)
		go adv.Run(ctx)
		go sn.Run(ctx)
	}
	hl, _ := hostapd.Listen(cfg.HostapdSocket, log)
	go hl.Run(ctx, eng.OnStation)
	if err := eng.Run(ctx); err != nil {
		log.Error("engine", "err", err)
	}
}
