package lmaconfig

import (
	"net"
	"strings"

	"github.com/openpmip/pmip/internal/uci"
)

type matchType int

const (
	matchNAI   matchType = iota // an exact NAI
	matchRealm                  // *@realm
	matchAll                    // *
	matchEUI48                  // a MAC address: RFC 8371 4.4 identifier
)

// matchKind classifies a policy's match option.
func matchKind(m string) (matchType, bool) {
	switch {
	case m == "*":
		return matchAll, true
	case strings.HasPrefix(m, "*@"):
		return matchRealm, validRealm(m[2:])
	case strings.Contains(m, "*"):
		return 0, false
	}
	if _, ok := uci.ParseMAC(m); ok {
		return matchEUI48, true
	}
	return matchNAI, validNAI(m)
}

// validNAI accepts an identifier fit for the NAI Mobile Node Identifier
// (RFC 4283 3, RFC 7542): non-empty, printable, no blanks, at most 253
// octets.
func validNAI(s string) bool {
	if s == "" || len(s) > MaxNAILength {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// validRealm checks RFC 7542 2.2's realm: dot-separated labels of letters,
// digits and hyphens, not starting or ending with a hyphen.
func validRealm(r string) bool {
	if r == "" || len(r) > MaxNAILength-2 {
		return false
	}
	for _, l := range strings.Split(r, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			ch := l[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

// Lookup returns the policy for a mobile node identifier: an exact match
// first, then the `*@realm` of the NAI's realm (realms compare without
// case, RFC 7542 2.4), then `*`. ok is false for an unknown mobile node,
// which the LMA refuses with status 152 (RFC 5213 5.3.1).
func (c *Config) Lookup(typ MNIDType, id []byte) (p *Policy, ok bool) {
	var exact, realm, all *Policy
	var key string
	switch typ {
	case MNIDNAI:
		key = string(id)
	case MNIDEUI48:
		if len(id) != 6 {
			return nil, false
		}
		key = net.HardwareAddr(id).String()
	default:
		key = "" // only * matches other identifier types
	}
	var naiRealm string
	if typ == MNIDNAI {
		if at := strings.LastIndexByte(key, '@'); at >= 0 {
			naiRealm = key[at+1:]
		}
	}
	for i := range c.Policies {
		pol := &c.Policies[i]
		switch kind, _ := matchKind(pol.Match); kind {
		case matchNAI:
			if typ == MNIDNAI && pol.Match == key {
				exact = pol
			}
		case matchEUI48:
			if typ == MNIDEUI48 && pol.Match == key {
				exact = pol
			}
		case matchRealm:
			if naiRealm != "" && strings.EqualFold(pol.Match[2:], naiRealm) {
				realm = pol
			}
		case matchAll:
			all = pol
		}
	}
	for _, p := range []*Policy{exact, realm, all} {
		if p != nil {
			return p, true
		}
	}
	return nil, false
}
