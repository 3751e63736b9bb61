package dataplane

// SetTunnelLinkLocal has k create its tunnels with the kernel's IPv6
// link-local address (true) or without (false, the default), for tests
// that compare the two.
func (k *Netlink) SetTunnelLinkLocal(on bool) { k.tunnelLinkLocal = on }
