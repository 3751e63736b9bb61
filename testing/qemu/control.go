package qemu

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

// errGuestGone is returned for requests that were pending when the
// control channel closed (the guest crashed, powered off or was killed).
var errGuestGone = errors.New("qemu: guest control channel closed")

// control is the host side of the control channel to the agent.
type control struct {
	conn net.Conn

	encMu sync.Mutex
	enc   *json.Encoder

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*call
	closed  bool
	err     error // why the channel closed

	hello chan ctl.Reply
	done  chan struct{}
}

type call struct {
	out  io.Writer
	exit chan ctl.Reply
}

func newControl(c net.Conn) *control {
	k := &control{
		conn:    c,
		enc:     json.NewEncoder(c),
		pending: make(map[uint64]*call),
		hello:   make(chan ctl.Reply, 1),
		done:    make(chan struct{}),
	}
	go k.read()
	return k
}

func (k *control) read() {
	r := bufio.NewReaderSize(k.conn, 64<<10)
	var err error
	for {
		var line []byte
		line, err = r.ReadBytes('\n')
		if len(line) > 0 {
			var rep ctl.Reply
			if jerr := json.Unmarshal(line, &rep); jerr != nil {
				err = fmt.Errorf("qemu: bad reply from the agent %q: %w", line, jerr)
				break
			}
			k.dispatch(rep)
		}
		if err != nil {
			break
		}
	}
	k.mu.Lock()
	k.closed = true
	k.err = err
	for id, c := range k.pending {
		close(c.exit)
		delete(k.pending, id)
	}
	k.mu.Unlock()
	close(k.done)
}

func (k *control) dispatch(rep ctl.Reply) {
	if rep.Type == ctl.TypeHello {
		select {
		case k.hello <- rep:
		default:
		}
		return
	}
	k.mu.Lock()
	c := k.pending[rep.ID]
	if rep.Type == ctl.TypeExit {
		delete(k.pending, rep.ID)
	}
	k.mu.Unlock()
	if c == nil {
		return
	}
	switch rep.Type {
	case ctl.TypeOut:
		if c.out != nil {
			_, _ = c.out.Write(rep.Data)
		}
	case ctl.TypeExit:
		c.exit <- rep
	}
}

func (k *control) send(req ctl.Request) error {
	k.encMu.Lock()
	defer k.encMu.Unlock()
	if err := k.enc.Encode(req); err != nil {
		return fmt.Errorf("qemu: control channel: %w", err)
	}
	return nil
}

// start sends a run request; its output goes to out and its end to the
// returned channel (closed without a value if the channel dies first).
func (k *control) start(req ctl.Request, out io.Writer) (uint64, <-chan ctl.Reply, error) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return 0, nil, errGuestGone
	}
	k.next++
	req.ID = k.next
	c := &call{out: out, exit: make(chan ctl.Reply, 1)}
	k.pending[req.ID] = c
	k.mu.Unlock()
	req.Op = ctl.OpRun
	if err := k.send(req); err != nil {
		k.mu.Lock()
		delete(k.pending, req.ID)
		k.mu.Unlock()
		return 0, nil, err
	}
	return req.ID, c.exit, nil
}

func (k *control) kill(id uint64) error {
	return k.send(ctl.Request{ID: id, Op: ctl.OpKill})
}

func (k *control) poweroff() error {
	return k.send(ctl.Request{Op: ctl.OpPoweroff})
}
