package dhcpserver

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/openpmip/pmip/internal/clock"
)

// tokenBucket admits on average rate events per second with bursts of up
// to burst. The caller serializes access.
type tokenBucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// tokenEpsilon absorbs float rounding, so that a token is there at the
// instant wait said it would be.
const tokenEpsilon = 1e-6

// allow takes one token if there is one.
func (b *tokenBucket) allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1-tokenEpsilon {
		return false
	}
	b.tokens--
	return true
}

func (b *tokenBucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// wait is the time until the bucket holds a token, at least a
// millisecond.
func (b *tokenBucket) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1-tokenEpsilon {
		return time.Millisecond
	}
	return max(time.Millisecond, time.Duration(math.Ceil((1-b.tokens)/b.rate*float64(time.Second))))
}

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
