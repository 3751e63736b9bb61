package hostapd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openpmip/pmip/internal/syncbuf"
)

// startListener runs a Listener in a temporary directory and returns its
// socket path and the events it receives.
func startListener(t *testing.T) (string, <-chan Event, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	path := filepath.Join(t.TempDir(), "run", "hostapd.sock")
	l, err := Listen(path, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, func(e Event) { events <- e }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket file left behind: %v", err)
		}
	})
	return path, events, logs
}

func nextEvent(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// Topology: Send ──unixgram──► Listener.Run ──► handle; a raw datagram
// writer injects malformed input between two good events.
func TestListener(t *testing.T) {
	path, events, logs := startListener(t)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	first := Event{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Identity: "alice@example.org", Source: SourceAction}
	if err := Send(path, first); err != nil {
		t.Fatal(err)
	}
	raw, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, junk := range []string{"", "hello", "pmip-hostapd 1\nkind=connected\n", strings.Repeat("x", 4000)} {
		if _, err := raw.Write([]byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	second := Event{Kind: Disconnected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Source: SourceUbus}
	if err := Send(path, second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []Event{first, second} {
		if diff := cmp.Diff(want, nextEvent(t, events)); diff != "" {
			t.Fatalf("event (-want +got):\n%s", diff)
		}
	}
	if n := strings.Count(logs.String(), "dropping malformed hook datagram"); n != 4 {
		t.Fatalf("%d malformed datagrams logged, want 4:\n%s", n, logs)
	}
}

func TestListenReplacesStaleSocketOnly(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil))
	stale := filepath.Join(dir, "stale.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: stale, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // leaves the file, like a crashed MAG
	l, err := Listen(stale, log)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l.Close()
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	file := filepath.Join(dir, "config")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file, log); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("regular file damaged")
	}
	if _, err := Listen(filepath.Join(dir, "x.sock"), nil); err == nil {
		t.Fatal("Listen without a logger accepted")
	}
}

func TestSendErrors(t *testing.T) {
	ev := Event{Kind: Connected, Interface: "wlan0", MAC: mac("02:00:00:00:01:00"), Source: SourceAction}
	if err := Send(filepath.Join(t.TempDir(), "none.sock"), ev); err == nil {
		t.Fatal("Send to no MAG succeeded")
	}
	ev.Interface = ""
	if err := Send("/nonexistent", ev); !errors.Is(err, ErrInterface) {
		t.Fatalf("Send of an invalid event: %v", err)
	}
}
