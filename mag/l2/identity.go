package l2

import (
	"net"
	"net/netip"
)

// The fixed router identity every MAG of a PMIPv6 domain presents on its
// access links (RFC 5213 6.9.3: all mobile access gateways use the same
// link-local address and the same link-layer address, so a mobile node
// that moves between them sees no change of default router). RFC 6543
// reserves these for the purpose: the IANA Ethernet address
// 00-00-5E-00-52-13 and the interface identifier 0200:5EFF:FE00:5213
// derived from it (RFC 6543 2, 3), which no host derives for itself, so
// the MAG's link-local address never collides with a client's. Do not
// modify them.
var (
	FixedRouterMAC       = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x52, 0x13}
	FixedRouterLinkLocal = netip.MustParseAddr("fe80::200:5eff:fe00:5213")
)
