// Package ratelimit holds the token bucket the daemons use to bound what
// bad or flooding input can make them do: the MAG's attach triggers (DHCP
// and RS/NS from unknown MACs) and the LMA's Binding Errors (RFC 6275
// 9.3.3). Time is passed in, so the callers' injected clocks drive it and
// tests need no sleeps; callers serialize access.
package ratelimit

import (
	"math"
	"time"
)

// Bucket admits on average Rate events a second, in bursts of up to
// Burst. It starts full.
type Bucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// NewBucket returns a full bucket whose refill counts from now. A zero
// now works too: the first use finds the bucket full.
func NewBucket(rate float64, burst int, now time.Time) Bucket {
	return Bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// epsilon absorbs float rounding, so that a token is there at the
// instant Wait said it would be.
const epsilon = 1e-6

// Allow takes one token at now if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1-epsilon {
		return false
	}
	b.tokens--
	return true
}

// Wait is the time from now until the bucket holds a token, at least a
// millisecond (a timer for less would spin on rounding).
func (b *Bucket) Wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1-epsilon {
		return time.Millisecond
	}
	return max(time.Millisecond, time.Duration(math.Ceil((1-b.tokens)/b.rate*float64(time.Second))))
}

func (b *Bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}
