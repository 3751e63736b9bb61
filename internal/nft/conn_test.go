package nft

import (
	"encoding/binary"
	"errors"
	"iter"
	"os"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kernelSock answers like nfnetlink_rcv_batch: one acknowledgement per
// NLM_F_ACK message of a batch, each in a datagram of its own, with the
// errno chosen for it; or, with whole set, one error for the batch. For
// a dump it answers replies and NLMSG_DONE.
type kernelSock struct {
	sent    []netlink.Message
	errnos  map[int]unix.Errno // by index within the batch (0: first message after BEGIN)
	whole   unix.Errno
	replies []netlink.Message // to a dump
	queue   [][]netlink.Message
	// overrun: the socket's buffer overflowed while the batch's
	// acknowledgements were queued; the next read says ENOBUFS.
	overrun bool
}

func errMsg(req netlink.Message, errno unix.Errno) netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	data = append(data, make([]byte, 16)...) // the request's header
	return netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: req.Header.Sequence}, Data: data}
}

func (s *kernelSock) SendMessages(ms []netlink.Message) error {
	s.sent = append(s.sent, ms...)
	if s.whole != 0 {
		s.queue = append(s.queue, []netlink.Message{errMsg(ms[0], s.whole)})
		return nil
	}
	for i, m := range ms[1 : len(ms)-1] {
		if m.Header.Flags&netlink.Acknowledge != 0 || s.errnos[i] != 0 {
			s.queue = append(s.queue, []netlink.Message{errMsg(m, s.errnos[i])})
		}
	}
	return nil
}

func (s *kernelSock) Send(m netlink.Message) error {
	s.sent = append(s.sent, m)
	var out []netlink.Message
	for _, r := range s.replies {
		r.Header.Sequence, r.Header.PID, r.Header.Flags = m.Header.Sequence, 0, netlink.Multi
		out = append(out, r)
	}
	out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: m.Header.Sequence}, Data: make([]byte, 4)})
	s.queue = append(s.queue, out)
	return nil
}

func (s *kernelSock) Receive() ([]netlink.Message, error) {
	var out []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *kernelSock) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		if s.overrun {
			s.overrun = false
			yield(netlink.Message{}, os.NewSyscallError("recvmsg", unix.ENOBUFS))
			return
		}
		if len(s.queue) == 0 {
			// What the read deadline gives a socket with nothing
			// more to read.
			yield(netlink.Message{}, os.ErrDeadlineExceeded)
			return
		}
		d := s.queue[0]
		s.queue = s.queue[1:]
		for _, m := range d {
			if !yield(m, nil) {
				return
			}
		}
	}
}

func (s *kernelSock) Close() error { return nil }

func TestDoBatchAndErrors(t *testing.T) {
	msgs := []Msg{
		&NewTable{Family: FamilyINet, Name: "pmip"},
		&NewSet{Set{Family: FamilyINet, Table: "pmip", Name: "access", ID: 1, Key: []Datatype{TypeIfName}}},
		&NewSetElem{Family: FamilyINet, Table: "pmip", Set: "access", Elems: []Element{{Key: make([]byte, 16)}}},
		&DelSetElem{Family: FamilyINet, Table: "pmip", Set: "access", Elems: []Element{{Key: make([]byte, 16)}}},
	}
	t.Run("all acknowledged", func(t *testing.T) {
		s := &kernelSock{}
		if err := NewConn(netlink.NewConn(s, 0)).Do(msgs...); err != nil {
			t.Fatal(err)
		}
		if len(s.sent) != len(msgs)+2 {
			t.Fatalf("sent %d messages, want %d and the batch delimiters", len(s.sent), len(msgs))
		}
		begin, end := s.sent[0], s.sent[len(s.sent)-1]
		if begin.Header.Type != nfnlMsgBatchBegin || end.Header.Type != nfnlMsgBatchEnd {
			t.Errorf("batch delimited by types %#x and %#x", begin.Header.Type, end.Header.Type)
		}
		// res_id NFNL_SUBSYS_NFTABLES, big-endian (nfnetlink.c
		// nfnetlink_rcv_skb_batch).
		if string(begin.Data) != "\x00\x00\x00\x0a" || string(end.Data) != "\x00\x00\x00\x0a" {
			t.Errorf("batch delimiter payloads %x %x", begin.Data, end.Data)
		}
		if len(s.queue) != 0 {
			t.Errorf("%d acknowledgements left unread", len(s.queue))
		}
	})
	for _, c := range []struct {
		name   string
		errnos map[int]unix.Errno
		is     []error
		says   []string
	}{
		{"exists", map[int]unix.Errno{1: unix.EEXIST}, []error{unix.EEXIST}, []string{"NEWSET pmip access"}},
		{"busy", map[int]unix.Errno{0: unix.EBUSY}, []error{unix.EBUSY}, []string{"NEWTABLE pmip"}},
		{"two", map[int]unix.Errno{2: unix.EINVAL, 3: unix.ENOENT}, []error{unix.EINVAL, unix.ENOENT}, []string{"NEWSETELEM pmip access", "DELSETELEM pmip access"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &kernelSock{errnos: c.errnos}
			err := NewConn(netlink.NewConn(s, 0)).Do(msgs...)
			for _, want := range c.is {
				if !errors.Is(err, want) {
					t.Errorf("error %v is not %v", err, want)
				}
			}
			for _, want := range c.says {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not name %q", err, want)
				}
			}
			if errors.Is(err, unix.EPERM) {
				t.Errorf("error %v", err)
			}
			if len(s.queue) != 0 {
				t.Errorf("%d acknowledgements left unread", len(s.queue))
			}
		})
	}
	t.Run("whole batch refused", func(t *testing.T) {
		s := &kernelSock{whole: unix.EPERM}
		err := NewConn(netlink.NewConn(s, 0)).Do(msgs...)
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("error %v, want EPERM", err)
		}
	})
	t.Run("fewer acknowledgements than messages", func(t *testing.T) {
		s := &kernelSock{whole: unix.EINVAL}
		err := NewConn(netlink.NewConn(s, 0)).Do(msgs...)
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("error %v, want EINVAL", err)
		}
	})
	t.Run("acknowledgements lost", func(t *testing.T) {
		s := &kernelSock{}
		c := NewConn(netlink.NewConn(s, 0))
		s.overrun = true
		err := c.Do(msgs...)
		if !errors.Is(err, unix.ENOBUFS) || !strings.Contains(err.Error(), "acknowledgements lost") {
			t.Errorf("error %v, want ENOBUFS", err)
		}
		if len(s.queue) != 0 {
			t.Errorf("%d replies left for the next request", len(s.queue))
		}
		if err := c.Do(msgs[0]); err != nil {
			t.Errorf("the next transaction: %v", err)
		}
	})
	t.Run("nothing", func(t *testing.T) {
		s := &kernelSock{}
		if err := NewConn(netlink.NewConn(s, 0)).Do(); err != nil || len(s.sent) != 0 {
			t.Errorf("an empty transaction sent %d messages: %v", len(s.sent), err)
		}
	})
}

