//go:build !linux

package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv6"
)

// batchIO runs ReadBatch and WriteBatch over x/net for one socket. Scratch
// space (the x/net message headers and the destination addresses) comes
// from pools, so concurrent callers never wait on each other and a
// steady-state caller allocates nothing for it.
type batchIO struct {
	pc   batcher
	size int
	udp  bool // destination addresses are *net.UDPAddr, else *net.IPAddr

	reads  sync.Pool // *readScratch
	writes sync.Pool // *writeScratch
}

type readScratch struct {
	ms []ipv6.Message
}

type writeScratch struct {
	ms    []ipv6.Message
	ip    []net.IPAddr
	udp   []net.UDPAddr
	bytes [][16]byte
}

func newBatchIO(pc batcher, size int, udp bool) *batchIO {
	b := &batchIO{pc: pc, size: size, udp: udp}
	b.reads.New = func() any {
		s := &readScratch{ms: make([]ipv6.Message, size)}
		for i := range s.ms {
			s.ms[i].Buffers = make([][]byte, 1)
		}
		return s
	}
	b.writes.New = func() any {
		s := &writeScratch{
			ms:    make([]ipv6.Message, size),
			bytes: make([][16]byte, size),
		}
		if udp {
			s.udp = make([]net.UDPAddr, size)
		} else {
			s.ip = make([]net.IPAddr, size)
		}
		for i := range s.ms {
			s.ms[i].Buffers = make([][]byte, 1)
			if udp {
				s.ms[i].Addr = &s.udp[i]
			} else {
				s.ms[i].Addr = &s.ip[i]
			}
		}
		return s
	}
	return b
}

// readBatch fills msgs[:n] with at most b.size messages (one system call).
func (b *batchIO) readBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	if len(msgs) > b.size {
		msgs = msgs[:b.size]
	}
	s := b.reads.Get().(*readScratch)
	defer b.reads.Put(s)
	ms := s.ms[:len(msgs)]
	for i := range msgs {
		ms[i].Buffers[0] = msgs[i].Buf
		ms[i].Addr = nil
		ms[i].N, ms[i].NN, ms[i].Flags = 0, 0, 0
	}
	n, err := b.pc.ReadBatch(ms, 0)
	if n < 0 {
		n = 0 // x/net passes recvmmsg's -1 through on error
	}
	for i := 0; i < n; i++ {
		msgs[i].N = ms[i].N
		msgs[i].Truncated = ms[i].Flags&msgTrunc != 0
		msgs[i].Addr = addrPortOf(ms[i].Addr)
	}
	for i := range ms {
		ms[i].Buffers[0] = nil // do not keep the caller's buffers alive
		ms[i].Addr = nil
	}
	if err != nil {
		return n, wrapClosed("read batch", err)
	}
	return n, nil
}

// writeBatch sends every message, as many system calls as it takes.
// op names the operation in errors ("write" for WriteTo).
func (b *batchIO) writeBatch(op string, msgs []Message, check func(netip.AddrPort) error) (int, error) {
	sent := 0
	s := b.writes.Get().(*writeScratch)
	defer b.writes.Put(s)
	for sent < len(msgs) {
		chunk := msgs[sent:]
		if len(chunk) > b.size {
			chunk = chunk[:b.size]
		}
		ms := s.ms[:len(chunk)]
		for i, m := range chunk {
			if m.N < 0 || m.N > len(m.Buf) || m.N > MaxMessageLen {
				return sent + i, fmt.Errorf("transport: batch entry %d: %w", sent+i, ErrMessageTooLong)
			}
			if err := check(m.Addr); err != nil {
				return sent + i, fmt.Errorf("transport: batch entry %d: %w", sent+i, err)
			}
			ms[i].Buffers[0] = m.Buf[:m.N]
			s.setAddr(i, m.Addr)
		}
		n, err := b.pc.WriteBatch(ms, 0)
		for i := range ms {
			ms[i].Buffers[0] = nil
		}
		if n < 0 {
			n = 0 // x/net passes sendmmsg's -1 through on error
		}
		sent += n
		if err != nil {
			return sent, wrapClosed(op, err)
		}
		if n == 0 {
			return sent, errors.New("transport: write batch: kernel sent nothing")
		}
	}
	return sent, nil
}

// setAddr writes a destination into slot i without allocating: the slot's
// net.IPAddr or net.UDPAddr points at the slot's own 16 bytes.
func (s *writeScratch) setAddr(i int, ap netip.AddrPort) {
	a := ap.Addr()
	if s.udp != nil {
		a = a.Unmap()
	}
	var ip net.IP
	if a.Is4() {
		b4 := a.As4()
		copy(s.bytes[i][:4], b4[:])
		ip = s.bytes[i][:4]
	} else {
		s.bytes[i] = a.As16()
		ip = s.bytes[i][:]
	}
	if s.udp != nil {
		s.udp[i] = net.UDPAddr{IP: ip, Port: int(ap.Port()), Zone: a.Zone()}
	} else {
		s.ip[i] = net.IPAddr{IP: ip, Zone: a.Zone()}
	}
}
