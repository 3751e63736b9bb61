package scenarios

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
)

// Up starts the captures, the LMA and every AP.
func (d *Domain) Up() {
	d.T.Helper()
	t0 := time.Now()
	d.StartBackhaulCaptures()
	d.StartLMA()
	if !d.Cfg.LegacyRoam {
		d.StartAAA()
	}
	for _, ap := range d.APs {
		d.StartAP(ap)
	}
	aaa := "RADIUS server in the LMA's namespace, FT-EAP and PMKSA caching"
	if d.Cfg.LegacyRoam {
		aaa = "each AP's internal EAP server, WPA-EAP only"
	}
	d.Say("LMA %s and %d MAG(s) running (%s transport, %s tunnels; %s) in %v",
		LMA6, len(d.APs), d.Cfg.Transport, d.Cfg.Tunnel, aaa, time.Since(t0).Round(time.Millisecond))
}

// AttachAndPing is scenario 1 on ap: the client associates with WPA2-EAP,
// the MAG registers it under its 802.1X identity, the client gets its
// IPv4 home address by DHCP and an address in its home network prefix by
// SLAAC, and pings the correspondent over both through the tunnel, whose
// counters on both ends prove the path.
func (d *Domain) AttachAndPing(ap *AP) Attachment {
	d.T.Helper()
	d.Say("client %s associates with %s (WPA2-EAP, EAP-PSK as %s)", d.ClientMAC, ap.Name, Identity)
	a := d.Associate(ap)
	d.Say("associated: IPv4 home address %s after %.0f ms (DHCP), IPv6 %s after %.0f ms (SLAAC)",
		a.V4IP, ms(a.ToV4), a.V6IP, ms(a.ToV6))
	d.Record("association to IPv4 address", ms(a.ToV4), "ms")
	d.Record("association to IPv6 address", ms(a.ToV6), "ms")

	b := d.CheckBinding(ap, a)
	d.Say("LMA binding: %s via MAG %s, %s tunnel, prefix %v, IPv4 %v", b.MobileNode, b.MAG, b.Tunnel, b.HomePrefixes, b.IPv4HomeAddress)
	d.PingThroughTunnel(ap)
	d.RecordRoundTrips(ap)
	return a
}

// CheckBinding checks that the LMA holds one active binding for the
// client's NAI (the identity the MAG learned from hostapd) through ap,
// with exactly the addresses the client configured.
func (d *Domain) CheckBinding(ap *AP, a Attachment) ctl.Binding {
	d.T.Helper()
	var b ctl.Binding
	d.Eventually("the LMA's binding for "+Identity+" through "+ap.Name, 10*time.Second, 200*time.Millisecond, func() error {
		bs, err := d.Bindings()
		if err != nil {
			return err
		}
		var found []ctl.Binding
		for _, x := range bs {
			if x.State == "active" {
				found = append(found, x)
			}
		}
		if len(found) != 1 {
			return errorf("%d active bindings, want 1: %+v", len(found), bs)
		}
		b = found[0]
		if b.MobileNode != Identity {
			return errorf("binding for %q, want the 802.1X identity %q", b.MobileNode, Identity)
		}
		if b.MAG != ap.Name {
			return errorf("binding through MAG %q, want %q", b.MAG, ap.Name)
		}
		return nil
	})
	v6, err := netip.ParseAddr(a.V6IP)
	if err != nil {
		d.T.Fatalf("client IPv6 %q: %v", a.V6IP, err)
	}
	if !slices.ContainsFunc(b.HomePrefixes, func(p netip.Prefix) bool { return p.Contains(v6) }) {
		d.T.Errorf("client's IPv6 address %s is in none of its home prefixes %v (RFC 5213 6.8: the MAG advertises exactly the HNP)", v6, b.HomePrefixes)
	}
	if b.IPv4HomeAddress.Addr().String() != a.V4IP {
		d.T.Errorf("client's IPv4 address %s, the LMA assigned %v (RFC 5844 3.4: the MAG's DHCP server hands out the HoA)", a.V4IP, b.IPv4HomeAddress)
	}
	if b.Tunnel == "" {
		d.T.Errorf("binding without a tunnel: %+v", b)
	}
	return b
}

