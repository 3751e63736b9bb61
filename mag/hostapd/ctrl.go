package hostapd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCtrlDir is where hostapd keeps its control sockets, one per BSS
// interface (hostapd.conf ctrl_interface; OpenWrt's /var/run/hostapd).
const DefaultCtrlDir = "/var/run/hostapd"

// ctrlReplyMax bounds hostapd's answer to one command: its control
// interface replies from a 4096-octet buffer.
const ctrlReplyMax = 4096

// ctrlTimeout bounds a query without a deadline of its own: hostapd
// answers in microseconds unless it is wedged.
const ctrlTimeout = time.Second

var ctrlSeq atomic.Uint64

// QueryStation asks hostapd's control interface for one station, the
// request `hostapd_cli -i ifname sta MAC` makes (STA <mac>), over the
// control socket ctrlDir/ifname directly: no process, a few hundred
// microseconds. The MAG uses it to learn the 802.1X identity of a client
// whose frames arrived before the hook's event, and of stations that
// associated before the MAG started. The answer is validated
// (ParseStation); a station hostapd does not know gives ErrNoStation.
func QueryStation(ctx context.Context, ctrlDir, ifname string, mac net.HardwareAddr) (Station, error) {
	if err := checkInterface(ifname); err != nil {
		return Station{}, err
	}
	if err := checkMAC(mac); err != nil {
		return Station{}, err
	}
	c := &ctrlConn{dir: ctrlDir, ifname: ifname}
	defer c.Close()
	return c.station(ctx, mac)
}

// ctrlConn is one command connection to a BSS's control socket, as
// hostapd_cli's ctrl_conn: one request at a time, each answered by one
// datagram. It dials on first use and again after any failure, so that
// a late answer to a timed-out request is never taken for the next one's.
type ctrlConn struct {
	dir, ifname string

	mu    sync.Mutex // serialises requests; guards the fields below
	c     *net.UnixConn
	local string
	buf   []byte
}

// dialCtrl connects to dir/ifname from a fresh local address: hostapd
// answers to the sender's address, so one must be bound. A file, as
// hostapd_cli's /tmp/wpa_ctrl_PID-N, not an abstract name: those belong
// to a network namespace, and hostapd may run in another one than the
// MAG (the QEMU tier's AP namespace).
func dialCtrl(dir, ifname, what string) (*net.UnixConn, string, error) {
	local := filepath.Join(os.TempDir(), fmt.Sprintf("pmip-mag-%s-%d-%d", what, os.Getpid(), ctrlSeq.Add(1)))
	os.Remove(local) // a previous process's with our pid
	c, err := net.DialUnix("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"},
		&net.UnixAddr{Name: filepath.Join(dir, ifname), Net: "unixgram"})
	if err != nil {
		os.Remove(local)
		return nil, "", fmt.Errorf("hostapd: control socket of %s: %w", ifname, err)
	}
	return c, local, nil
}

// Close closes the connection; a later request dials again.
func (c *ctrlConn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}

func (c *ctrlConn) closeLocked() {
	if c.c != nil {
		c.c.Close()
		os.Remove(c.local)
		c.c, c.local = nil, ""
	}
}

// request sends cmd and returns hostapd's answer (a copy).
func (c *ctrlConn) request(ctx context.Context, cmd string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	redial := c.c != nil
	out, err := c.requestLocked(ctx, cmd)
	if err != nil {
		c.closeLocked()
		var stale *staleError
		if redial && errors.As(err, &stale) {
			// The socket we were connected to is gone (hostapd
			// restarted and made a new one): once more, on the new.
			out, err = c.requestLocked(ctx, cmd)
			if err != nil {
				c.closeLocked()
			}
		}
	}
	return out, err
}

// staleError is a write that failed: the peer socket is gone.
type staleError struct{ err error }

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

