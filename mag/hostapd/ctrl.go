package hostapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
	// hostapd answers to the sender's address: bind one. A file, as
	// hostapd_cli's /tmp/wpa_ctrl_PID-N, not an abstract name: those
	// belong to a network namespace, and hostapd may run in another one
	// than the MAG (the QEMU tier's AP namespace).
	local := filepath.Join(os.TempDir(), fmt.Sprintf("pmip-mag-ctrl-%d-%d", os.Getpid(), ctrlSeq.Add(1)))
	os.Remove(local) // a previous process's with our pid
	c, err := net.DialUnix("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"},
		&net.UnixAddr{Name: filepath.Join(ctrlDir, ifname), Net: "unixgram"})
	if err != nil {
		os.Remove(local)
		return Station{}, fmt.Errorf("hostapd: control socket of %s: %w", ifname, err)
	}
	defer func() {
		c.Close()
		os.Remove(local)
	}()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(ctrlTimeout)
	}
	if err := c.SetDeadline(deadline); err != nil {
		return Station{}, fmt.Errorf("hostapd: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write([]byte("STA " + mac.String())); err != nil {
		return Station{}, fmt.Errorf("hostapd: STA %v on %s: %w", mac, ifname, err)
	}
	buf := make([]byte, ctrlReplyMax+1)
	for {
		n, err := c.Read(buf)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				err = errors.Join(err, ctx.Err())
			case errors.Is(err, os.ErrDeadlineExceeded):
				// The socket's deadline is the context's.
				err = errors.Join(err, context.DeadlineExceeded)
			}
			return Station{}, fmt.Errorf("hostapd: STA %v on %s: %w", mac, ifname, err)
		}
		if n > 0 && buf[0] == '<' {
			continue // an unsolicited event (we never ATTACH; defensive)
		}
		if n > ctrlReplyMax {
			return Station{}, fmt.Errorf("%w: STA answer above %d octets", ErrSyntax, ctrlReplyMax)
		}
		return ParseStation(buf[:n], mac)
	}
}
