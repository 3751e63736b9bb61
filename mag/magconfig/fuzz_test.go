package magconfig

import (
	"errors"
	"os"
	"testing"

	"github.com/openpmip/pmip/internal/uci"
)

// FuzzParse: any file gives a Config or errors that are all *uci.Error
// (file:line: message), never a panic; an accepted Config is consistent.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../docs/mag.conf.example", "../../build/openwrt/pmip/files/pmip.config"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("config mag m\noption transport ipv4\noption lma_ipv4_address 192.0.2.1\nlist proxy_coa 192.0.2.2\nconfig access a\noption interface x\noption att 255\nconfig policy\noption mac_identifier eui48\nconfig client\noption mac 02:00:00:00:00:01\noption serve 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			for _, e := range unjoin(err) {
				var ue *uci.Error
				if !errors.As(e, &ue) {
					t.Fatalf("error %q is %T, not *uci.Error", e, e)
				}
			}
			return
		}
		if len(c.Access) == 0 {
			t.Fatal("accepted a configuration without access links")
		}
		switch c.Transport {
		case TransportIPv6:
			if !c.LMAAddress.Is6() || !c.ProxyCoA.Is6() {
				t.Fatalf("IPv6 transport without IPv6 addresses: %v %v", c.LMAAddress, c.ProxyCoA)
			}
		case TransportIPv4:
			if !c.LMAIPv4Address.Is4() || !c.IPv4ProxyCoA.Is4() {
				t.Fatalf("IPv4 transport without IPv4 addresses: %v %v", c.LMAIPv4Address, c.IPv4ProxyCoA)
			}
		default:
			t.Fatalf("transport %q", c.Transport)
		}
		if c.BindingLifetime%BindingLifetimeUnit != 0 || c.BindingLifetime <= 0 {
			t.Fatalf("binding lifetime %v", c.BindingLifetime)
		}
		p := c.ClientPolicy([]byte{2, 0, 0, 0, 0, 1}, "")
		if len(p.MNID) == 0 {
			t.Fatal("empty Mobile Node Identifier")
		}
	})
}