func (c *ctrlConn) requestLocked(ctx context.Context, cmd string) ([]byte, error) {
	if c.c == nil {
		conn, local, err := dialCtrl(c.dir, c.ifname, "ctrl")
		if err != nil {
			return nil, err
		}
		c.c, c.local = conn, local
	}
	if c.buf == nil {
		c.buf = make([]byte, ctrlReplyMax+1)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(ctrlTimeout)
	}
	if err := c.c.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("hostapd: %w", err)
	}
	// A cancelled ctx ends the wait. The function works on this
	// request's conn, and the request returns only once it is done: a
	// late one must not cut the deadline of the next request.
	conn := c.c
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Now())
		close(cancelled)
	})
	defer func() {
		if !stop() {
			<-cancelled
		}
	}()
	verb, _, _ := bytes.Cut([]byte(cmd), []byte(" "))
	if _, err := c.c.Write([]byte(cmd)); err != nil {
		return nil, fmt.Errorf("hostapd: %s on %s: %w", verb, c.ifname, &staleError{err})
	}
	for {
		n, err := c.c.Read(c.buf)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				err = errors.Join(err, ctx.Err())
			case errors.Is(err, os.ErrDeadlineExceeded):
				// The socket's deadline is the context's.
				err = errors.Join(err, context.DeadlineExceeded)
			}
			return nil, fmt.Errorf("hostapd: %s on %s: %w", verb, c.ifname, err)
		}
		if n > 0 && c.buf[0] == '<' {
			continue // an unsolicited event (this socket never ATTACHes; defensive)
		}
		if n > ctrlReplyMax {
			return nil, fmt.Errorf("%w: %s answer above %d octets", ErrSyntax, verb, ctrlReplyMax)
		}
		return bytes.Clone(c.buf[:n]), nil
	}
}

// station asks STA <mac>.
func (c *ctrlConn) station(ctx context.Context, mac net.HardwareAddr) (Station, error) {
	out, err := c.request(ctx, "STA "+mac.String())
	if err != nil {
		return Station{}, err
	}
	return ParseStation(out, mac)
}

// ListedStation is one entry of hostapd's station table.
type ListedStation struct {
	MAC net.HardwareAddr
	Station
}

// errListChanged: hostapd no longer knows the station the listing had
// reached (it left meanwhile): STA-NEXT answers FAIL.
var errListChanged = errors.New("hostapd: station table changed during the listing")

// stations lists hostapd's station table with STA-FIRST / STA-NEXT, as
// `hostapd_cli all_sta` does (hostapd ctrl_iface_ap.c: an empty answer
// ends the table; STA-NEXT of a station no longer in it answers FAIL).
// It returns at most max entries; complete is false when the table is
// longer. A station table that changes under the walk gives
// errListChanged: the caller starts again.
func (c *ctrlConn) stations(ctx context.Context, max int) (list []ListedStation, complete bool, err error) {
	cmd := "STA-FIRST"
	seen := map[macKey]bool{}
	for {
		out, err := c.request(ctx, cmd)
		if err != nil {
			return nil, false, err
		}
		if len(bytes.TrimSpace(out)) == 0 {
			return list, true, nil
		}
		if bytes.HasPrefix(out, []byte("FAIL")) {
			if cmd == "STA-FIRST" {
				return nil, false, fmt.Errorf("%w: STA-FIRST answered FAIL", ErrSyntax)
			}
			return nil, false, errListChanged
		}
		st, err := parseStationEntry(out)
		if err != nil {
			return nil, false, err
		}
		var k macKey
		copy(k[:], st.MAC)
		if seen[k] {
			// hostapd's list is a linked list; a station met twice
			// means it changed under us (defensive: never loop).
			return nil, false, errListChanged
		}
		seen[k] = true
		if len(list) >= max {
			return list, false, nil
		}
		list = append(list, st)
		cmd = "STA-NEXT " + st.MAC.String()
	}
}

// deauthenticate removes a station without sending it a frame:
// DEAUTHENTICATE <mac> tx=0 (hostapd ctrl_iface_ap.c: the driver's
// station entry is removed, hostapd's own deauthenticated; hostapd then
// reports AP-STA-DISCONNECTED). hostapd answers OK also for a station
// it does not know.
func (c *ctrlConn) deauthenticate(ctx context.Context, mac net.HardwareAddr) error {
	out, err := c.request(ctx, "DEAUTHENTICATE "+mac.String()+" tx=0")
	if err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(out), []byte("OK")) {
		return fmt.Errorf("hostapd: DEAUTHENTICATE %v on %s answered %q", mac, c.ifname, clip(out))
	}
	return nil
}
