package transport_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/transport"
)

// A kernel with CONFIG_IPV6_MIP6 (Debian's, test tier 3) validates a
// Mobility Header before any raw socket sees it (mip6_mh_filter: Payload
// Proto must be IPPROTO_NONE, RFC 6275 6.1.1; Header Len at least the
// type's minimum) and drops bad ones. This host's kernel, and many OpenWrt
// builds, lack it and deliver them, which is why the engines validate
// everything themselves. The test pins down whichever the running kernel
// does, and insists that the QEMU guest's stock kernel filters.
//
//	[ns mag] raw ip6:135 ── veth ── raw ip6:135 [ns lma]
//	  Payload Proto 6 (bad), then a good PBU: which arrives first?
func TestNamespaceMalformedMH(t *testing.T) {
	magNS, lmaNS := twoNamespaces(t)
	filters := kernelHasMIP6(t)
	if nstest.InVM() && !filters {
		t.Fatal("the QEMU guest's Debian kernel should have CONFIG_IPV6_MIP6")
	}
	mag := inNS(t, magNS, func() (*transport.RawConn, error) { return transport.ListenRaw(magAddr6, transport.Options{}) })
	lma := inNS(t, lmaNS, func() (*transport.RawConn, error) { return transport.ListenRaw(lmaAddr6, transport.Options{}) })
	settle(t, mag, lma)

	bad := goldenPBU()
	bad[0] = 6 // Payload Proto TCP: RFC 6275 6.1.1 requires 59
	if err := mag.WriteTo(bad, lma.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if err := mag.WriteTo(goldenPBU(), lma.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	got, _ := readTimeout(t, lma, 10*time.Second)
	switch delivered := got[0] == 6; {
	case filters && delivered:
		t.Fatal("a kernel with CONFIG_IPV6_MIP6 delivered a Mobility Header with Payload Proto 6")
	case !filters && !delivered:
		t.Fatal("a kernel without CONFIG_IPV6_MIP6 dropped a malformed Mobility Header: the engines' validation is untested here")
	}
	t.Logf("kernel has CONFIG_IPV6_MIP6: %v; malformed header delivered: %v", filters, !filters)
}

// kernelHasMIP6 reports whether the running kernel validates Mobility
// Headers: CONFIG_IPV6_MIP6, built in or loaded, puts mip6_mh_filter in
// the symbol table.
func kernelHasMIP6(t *testing.T) bool {
	b, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		t.Fatalf("cannot tell whether the kernel has CONFIG_IPV6_MIP6: %v", err)
	}
	return bytes.Contains(b, []byte(" mip6_mh_filter"))
}
