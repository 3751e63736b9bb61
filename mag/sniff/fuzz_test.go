package sniff

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
	"github.com/openpmip/pmip/mag/l2"
	"github.com/openpmip/pmip/mag/l2/l2test"
)

// FuzzClassify feeds arbitrary frames, as they come and with their
// checksums repaired (so mutations get past them), to the trigger parser
// and the sniffer. Nothing may panic; a frame that userspace takes for a
// trigger must also pass the kernel filter whole (or the kernel would hide
// real attachments); state stays within its bounds.
func FuzzClassify(f *testing.F) {
	for _, tc := range frameCases() {
		f.Add(tc.frame)
	}
	prog := buildFilter([]mac{mac(macB)})
	f.Fuzz(func(t *testing.T, frame []byte) {
		conn := l2test.New()
		if err := conn.SetFilter(prog); err != nil {
			t.Fatal(err)
		}
		attaches := 0
		s, err := New(Config{Conn: conn, Clock: clocktest.New(t0), MaxPending: 2,
			OnAttach: func(Trigger) { attaches++ }, DetachTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, fr := range [][]byte{frame, repaired(frame)} {
			if fr == nil {
				continue
			}
			tr, err := classify(fr)
			if err == nil {
				if n := conn.Pass(fr); n != len(fr) {
					t.Fatalf("trigger %+v from %x: filter passes %d of %d bytes", tr, fr, n, len(fr))
				}
				if tr.Kind == 0 || len(tr.MAC) != 6 {
					t.Fatalf("trigger without kind or MAC: %+v", tr)
				}
			}
			s.HandleFrame(fr)
			if n := conn.Pass(fr); n > 0 {
				s.HandleFrame(fr[:n])
			}
		}
		if s.Pending() > 2 || attaches > 2 {
			t.Fatalf("%d pending, %d attaches: bounds broken", s.Pending(), attaches)
		}
	})
}

// repaired returns a copy of frame with its ICMPv6, or IPv4 header and UDP,
// checksums recomputed, or nil when it has neither.
func repaired(frame []byte) []byte {
	eth, err := l2.ParseEthernet(frame)
	if err != nil {
		return nil
	}
	b := bytes.Clone(frame)
	switch eth.EtherType {
	case l2.EtherTypeIPv6:
		ip, err := l2.ParseIPv6(b[14:])
		if err != nil || len(ip.Payload) < 4 {
			return nil
		}
		ip.Payload[2], ip.Payload[3] = 0, 0
		binary.BigEndian.PutUint16(ip.Payload[2:], l2.Checksum(ip.Src, ip.Dst, 58, ip.Payload))
	case l2.EtherTypeIPv4:
		p := b[14:]
		if len(p) < 20 {
			return nil
		}
		ihl := int(p[0]&0xf) * 4
		if ihl < 20 || len(p) < ihl+8 {
			return nil
		}
		p[10], p[11] = 0, 0
		binary.BigEndian.PutUint16(p[10:], ^onesSum(p[:ihl]))
		p[ihl+6], p[ihl+7] = 0, 0 // UDP: no checksum (RFC 768)
	default:
		return nil
	}
	return b
}
