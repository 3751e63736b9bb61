package dhcpserver

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock/clocktest"
)

type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.msgs = append(h.msgs, b.String())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// TestLogLimiter: a flood of warnings yields LogBurst lines per interval
// and one summary of what was suppressed.
func TestLogLimiter(t *testing.T) {
	h := &recordHandler{}
	clk := clocktest.New(time.Unix(0, 0))
	l := &logLimiter{log: slog.New(h), clock: clk, interval: 10 * time.Second, burst: 3}
	for range 100 {
		l.warn("bad frame")
	}
	if len(h.msgs) != 3 {
		t.Fatalf("%d lines in the first interval, want 3: %q", len(h.msgs), h.msgs)
	}
	clk.Advance(10 * time.Second)
	l.warn("bad frame")
	if len(h.msgs) != 5 || h.msgs[3] != "dropped packets: warnings suppressed count=97 interval=10s" {
		t.Fatalf("after the interval: %q", h.msgs)
	}
}
