package nft

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conn is a NETLINK_NETFILTER socket. Like every netlink socket it is
// bound to the network namespace of the thread that opened it. Not safe
// for concurrent use.
type Conn struct {
	c *netlink.Conn
	// rcvbuf is the receive buffer asked for so far (0: the system's
	// default, net.core.rmem_default).
	rcvbuf int
}

// Dial opens a netfilter netlink socket in the calling thread's network
// namespace.
func Dial() (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	// The kernel's own words on a refused request reach our errors.
	_ = c.SetOption(netlink.ExtendedAcknowledge, true)
	return &Conn{c: c}, nil
}

// NewConn uses c, a netlink connection to NETLINK_NETFILTER (or a test
// double of one, mdlayher/netlink/nltest).
func NewConn(c *netlink.Conn) *Conn { return &Conn{c: c} }

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// ackWait bounds the reading of a transaction's acknowledgements. The
// kernel processes a batch within the sendmsg that carries it and has
// queued every acknowledgement when it returns (nfnetlink.c
// nfnetlink_rcv_batch, nfnl_err_deliver), so this is reached only when
// fewer come than were asked for: an error about the batch as a whole
// (EPERM without CAP_NET_ADMIN, ENOMEM) answers its first message alone.
const ackWait = 5 * time.Second

// ackRoom is the receive buffer one acknowledgement may take. A success
// acknowledgement is 36 bytes of netlink but takes about 800 bytes of
// socket buffer (the skb's truesize): measured on Linux 6.18, the default
// 212,992 bytes held 263-266 of them and the next ones were dropped (the
// reader then gets ENOBUFS); a refusal also carries the request back. So
// a transaction of more than about 100 messages (the LMA's batches of
// elements, 512) asks for a larger buffer first; the memory is the
// kernel's, and only while acknowledgements wait to be read.
const (
	ackRoom       = 2048
	defaultRcvbuf = 212992
)

// drainWait bounds the reading of what is left after a lost
// acknowledgement: everything the batch produced is queued already.
const drainWait = 100 * time.Millisecond

// Do sends msgs as one transaction: the kernel applies all or none
// (nfnetlink.c nfnetlink_rcv_batch goes through every message, reports
// each failure, and aborts the whole transaction if any failed). The error
// joins one error per refused message, each naming the message and
// wrapping the kernel's errno (errors.Is(err, unix.EEXIST), ENOENT,
// EBUSY ...).
func (c *Conn) Do(msgs ...Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	if need := len(msgs) * ackRoom; need > defaultRcvbuf && need > c.rcvbuf {
		// SO_RCVBUFFORCE with CAP_NET_ADMIN (which nf_tables needs
		// anyway), beyond net.core.rmem_max. If it fails, a lost
		// acknowledgement is still found out below.
		if err := c.c.SetReadBuffer(need); err == nil {
			c.rcvbuf = need
		}
	}
	if _, err := c.c.SendMessages(batch(msgs)); err != nil {
		return fmt.Errorf("nft: send: %w", err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(ackWait))
	defer func() { _ = c.c.SetReadDeadline(time.Time{}) }()
	var errs []error
	// One acknowledgement per message, in order; each comes in a
	// datagram of its own (netlink_ack).
	for i := 0; i < len(msgs); {
		replies, err := c.c.Receive()
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EWOULDBLOCK) || isTimeout(err) {
				if len(errs) == 0 {
					errs = append(errs, fmt.Errorf("nft: %d of %d acknowledgements: %w", i, len(msgs), err))
				}
				break
			}
			if errors.Is(err, unix.ENOBUFS) {
				// Acknowledgements were dropped: which messages the
				// kernel refused is unknown (the transaction as a
				// whole may have been applied). Read what is queued so
				// that the next request meets its own replies.
				errs = append(errs, fmt.Errorf("nft: %d messages, acknowledgements lost after %d: %w", len(msgs), i, err))
				c.drain(len(msgs) - i)
				break
			}
			errs = append(errs, fmt.Errorf("nft: %s: %w", msgs[i], err))
			i++
			// The kernel reports these once for the whole batch.
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOMEM) {
				c.drain(len(msgs) - i)
				break
			}
			continue
		}
		if len(replies) == 0 {
			// Not from a kernel (it would block): a test double with
			// nothing more to say.
			break
		}
		i += len(replies)
	}
	return errors.Join(errs...)
}

// drain reads and drops up to n queued replies, until none is left.
func (c *Conn) drain(n int) {
	_ = c.c.SetReadDeadline(time.Now().Add(drainWait))
	for range n {
		if _, err := c.c.Receive(); isTimeout(err) || errors.Is(err, unix.EAGAIN) {
			return
		}
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// dump sends a dump request and returns the replies of type want.
func (c *Conn) dump(m netlink.Message, want uint8) ([]netlink.Message, error) {
	replies, err := c.c.Execute(m)
	if err != nil {
		return nil, fmt.Errorf("nft: dump: %w", err)
	}
	t := netlink.HeaderType(nfnlSubsysNFTables<<8 | uint16(want))
	out := replies[:0]
	for _, r := range replies {
		if r.Header.Type == t {
			out = append(out, r)
		}
	}
	return out, nil
}

// Tables lists the tables of family (NFT_MSG_GETTABLE, a dump).
func (c *Conn) Tables(family uint8) ([]Table, error) {
	rs, err := c.dump(getMsg(msgGetTable, family, nil), msgNewTable)
	if err != nil {
		return nil, err
	}
	ts := make([]Table, 0, len(rs))
	for _, r := range rs {
		t, err := ParseTable(r.Data)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Chains lists the chains of every table of family (NFT_MSG_GETCHAIN).
func (c *Conn) Chains(family uint8) ([]Chain, error) {
	rs, err := c.dump(getMsg(msgGetChain, family, nil), msgNewChain)
	if err != nil {
		return nil, err
	}
	cs := make([]Chain, 0, len(rs))
	for _, r := range rs {
		ch, err := ParseChain(r.Data)
		if err != nil {
			return nil, err
		}
		cs = append(cs, ch)
	}
	return cs, nil
}

// Sets lists the sets of table (NFT_MSG_GETSET with NFTA_SET_TABLE).
func (c *Conn) Sets(family uint8, table string) ([]SetInfo, error) {
	rs, err := c.dump(getMsg(msgGetSet, family, func(e *enc) { e.str(setTable, table) }), msgNewSet)
	if err != nil {
		return nil, err
	}
	ss := make([]SetInfo, 0, len(rs))
	for _, r := range rs {
		s, err := ParseSet(r.Data)
		if err != nil {
			return nil, err
		}
		ss = append(ss, s)
	}
	return ss, nil
}

// Elements lists the elements of set of table (NFT_MSG_GETSETELEM with
// NFTA_SET_ELEM_LIST_TABLE and NFTA_SET_ELEM_LIST_SET).
func (c *Conn) Elements(family uint8, table, set string) ([]Element, error) {
	rs, err := c.dump(getMsg(msgGetSetElem, family, func(e *enc) {
		e.str(elemListTable, table)
		e.str(elemListSet, set)
	}), msgNewSetElem)
	if err != nil {
		return nil, err
	}
	var es []Element
	for _, r := range rs {
		_, _, part, err := ParseElements(r.Data)
		if err != nil {
			return nil, err
		}
		es = append(es, part...)
	}
	return es, nil
}
