package procusage

import (
	"runtime"
	"testing"
	"time"
)

func TestNowCountsCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measured on Linux only")
	}
	before, _, ok := Now()
	if !ok {
		t.Fatal("getrusage refused")
	}
	// Burn CPU until the process's clock shows at least 20 ms more.
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		after, preempted, ok := Now()
		if !ok || preempted < 0 {
			t.Fatalf("sample %v %d %v", after, preempted, ok)
		}
		if after-before >= 20*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v after 30 s of work (%d)", after-before, x)
		}
	}
}
