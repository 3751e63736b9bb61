package dhcpserver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/clock"
)

// logLimiter lets at most burst warnings through per interval and then
// reports, once the interval is over, how many it suppressed: a flood of
// bad packets cannot flood the log (issue 4, "Bad input").
type logLimiter struct {
	log      *slog.Logger
	clock    clock.Clock
	interval time.Duration
	burst    int

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

func (l *logLimiter) warn(msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	if now.Sub(l.start) >= l.interval {
		if l.suppressed > 0 {
			sup := l.suppressed
			l.suppressed = 0
			l.mu.Unlock()
			l.log.Warn("dropped packets: warnings suppressed", "count", sup, "interval", l.interval)
			l.mu.Lock()
		}
		l.start = now
		l.n = 0
	}
	if l.n >= l.burst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.n++
	l.mu.Unlock()
	l.log.Log(context.Background(), slog.LevelWarn, msg, args...)
}
