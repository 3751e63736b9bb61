package magconfig

import (
	"bytes"
	"encoding/hex"
	"net"
)

// ClientPolicy is what the MAG does for one attaching client.
type ClientPolicy struct {
	// Serve is false when the client must not be registered.
	Serve bool
	// MNIDType and MNID are the Mobile Node Identifier option's subtype
	// and identifier (RFC 5213 8.1 via RFC 4283 3; RFC 8371 4.4).
	MNIDType MNIDType
	MNID     []byte
	// IPv6 and IPv4 say which home addressing the PBU requests: Home
	// Network Prefix option (RFC 5213 6.9.1.1) and IPv4 Home Address
	// Request option (RFC 5844 3.1.1).
	IPv6, IPv4 bool
}

// ClientPolicy decides how the client with this MAC is registered.
// identity is the 802.1x identity hostapd reported, "" if none.
//
// Order: a `config client` for the MAC wins (its identifier if set);
// else the 802.1x identity becomes the NAI when the policy allows it and
// it fits the option; else the identifier is derived from the MAC as the
// policy says: <mac>@<realm> (12 lowercase hex digits) or the EUI-48.
func (c *Config) ClientPolicy(mac net.HardwareAddr, identity string) ClientPolicy {
	p := ClientPolicy{Serve: true, IPv6: c.Policy.IPv6, IPv4: c.Policy.IPv4}
	for _, cl := range c.Clients {
		if !bytes.Equal(cl.MAC, mac) {
			continue
		}
		p.Serve, p.IPv6, p.IPv4 = cl.Serve, cl.IPv6, cl.IPv4
		if cl.Identifier != "" {
			p.MNIDType, p.MNID = MNIDNAI, []byte(cl.Identifier)
			return p
		}
		break
	}
	if c.Policy.Use8021XIdentity && validNAI(identity) {
		p.MNIDType, p.MNID = MNIDNAI, []byte(identity)
		return p
	}
	p.MNIDType, p.MNID = MACIdentifier(c.Policy, mac)
	return p
}

// IdentityMatters reports whether an 802.1X identity hostapd may report
// for the client with this MAC would become its Mobile Node Identifier:
// the policy uses identities, and no `config client` for the MAC names
// an identifier or refuses service. When it does not, waiting for
// hostapd (IdentityWait) gains nothing.
func (c *Config) IdentityMatters(mac net.HardwareAddr) bool {
	if !c.Policy.Use8021XIdentity {
		return false
	}
	for _, cl := range c.Clients {
		if bytes.Equal(cl.MAC, mac) {
			return cl.Serve && cl.Identifier == ""
		}
	}
	return true
}

// MACIdentifier derives the Mobile Node Identifier from a MAC address as
// the policy says.
func MACIdentifier(p Policy, mac net.HardwareAddr) (MNIDType, []byte) {
	if p.MACIdentifier == MNIDEUI48 {
		// RFC 8371 4.4: the identifier is the 6-octet EUI-48 itself.
		return MNIDEUI48, append([]byte(nil), mac...)
	}
	// RFC 7542 2.2's username excludes ':', so the MAC is written as bare
	// hex digits.
	return MNIDNAI, []byte(hex.EncodeToString(mac) + "@" + p.Realm)
}
