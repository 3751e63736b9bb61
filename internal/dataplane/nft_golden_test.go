package dataplane

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/openpmip/pmip/internal/nft"
)

// TestNFTMessagesAsGoogleNFTables: every nf_tables message the data plane
// sends (the table's whole transaction, its deletion, each kind of
// element added and deleted, a batch of elements) is byte for byte what
// github.com/google/nftables v0.3.0 sent for the same objects before
// internal/nft replaced it. testdata/nft/google-nftables-v0.3.0.txt was
// captured from the code of commit cad2c94 (which built them with that
// library) through a fake netlink socket: per message its type, flags
// and payload. Normalised: google/nftables asks NLM_F_ECHO for a rule
// (we do not read rules back) and names the set by ID 0
// (NFTA_SET_ELEM_LIST_SET_ID) in element messages of a set it does not
// create; neither changes what the kernel does.
func TestNFTMessagesAsGoogleNFTables(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the golden file was captured on a little-endian host (attribute headers, meta iiftype, marks)")
	}
	want := readNFTGolden(t)
	got := map[string][]string{}
	capture := func(name string, existing bool, fn func(n *nftKernel) error) {
		var lines []string
		c := nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
			if reqs == nil {
				return nil, nil
			}
			var replies []netlink.Message
			for _, r := range reqs {
				lines = append(lines, fmt.Sprintf("%04x %04x %s", uint16(r.Header.Type), uint16(r.Header.Flags), hex.EncodeToString(r.Data)))
				if r.Header.Flags&netlink.Dump != 0 {
					if existing {
						tb := &nft.NewTable{Family: nft.FamilyINet, Name: "pmip"}
						m := nft.Marshal(tb)
						m.Header.Sequence, m.Header.Flags = r.Header.Sequence, netlink.Multi
						replies = append(replies, m)
					}
					replies = append(replies, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: r.Header.Sequence}, Data: make([]byte, 4)})
					continue
				}
				if r.Header.Flags&netlink.Acknowledge != 0 {
					replies = append(replies, netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: r.Header.Sequence}, Data: make([]byte, 20)})
				}
			}
			return replies, nil
		})
		n := &nftKernel{conn: nft.NewConn(c), table: "pmip"}
		if err := fn(n); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		got[name] = lines
	}
	capture("table add", false, func(n *nftKernel) error { return n.table0(Add) })
	capture("table del", true, func(n *nftKernel) error { return n.table0(Del) })
	mac1 := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	ops := []struct {
		name string
		op   Op
	}{
		{"access", Op{Add, AccessIface("wlan0")}},
		{"src6h", Op{Add, Source{MAC: mac1, Prefix: pfx("2001:db8:1::/64")}}},
		{"src6", Op{Add, Source{MAC: mac1, Prefix: pfx("2001:db8:100::/56")}}},
		{"src4", Op{Add, Source{MAC: mac1, Prefix: pfx("10.1.0.5/32")}}},
		{"flow6", Op{Add, Flow{Src: pfx("::/0"), Dst: pfx("2001:db8:1::/64"), Proto: 6, DstPortFrom: 80, DstPortTo: 80, Mark: 0x10}}},
		{"flow4", Op{Add, Flow{Src: pfx("192.0.2.0/24"), Dst: pfx("10.1.0.5/32"), Mark: 0x11}}},
		{"tunnel", Op{Add, TunnelIface("pmip6abc")}},
		{"tsrc6h", Op{Add, TunnelSource{Dev: "pmip6abc", Prefix: pfx("2001:db8:1::/64")}}},
		{"tsrc6", Op{Add, TunnelSource{Dev: "pmip6abc", Prefix: pfx("2001:db8:1::/56")}}},
		{"tsrc4", Op{Add, TunnelSource{Dev: "pmip6abc", Prefix: pfx("10.1.0.5/32")}}},
		{"grepeer6", Op{Add, GREPeer(addr("2001:db8:ff::2"))}},
		{"grepeer4", Op{Add, GREPeer(addr("192.0.2.2"))}},
		{"gsrc66h", Op{Add, GRESource{Peer: addr("2001:db8:ff::2"), Key: 100, Prefix: pfx("2001:db8:1::/64")}}},
		{"gsrc66", Op{Add, GRESource{Peer: addr("2001:db8:ff::2"), Key: 100, Prefix: pfx("2001:db8:1::/60")}}},
		{"gsrc64", Op{Add, GRESource{Peer: addr("2001:db8:ff::2"), Key: 7, Prefix: pfx("10.1.0.5/32")}}},
		{"gsrc46h", Op{Add, GRESource{Peer: addr("192.0.2.2"), Key: 9, Prefix: pfx("2001:db8:2::/64")}}},
		{"gsrc46", Op{Add, GRESource{Peer: addr("192.0.2.2"), Key: 9, Prefix: pfx("2001:db8:2::/56")}}},
		{"gsrc44", Op{Add, GRESource{Peer: addr("192.0.2.2"), Key: 1, Prefix: pfx("10.1.0.7/32")}}},
	}
	for _, o := range ops {
		capture("add "+o.name, false, func(n *nftKernel) error { return n.apply(o.op) })
		d := o.op
		d.Action = Del
		capture("del "+o.name, false, func(n *nftKernel) error { return n.apply(d) })
	}
	capture("batch", false, func(n *nftKernel) error {
		return n.elements([]Op{ops[1].op, {Del, ops[3].op.Obj}, ops[7].op, ops[12].op})
	})

	if len(got) != len(want) {
		t.Errorf("%d captures, the golden file has %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Errorf("%s: %d messages, google/nftables sent %d", name, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s: message %d\n got %s\nwant %s", name, i, g[i], w[i])
			}
		}
	}
}

// readNFTGolden reads the captures, normalised (see above).
func readNFTGolden(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/nft/google-nftables-v0.3.0.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	var name string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "# "); ok {
			name = n
			out[name] = []string{}
			continue
		}
		var typ, flags uint16
		var data string
		if _, err := fmt.Sscanf(line, "%04x %04x %s", &typ, &flags, &data); err != nil {
			t.Fatalf("golden line %q: %v", line, err)
		}
		const echo = 0x8 // NLM_F_ECHO
		flags &^= echo
		b, err := hex.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		if typ == 0x0a0c || typ == 0x0a0e { // NEWSETELEM, DELSETELEM
			b = dropAttr(b, 4, []byte{0, 0, 0, 0}) // NFTA_SET_ELEM_LIST_SET_ID 0
		}
		out[name] = append(out[name], fmt.Sprintf("%04x %04x %s", typ, flags, hex.EncodeToString(b)))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dropAttr removes the top-level attribute typ with value v from a
// message payload (nfgenmsg, then attributes).
func dropAttr(b []byte, typ uint16, v []byte) []byte {
	out := append([]byte(nil), b[:4]...)
	for rest := b[4:]; len(rest) >= 4; {
		n := int(binary.NativeEndian.Uint16(rest))
		padded := (n + 3) &^ 3
		if n < 4 || padded > len(rest) {
			return append(out, rest...)
		}
		if !(binary.NativeEndian.Uint16(rest[2:]) == typ && bytes.Equal(rest[4:n], v)) {
			out = append(out, rest[:padded]...)
		}
		rest = rest[padded:]
	}
	return out
}
