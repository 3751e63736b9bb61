package clocktest

import (
	"testing"
	"time"
)

func TestAdvanceRunsDueTimersInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(start)
	var got []time.Duration
	rec := func(d time.Duration) func() {
		return func() { got = append(got, c.Now().Sub(start)) }
	}
	c.AfterFunc(3*time.Second, rec(3*time.Second))
	c.AfterFunc(1*time.Second, func() {
		got = append(got, c.Now().Sub(start))
		c.AfterFunc(1*time.Second, rec(2*time.Second)) // chained, due at 2s
	})
	stopped := c.AfterFunc(2500*time.Millisecond, rec(0))
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	c.AfterFunc(10*time.Second, rec(10*time.Second))

	c.Advance(5 * time.Second)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fired %v, want %v", got, want)
		}
	}
	if c.Now().Sub(start) != 5*time.Second {
		t.Fatalf("now = %v after Advance(5s)", c.Now().Sub(start))
	}
	if c.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", c.Pending())
	}
}
