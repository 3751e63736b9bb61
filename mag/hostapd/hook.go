package hostapd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"time"
)

// RunHook is the hook side, run as `pmip-mag hook [flags] SUBCOMMAND ...`
// by the scripts in hostapd-hooks/; args are the words after "hook":
//
//	action IFNAME EVENT MAC [...]   one hostapd_cli -a invocation: sends
//	                                AP-STA-CONNECTED (with the identity from
//	                                `hostapd_cli -i IFNAME sta MAC`) and
//	                                AP-STA-DISCONNECTED, ignores other events
//	ubus IFNAME                     reads `ubus subscribe hostapd.IFNAME`
//	                                lines from stdin until EOF and sends
//	                                assoc, disassoc and sta-authorized (with
//	                                the identity) as they come
//
// Flags: -socket PATH (default $PMIP_MAG_SOCKET, else DefaultSocket),
// -hostapd-cli PATH (default hostapd_cli from PATH), -ctrl-dir DIR
// (hostapd_cli -p; default $PMIP_HOSTAPD_CTRL, else hostapd_cli's own
// /var/run/hostapd). The environment variables pass through hostapd_cli
// to the action script, so the scripts need no arguments of their own. Diagnostics go to stdout,
// which the hooks' supervisor logs. For ubus, a malformed line or a MAG
// that is briefly away is logged and the loop goes on.
func RunHook(args []string, stdin io.Reader, stdout io.Writer) error {
	fset := flag.NewFlagSet("pmip-mag hook", flag.ContinueOnError)
	fset.SetOutput(stdout)
	socket := fset.String("socket", envOr(SocketEnv, DefaultSocket), "MAG hook `socket`")
	cli := fset.String("hostapd-cli", "hostapd_cli", "hostapd_cli `program`")
	ctrlDir := fset.String("ctrl-dir", os.Getenv(CtrlDirEnv), "hostapd control interface `directory` (hostapd_cli -p)")
	fset.Usage = func() {
		fmt.Fprintln(stdout, "usage: pmip-mag hook [flags] action IFNAME EVENT MAC | ubus IFNAME")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	h := &hook{
		log:  slog.New(slog.NewTextHandler(stdout, nil)).With("hook", fset.Arg(0)),
		send: func(e Event) error { return Send(*socket, e) },
		identity: func(ctx context.Context, ifname string, mac net.HardwareAddr) (string, error) {
			return StaIdentity(ctx, *cli, *ctrlDir, ifname, mac)
		},
	}
	rest := fset.Args()
	if len(rest) == 0 {
		fset.Usage()
		return fmt.Errorf("%w: hook needs a subcommand", ErrSyntax)
	}
	switch rest[0] {
	case "action":
		return h.action(rest[1:])
	case "ubus":
		if len(rest) != 2 {
			return fmt.Errorf("%w: usage: hook ubus IFNAME", ErrSyntax)
		}
		if err := checkInterface(rest[1]); err != nil {
			return err
		}
		return h.ubus(rest[1], stdin)
	}
	fset.Usage()
	return fmt.Errorf("%w: unknown hook subcommand %q", ErrSyntax, rest[0])
}

// identityTimeout bounds one hostapd_cli call: hostapd answers its
// control socket in milliseconds unless it is wedged.
const identityTimeout = 3 * time.Second

// maxUbusLine bounds one `ubus subscribe` line; probe notifications with
// capabilities run to a few kilobytes. Longer lines are skipped.
const maxUbusLine = 64 * 1024

type hook struct {
	log      *slog.Logger
	send     func(Event) error
	identity func(ctx context.Context, ifname string, mac net.HardwareAddr) (string, error)
}

func (h *hook) action(args []string) error {
	ev, ok, err := ParseAction(args)
	if err != nil || !ok {
		return err
	}
	if ev.Kind == Connected {
		h.addIdentity(&ev)
	}
	return h.send(ev)
}

// addIdentity asks hostapd for the station's 802.1X identity. Failing
// that, the event goes without one: the MAG then identifies the station
// by its MAC as its policy says, rather than not at all.
func (h *hook) addIdentity(ev *Event) {
	ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
	defer cancel()
	id, err := h.identity(ctx, ev.Interface, ev.MAC)
	if err != nil {
		h.log.Warn("no 802.1X identity", "station", ev.MAC.String(), "ifname", ev.Interface, "err", err)
		return
	}
	ev.Identity = id
}

func (h *hook) ubus(ifname string, stdin io.Reader) error {
	r := bufio.NewReaderSize(stdin, 4096)
	for {
		line, err := readLine(r, maxUbusLine)
		if errors.Is(err, errLineTooLong) {
			h.log.Warn("skipping overlong ubus line", "max", maxUbusLine)
			continue
		}
		if len(line) > 0 {
			h.ubusLine(ifname, line)
		}
		if err == io.EOF {
			return nil // ubus subscribe ended (hostapd restarted); procd respawns us
		}
		if err != nil {
			return fmt.Errorf("hostapd: reading ubus: %w", err)
		}
	}
}

func (h *hook) ubusLine(ifname string, line []byte) {
	ev, ok, err := ParseUbusLine(ifname, line)
	if err != nil {
		h.log.Warn("skipping malformed ubus line", "err", err)
		return
	}
	if !ok {
		return
	}
	if ev.Kind == Authorized {
		h.addIdentity(&ev)
	}
	if err := h.send(ev); err != nil {
		h.log.Warn("event not delivered", "event", ev.String(), "err", err)
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its "\n". A line longer than max
// is consumed and reported as errLineTooLong.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			// Discard the rest of this line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}

// StaIdentity runs `hostapd_cli [-p ctrlDir] -i ifname sta MAC` and
// returns the station's 802.1X identity (ParseStaInfo).
func StaIdentity(ctx context.Context, hostapdCLI, ctrlDir, ifname string, mac net.HardwareAddr) (string, error) {
	var args []string
	if ctrlDir != "" {
		args = append(args, "-p", ctrlDir)
	}
	args = append(args, "-i", ifname, "sta", mac.String())
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, hostapdCLI, args...)
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hostapd: %s %v: %w", hostapdCLI, args, err)
	}
	return ParseStaInfo(out.Bytes(), mac)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
