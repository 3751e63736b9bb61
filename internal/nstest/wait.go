package nstest

import (
	"testing"
	"time"
)

// WaitFor polls check every 50 ms until it returns "" (the kernel state
// the test waits for is there) or within has passed, when the test fails
// with check's last message. For state that a real kernel reaches on its
// own time (a neighbour entry, a route, a counter); timers of our own are
// driven by internal/clock instead. Give within generously (seconds): it
// bounds a failure, it costs nothing when the state comes.
func WaitFor(tb testing.TB, within time.Duration, check func() string) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
