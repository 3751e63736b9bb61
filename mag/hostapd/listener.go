package hostapd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultSocket is where the MAG listens for hook events unless told
// otherwise (pmip-mag flag, or PMIP_MAG_SOCKET for the hooks).
const DefaultSocket = "/var/run/pmip-mag/hostapd.sock"

// SocketEnv names the environment variable the hooks read the socket path
// from, so hostapd-hooks/ scripts need no arguments for it.
const SocketEnv = "PMIP_MAG_SOCKET"

// CtrlDirEnv names the environment variable that tells the hooks where
// hostapd's control sockets are (hostapd_cli -p), when not in
// hostapd_cli's default /var/run/hostapd.
const CtrlDirEnv = "PMIP_HOSTAPD_CTRL"

// Listener receives Events from hooks on a unix datagram socket. Only the
// owner (root on an AP) may write to the socket.
type Listener struct {
	conn *net.UnixConn
	path string
	log  *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Listen creates the socket at path (and its directory), replacing a stale
// socket a previous run left behind but refusing to remove anything that
// is not a socket.
func Listen(path string, log *slog.Logger) (*Listener, error) {
	if log == nil {
		return nil, errors.New("hostapd: Listen needs a logger")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("hostapd: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("hostapd: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("hostapd: remove stale socket: %w", err)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("hostapd: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hostapd: chmod socket: %w", err)
	}
	return &Listener{conn: conn, path: path, log: log.With("socket", path)}, nil
}

// Path is the socket's file name.
func (l *Listener) Path() string { return l.path }

// Run reads datagrams and calls handle with each valid Event, in arrival
// order, from Run's goroutine. Malformed datagrams are logged and skipped.
// Run returns nil once ctx is done or the listener is closed, after
// closing it.
func (l *Listener) Run(ctx context.Context, handle func(Event)) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()                    // waits for a Close in progress, so the file is gone on return
	buf := make([]byte, MaxDatagram+1) // one more octet to detect oversize
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Transient errors (ENOBUFS ...) must not spin the CPU.
			l.log.Warn("hostapd: reading hook socket", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ev, err := UnmarshalEvent(buf[:n])
		if err != nil {
			l.log.Warn("hostapd: dropping malformed hook datagram", "len", n, "err", err)
			continue
		}
		handle(ev)
	}
}

// Close closes the socket and removes its file. It is safe to call more
// than once and concurrently with Run.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.conn.Close()
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) && l.closeErr == nil {
			l.closeErr = fmt.Errorf("hostapd: remove socket: %w", err)
		}
	})
	return l.closeErr
}

// Send delivers one event to the MAG listening at path. It fails when no
// MAG listens there (the hook then exits non-zero; hostapd carries on).
func Send(path string, e Event) error {
	b, err := MarshalEvent(e)
	if err != nil {
		return err
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("hostapd: no MAG at %s: %w", path, err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return fmt.Errorf("hostapd: send: %w", err)
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("hostapd: send to %s: %w", path, err)
	}
	return nil
}
