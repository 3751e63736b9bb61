// Package transport carries Mobility Header messages between a mobile
// access gateway and a local mobility anchor. Both daemons share it.
//
// Two carriers implement one interface, Conn:
//
//	Raw    IPv6 | Mobility Header (next header 135)         RFC 6275 6.1, RFC 5213
//	UDP    IPv4 | UDP (dst port 5436) | Mobility Header     RFC 5844 4
//
// The transport hands whole messages as bytes. It neither parses nor
// validates them: that is the engines' job (internal/mh). In particular a
// host whose kernel lacks CONFIG_IPV6_MIP6 delivers malformed Mobility
// Headers (bad length, unknown type) to the raw socket unchanged.
//
// Batching: the local mobility anchor must answer tens of thousands of
// Proxy Binding Updates per second, so every Conn also reads and writes
// batches: recvmmsg/sendmmsg on Linux, called directly on the socket
// (mmsg_linux.go), elsewhere through golang.org/x/net's ipv4 and ipv6
// PacketConn. Batch calls reuse the caller's buffers and the connection's
// own scratch space; on Linux a steady-state batch allocates nothing.
//
// Arrival times: with Options.Timestamps the kernel stamps every message
// as it is received, and ReadBatch reports the stamp (Message.Time), so
// that time spent queued in the socket before the reader got to it is
// seen, not hidden.
package transport

import (
	"errors"
	"net/netip"
	"time"
)

// Protocol numbers and ports of the two carriers, named as the RFCs name
// them.
const (
	// ProtoMH is the IPv6 next-header value of the Mobility Header
	// (RFC 6275 6.1, IANA protocol 135).
	ProtoMH = 135

	// ChecksumOffset is where the 16-bit checksum sits in a Mobility Header
	// (RFC 6275 6.1.1: Payload Proto, Header Len, MH Type, Reserved,
	// Checksum). The raw carrier asks the kernel to fill and verify it there.
	ChecksumOffset = 4

	// Port is the UDP port of Proxy Mobile IPv6 signalling over an IPv4
	// transport network (RFC 5844 4 and 10, IANA "pmip6-cntl").
	Port = 5436

	// MinHeaderLen is the shortest Mobility Header there can be: one
	// 8-octet unit (RFC 6275 6.1.1, Header Len counts 8-octet units
	// beyond the first).
	MinHeaderLen = 8

	// MaxMessageLen is the largest message the carriers read: the
	// Mobility Header's Header Len is 8 bits counting 8-octet units,
	// so (255+1)*8 octets (RFC 6275 6.1.1).
	MaxMessageLen = (255 + 1) * 8

	// DefaultBatchSize is how many messages one ReadBatch or WriteBatch
	// moves through one system call unless Options say otherwise.
	DefaultBatchSize = 64
)

// Conn is a Mobility Header signalling socket.
//
// Each read returns exactly one whole Mobility Header message and each
// write sends one: the carriers are datagram-oriented, a message never
// spans two reads. Addresses are netip.AddrPort; on the raw IPv6 carrier
// the port is always 0 and is ignored when writing. On the UDP/IPv4
// carrier it is the peer's UDP port, and a reply must go to the port the
// request came from (RFC 5844 4).
//
// All methods are safe for concurrent use. Close unblocks pending reads,
// which then return an error satisfying errors.Is(err, net.ErrClosed).
type Conn interface {
	// ReadFrom reads one message into b and returns its length and
	// sender. If b is too short the message is cut, n is len(b), and the
	// error wraps ErrTruncated; the connection remains usable.
	ReadFrom(b []byte) (n int, from netip.AddrPort, err error)

	// WriteTo sends b as one message to the peer. On the raw carrier the
	// kernel fills the checksum whatever b holds at ChecksumOffset.
	WriteTo(b []byte, to netip.AddrPort) error

	// ReadBatch blocks until at least one message arrives, then fills up
	// to len(msgs) messages without blocking further. It returns how many
	// it filled. Each msgs[i].Buf is the caller's buffer; on return
	// msgs[i].N, .Addr and .Truncated describe what arrived.
	ReadBatch(msgs []Message) (int, error)

	// WriteBatch sends msgs[i].Buf[:msgs[i].N] to msgs[i].Addr for every
	// message, in order. It returns how many were sent; on error that is
	// the index of the first message not sent.
	WriteBatch(msgs []Message) (int, error)

	// BatchSize is the number of messages one system call moves; callers
	// size their msgs slices with it. Larger slices are split.
	BatchSize() int

	// LocalAddr is the bound address (port 0 on the raw carrier).
	LocalAddr() netip.AddrPort

	// Close closes the socket. It is safe to call more than once.
	Close() error
}

// Message is one entry of a batch.
type Message struct {
	// Buf is the caller's buffer: filled when reading (its length is the
	// capacity offered), sent as Buf[:N] when writing.
	Buf []byte
	// N is the message length: received bytes after ReadBatch, bytes to
	// send for WriteBatch.
	N int
	// Addr is the sender after ReadBatch, the destination for WriteBatch.
	Addr netip.AddrPort
	// Truncated reports, after ReadBatch, that the message was longer
	// than Buf and was cut to len(Buf). Engines drop such messages.
	Truncated bool
	// Time is, after ReadBatch on a Conn opened with Options.Timestamps,
	// when the kernel received the message (SO_TIMESTAMPNS, wall clock):
	// its arrival, before any time it spent queued in the socket waiting
	// for the reader. Zero when not asked for or not available.
	Time time.Time
}

// Options tune a carrier. The zero value is ready to use.
type Options struct {
	// BatchSize bounds the messages moved per system call (default
	// DefaultBatchSize). The Linux kernel caps it at 1024 (UIO_MAXIOV).
	BatchSize int
	// ReadBuffer and WriteBuffer set SO_RCVBUF and SO_SNDBUF when
	// positive. An LMA under load wants a large ReadBuffer (MBs): a raw
	// socket drops what does not fit, and the MAG retransmits.
	ReadBuffer  int
	WriteBuffer int
	// Timestamps asks the kernel to stamp each received message with its
	// arrival time, which ReadBatch reports in Message.Time (Linux only:
	// elsewhere opening the Conn fails; a Linux kernel or emulator that
	// refuses SO_TIMESTAMPNS leaves Time zero). A daemon measures from it how
	// long a message waited in the socket, and checks a PBU's Timestamp
	// option against the moment it was really received (RFC 5213 5.5).
	Timestamps bool
}

func (o Options) batchSize() (int, error) {
	switch {
	case o.BatchSize == 0:
		return DefaultBatchSize, nil
	case o.BatchSize < 0 || o.BatchSize > maxBatch:
		return 0, errors.New("transport: batch size must be between 1 and 1024")
	}
	return o.BatchSize, nil
}

// maxBatch is the kernel's limit on messages per recvmmsg/sendmmsg call
// (UIO_MAXIOV).
const maxBatch = 1024

// Errors of this package.
var (
	// ErrTruncated is returned when a message did not fit the read buffer.
	ErrTruncated = errors.New("transport: message truncated")
	// ErrAddressFamily is returned when an address does not fit the
	// carrier: IPv4 on the raw IPv6 carrier, IPv6 on UDP/IPv4.
	ErrAddressFamily = errors.New("transport: address family does not match the carrier")
	// ErrMessageTooLong is returned for a message longer than
	// MaxMessageLen or a batch entry whose N exceeds its Buf.
	ErrMessageTooLong = errors.New("transport: message too long")
)
