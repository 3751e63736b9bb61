package dhcpserver

import (
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// TestFilters runs the kernel filters' match programs in x/net/bpf's VM
// (which lacks the packet-type extension that withoutForeign adds).
func TestFilters(t *testing.T) {
	src := mac{2, 1, 2, 3, 4, 5}
	any4, bc := netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255})
	dhcp := appendUDPFrame(nil, src, broadcastMAC, any4, bc, 68, 67, make([]byte, 300))
	toClient := appendUDPFrame(nil, src, broadcastMAC, any4, bc, 67, 68, make([]byte, 300))
	frag := append([]byte(nil), dhcp...)
	frag[etherHeaderLen+6] = 0x20 // MF
	withOpts := append(append(append([]byte(nil), dhcp[:etherHeaderLen]...), 0x46), dhcp[etherHeaderLen+1:etherHeaderLen+20]...)
	withOpts = append(append(withOpts, 1, 1, 1, 0), dhcp[etherHeaderLen+20:]...) // 4 bytes of NOP options, IHL 6
	tcp := append([]byte(nil), dhcp...)
	tcp[etherHeaderLen+9] = 6
	arpReq := make([]byte, arpFrameLength)
	arpReq[12], arpReq[13], arpReq[21] = 0x08, 0x06, arpOpRequest
	arpRep := append([]byte(nil), arpReq...)
	arpRep[21] = arpOpReply

	run := func(prog []bpf.Instruction, frame []byte) bool {
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(frame)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	for _, tc := range []struct {
		name  string
		prog  []bpf.Instruction
		frame []byte
		want  bool
	}{
		{"dhcp to server", dhcpMatch(), dhcp, true},
		{"dhcp with ip options", dhcpMatch(), withOpts, true},
		{"dhcp to client", dhcpMatch(), toClient, false},
		{"fragment", dhcpMatch(), frag, false},
		{"tcp", dhcpMatch(), tcp, false},
		{"arp on dhcp", dhcpMatch(), arpReq, false},
		{"arp request", arpMatch(), arpReq, true},
		{"arp reply", arpMatch(), arpRep, false},
		{"ip on arp", arpMatch(), dhcp, false},
	} {
		if got := run(tc.prog, tc.frame); got != tc.want {
			t.Errorf("%s: accepted %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := dhcpFilter(); err != nil {
		t.Error(err)
	}
	if _, err := arpFilter(); err != nil {
		t.Error(err)
	}
}