// PingThroughTunnel pings the correspondent over IPv4 and IPv6 and checks
// that the LMA's and ap's tunnels carried every packet.
func (d *Domain) PingThroughTunnel(ap *AP) {
	d.T.Helper()
	const n = 5
	lma0, mag0 := d.Tunnels("lma"), d.Tunnels(ap.Name)
	d.Ping(CN4, n)
	d.Ping(CN6, n)
	lma1, mag1 := d.Tunnels("lma"), d.Tunnels(ap.Name)
	d.Say("pinged CN %s and %s, %d each, no loss; tunnel packets LMA rx/tx +%d/+%d (%s), %s rx/tx +%d/+%d (%s)",
		CN4, CN6, n, lma1.RxPackets-lma0.RxPackets, lma1.TxPkt-lma0.TxPkt, strings.Join(lma1.Devices, ","),
		ap.Name, mag1.RxPackets-mag0.RxPackets, mag1.TxPkt-mag0.TxPkt, strings.Join(mag1.Devices, ","))
	// Each echo request goes MAG -> LMA inside the tunnel, each reply
	// LMA -> MAG (RFC 5213 6.10.5 reverse tunnelling, 5.6.2 forwarding).
	for _, c := range []struct {
		where  string
		got    uint64
		want   int
		stats0 TunnelStats
	}{
		{"LMA tunnel rx (requests)", lma1.RxPackets - lma0.RxPackets, 2 * n, lma0},
		{"LMA tunnel tx (replies)", lma1.TxPkt - lma0.TxPkt, 2 * n, lma0},
		{ap.Name + " tunnel tx (requests)", mag1.TxPkt - mag0.TxPkt, 2 * n, mag0},
		{ap.Name + " tunnel rx (replies)", mag1.RxPackets - mag0.RxPackets, 2 * n, mag0},
	} {
		if c.got < uint64(c.want) {
			d.T.Errorf("%s: +%d packets during %d pings, want at least %d: the pings did not take the tunnel", c.where, c.got, c.want, c.want)
		}
	}
}

// backhaulMH reads the Mobility Header messages of ap's backhaul capture.
func (d *Domain) backhaulMH(ap *AP) []MHPacket {
	d.T.Helper()
	b, err := os.ReadFile(filepath.Join(d.VM.LogDir(), "backhaul-"+ap.Name+".pcap"))
	if err != nil {
		d.T.Errorf("backhaul capture: %v", err)
		return nil
	}
	pkts, err := parseMH(b)
	if err != nil {
		d.T.Errorf("backhaul capture: %v", err)
	}
	return pkts
}

// RecordRoundTrips reads the PBU/PBA exchanges of ap's backhaul capture
// and records the accepted registration's round trip.
func (d *Domain) RecordRoundTrips(ap *AP) []RoundTrip {
	d.T.Helper()
	pkts := d.backhaulMH(ap)
	rts := roundTrips(pkts)
	if len(rts) == 0 {
		d.T.Errorf("no PBU answered by a PBA in the capture of %s's backhaul (%d MH packets)", ap.Name, len(pkts))
		return nil
	}
	var parts []string
	for _, rt := range rts {
		parts = append(parts, fmt.Sprintf("seq %d status %d %.1f ms", rt.Seq, rt.Status, ms(rt.RTT)))
	}
	d.Say("PBU/PBA on %s's backhaul: %s", ap.Name, strings.Join(parts, "; "))
	// The figure is the accepted registration's: a MAG that heard the
	// client (DAD, DHCP) before hostapd's 802.1X identity may first have
	// registered a MAC-derived NAI the LMA refuses.
	for _, rt := range rts {
		if rt.Status == 0 {
			d.Record("PBU-to-PBA round trip", ms(rt.RTT), "ms")
			return rts
		}
	}
	d.T.Errorf("no PBU on %s's backhaul was accepted (status 0)", ap.Name)
	return rts
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