func TestDumps(t *testing.T) {
	newElem := Marshal(&NewSetElem{Family: FamilyINet, Table: "pmip", Set: "src6", Elems: []Element{
		{Key: []byte{1, 2, 3, 4}, KeyEnd: []byte{1, 2, 3, 5}},
		{Key: []byte{9, 9, 9, 9}, Data: []byte{0, 0, 0, 7}, Flags: ElemIntervalEnd},
	}})
	s := &kernelSock{replies: []netlink.Message{newElem, {Header: netlink.Header{Type: 0x0a00}, Data: Marshal(&NewTable{Family: FamilyINet, Name: "other"}).Data}}}
	c := NewConn(netlink.NewConn(s, 0))
	es, err := c.Elements(FamilyINet, "pmip", "src6")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || string(es[0].KeyEnd) != "\x01\x02\x03\x05" || string(es[1].Data) != "\x00\x00\x00\x07" || es[1].Flags != ElemIntervalEnd {
		t.Errorf("elements %+v", es)
	}
	req := s.sent[0]
	if req.Header.Type != 0x0a0d || req.Header.Flags != netlink.Request|netlink.Dump {
		t.Errorf("GETSETELEM request type %#x flags %#x", req.Header.Type, req.Header.Flags)
	}
	_, _, _, err = ParseElements(req.Data) // table and set, no elements: a key is missing nowhere
	if err != nil {
		t.Errorf("request payload: %v", err)
	}

	s.replies = []netlink.Message{Marshal(&NewTable{Family: FamilyINet, Name: "pmip"}), Marshal(&NewTable{Family: FamilyINet, Name: "other"})}
	ts, err := c.Tables(FamilyINet)
	if err != nil || len(ts) != 2 || ts[0] != (Table{FamilyINet, "pmip"}) || ts[1].Name != "other" {
		t.Errorf("tables %+v, %v", ts, err)
	}
	s.replies = []netlink.Message{Marshal(&NewChain{Family: FamilyINet, Table: "pmip", Name: "antispoof1", Type: "filter"})}
	cs, err := c.Chains(FamilyINet)
	if err != nil || len(cs) != 1 || cs[0] != (Chain{FamilyINet, "pmip", "antispoof1"}) {
		t.Errorf("chains %+v, %v", cs, err)
	}
	set := Set{Family: FamilyINet, Table: "pmip", Name: "flows6", Flags: SetMap | SetInterval, Key: []Datatype{TypeIP6Addr, TypeIP6Addr, TypeInetProto, TypeInetService}, Data: TypeMark}
	s.replies = []netlink.Message{Marshal(&NewSet{set})}
	ss, err := c.Sets(FamilyINet, "pmip")
	want := SetInfo{Table: "pmip", Name: "flows6", Flags: SetMap | SetInterval | SetConcat, KeyType: set.KeyType(), KeyLen: 40, DataType: 19, DataLen: 4}
	if err != nil || len(ss) != 1 || ss[0] != want {
		t.Errorf("sets %+v, %v; want %+v", ss, err, want)
	}
	// nft's type for ipv6_addr . ipv6_addr . inet_proto . inet_service.
	if got := set.KeyType(); got != 8<<18|8<<12|12<<6|13 {
		t.Errorf("key type %#x", got)
	}
}
