package mag

import (
	"context"
	"net"
	"slices"
	"time"
)

// What the engine does for hostapd's control-socket monitor
// (hostapd.Monitor): the station list it resynchronises against, and the
// old MAG's cleanup after a handoff.

// stationRemoveTimeout bounds one DEAUTHENTICATE on hostapd's control
// socket: hostapd answers in microseconds unless it is wedged.
const stationRemoveTimeout = 2 * time.Second

// StationsOn returns the stations the engine holds as associated with
// hostapd BSS bss: those hostapd reported there (until they left) and
// the clients whose binding names it. After a (re)attach the monitor
// reports those hostapd no longer lists as disconnected
// (hostapd.MonitorConfig.Known).
func (e *Engine) StationsOn(bss string) []net.HardwareAddr {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[macKey]bool{}
	var out []net.HardwareAddr
	add := func(k macKey) {
		if !seen[k] {
			seen[k] = true
			out = append(out, net.HardwareAddr(slices.Clone(k[:])))
		}
	}
	for k, st := range e.stations {
		if st.bss == bss {
			add(k)
		}
	}
	for k, b := range e.clients {
		if b.bss == bss && (b.state == stateRegistered || b.state == stateRegistering) {
			add(k)
		}
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return slices.Compare(a, b) })
	return out
}

// removeStationFx asks hostapd to drop b's station without a frame
// (DEAUTHENTICATE <mac> tx=0), in the background: the LMA revoked the
// binding because the client moved to another MAG (RFC 5846 8.1 handoff
// triggers), so the station is no longer on this AP, and hostapd's stale
// entry would otherwise linger until ap_max_inactivity (300 s by
// default), keep its old EAPOL state for the station's return, and end
// with an AP-STA-DISCONNECTED long after the handoff. The disconnection
// hostapd reports for it finds no binding and is ignored
// (docs/handover.md 5.5).
func (e *Engine) removeStationFx(b *binding) effects {
	if e.opts.StationRemove == nil || b.bss == "" {
		return nil
	}
	bss, mac, ctx := b.bss, slices.Clone(b.mac), e.ctx
	return effects{func() {
		go func() {
			ctx, cancel := context.WithTimeout(ctx, stationRemoveTimeout)
			defer cancel()
			if err := e.opts.StationRemove(ctx, bss, mac); err != nil {
				e.log.Warn("hostapd did not drop the station that moved away", "mac", mac, "bss", bss, "err", err)
				return
			}
			e.count(func(s *Stats) { s.StationsRemoved++ })
			e.log.Info("hostapd dropped the station that moved to another MAG", "mac", mac, "bss", bss)
		}()
	}}
}
