package ratelimit

import (
	"testing"
	"time"
)

func admitted(b *Bucket, now time.Time, tries int) int {
	n := 0
	for range tries {
		if b.Allow(now) {
			n++
		}
	}
	return n
}

func TestBucketBurstAndRate(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBucket(2, 3, now)
	if n := admitted(&b, now, 10); n != 3 {
		t.Errorf("burst admitted %d, want 3", n)
	}
	now = now.Add(time.Second)
	if n := admitted(&b, now, 10); n != 2 {
		t.Errorf("after 1 s at 2/s admitted %d, want 2", n)
	}
	// Refill never exceeds the burst.
	now = now.Add(time.Hour)
	if n := admitted(&b, now, 10); n != 3 {
		t.Errorf("after an hour admitted %d, want the burst 3", n)
	}
}

func TestBucketWait(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBucket(4, 1, now)
	if w := b.Wait(now); w != time.Millisecond {
		t.Errorf("full bucket: wait %v, want the 1 ms floor", w)
	}
	b.Allow(now)
	w := b.Wait(now)
	if w != 250*time.Millisecond {
		t.Errorf("empty bucket at 4/s: wait %v, want 250ms", w)
	}
	if !b.Allow(now.Add(w)) {
		t.Error("no token at the instant Wait named")
	}
}

func TestBucketZeroStartIsFull(t *testing.T) {
	b := NewBucket(10, 10, time.Time{})
	if n := admitted(&b, time.Unix(1e9, 0), 20); n != 10 {
		t.Errorf("first use admitted %d, want the burst 10", n)
	}
}
