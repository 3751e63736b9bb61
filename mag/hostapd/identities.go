package hostapd

import (
	"sync"
	"time"
)

// After an 802.11r FT or PMKSA-cache (re)association hostapd 2.10 reports
// no 802.1X identity for the station ("N/A", docs/handover.md 5.4): its
// new station entry never ran EAP. A PMKSA-cache resumption reuses the
// PMK of an EAP authentication at this AP, and FT between two BSSes of
// this AP's hostapd the PMK-R0 derived from one, so the station is the
// identity it authenticated with here before. The monitor remembers that
// identity per station and gives it to a fast reassociation that comes
// without one. The resumption itself proves the station holds the keys of
// that authentication: a spoofed MAC cannot borrow it.

const (
	// maxIdentities bounds the identities remembered (above hostapd's
	// default max_num_sta, 2007).
	maxIdentities = 4096
	// identityTTL: an identity older than a PMK can live is not used.
	// hostapd's dot11RSNAConfigPMKLifetime default is 43200 s.
	identityTTL = 12 * time.Hour
)

type rememberedIdentity struct {
	identity string
	at       time.Time
}

// identities is the monitor's memory of its stations' identities, shared
// by its BSSs.
type identities struct {
	mu sync.Mutex
	m  map[macKey]rememberedIdentity
}

// remember records the identity a station authenticated with.
func (c *identities) remember(mac []byte, identity string, now time.Time) {
	if identity == "" || len(mac) != 6 {
		return
	}
	var k macKey
	copy(k[:], mac)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[macKey]rememberedIdentity{}
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= maxIdentities {
		c.evictLocked(now)
	}
	c.m[k] = rememberedIdentity{identity: identity, at: now}
}

// evictLocked drops the expired entries, or failing that the oldest.
func (c *identities) evictLocked(now time.Time) {
	var oldest macKey
	var oldestAt time.Time
	for k, v := range c.m {
		if now.Sub(v.at) > identityTTL {
			delete(c.m, k)
			continue
		}
		if oldestAt.IsZero() || v.at.Before(oldestAt) {
			oldest, oldestAt = k, v.at
		}
	}
	if len(c.m) >= maxIdentities {
		delete(c.m, oldest)
	}
}

// lookup returns the identity the station last authenticated with, if
// not older than identityTTL.
func (c *identities) lookup(mac []byte, now time.Time) (string, bool) {
	if len(mac) != 6 {
		return "", false
	}
	var k macKey
	copy(k[:], mac)
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok || now.Sub(v.at) > identityTTL {
		return "", false
	}
	return v.identity, true
}

func (c *identities) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
