package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test: a child process (this test binary, re-executed) writes
// and deletes keys from many goroutines and reports on a pipe each
// operation it starts and each one the store acknowledged. The parent
// kills it with SIGKILL at a random moment, reopens the store and checks
// that every acknowledged write is there and every acknowledged delete is
// not; an operation started but not acknowledged may have happened or not.
// Repeated on the same directory, so recovery also runs over what earlier
// recoveries repaired. Small segments make rotations and compactions
// frequent enough to be interrupted too.
//
//	parent (TestCrashRecovery)               child (TestCrashChild)
//	  |-- exec, fd 3 = pipe ------------------>  Open(dir)
//	  |<-------------------------- "R"  ready     16 writers:
//	  |<--------------- "B g key op version"        begin
//	  |<--------------- "A g key op version"        acknowledged
//	  |-- SIGKILL after 20-300 ms -------------> X
//	  Open(dir), ForEach, compare

const crashEnv = "PMIP_STORE_CRASH_CHILD"

var crashOpts = Options{SegmentBytes: 64 << 10, CompactMinBytes: 128 << 10, CompactRatio: 0.5}

const crashWriters, crashKeys = 16, 40

func crashKey(g, k int) string { return fmt.Sprintf("mn-%02d-%02d", g, k) }

// crashValue is recomputed by the parent to check contents exactly; its
// length varies so records straddle pages and batches differently.
func crashValue(key string, version int) string {
	return fmt.Sprintf("%s=%d|%s", key, version, strings.Repeat("x", version%397))
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	base, _ := strconv.Atoi(os.Getenv(crashEnv + "_BASE"))
	out := os.NewFile(3, "report")
	var mu sync.Mutex
	report := func(format string, args ...any) {
		// One write per line, under PIPE_BUF: lines never interleave.
		line := fmt.Sprintf(format+"\n", args...)
		mu.Lock()
		defer mu.Unlock()
		if _, err := out.WriteString(line); err != nil {
			os.Exit(3)
		}
	}
	w, err := Open(dir, crashOpts)
	if err != nil {
		report("E %v", err)
		os.Exit(2)
	}
	report("R")
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(base), uint64(g)))
			for n := 0; ; n++ {
				version := base + n
				k := crashKey(g, rng.IntN(crashKeys))
				if rng.IntN(4) == 0 {
					report("B %d %s D %d", g, k, version)
					if err := w.Delete(context.Background(), []byte(k)); err != nil {
						report("E %v", err)
						os.Exit(2)
					}
					report("A %d %s D %d", g, k, version)
				} else {
					report("B %d %s P %d", g, k, version)
					if err := w.Put(context.Background(), []byte(k), []byte(crashValue(k, version))); err != nil {
						report("E %v", err)
						os.Exit(2)
					}
					report("A %d %s P %d", g, k, version)
				}
			}
		})
	}
	wg.Wait()
}

// keyState is what the parent knows of one key.
type keyState struct {
	present  bool // as of the last acknowledged operation
	version  int
	inflight *crashOp // started after it, not acknowledged
}

type crashOp struct {
	put     bool
	version int
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a child process several times")
	}
	dir := t.TempDir()
	model := map[string]*keyState{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const rounds = 8
	var acked, torn int
	for round := range rounds {
		base := (round + 1) * 10_000_000
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_BASE=%d", crashEnv, base))
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()

		ready := make(chan struct{})
		readDone := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(pr)
			first := true
			for sc.Scan() {
				line := sc.Text()
				if line == "R" && first {
					first = false
					close(ready)
					continue
				}
				if err := applyReport(model, line, &acked); err != nil {
					readDone <- err
					return
				}
			}
			if first {
				close(ready)
			}
			readDone <- sc.Err()
		}()
		<-ready
		time.Sleep(time.Duration(20+rng.IntN(280)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if err := <-readDone; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		pr.Close()

		w, err := Open(dir, crashOpts)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		got := contents(t, w)
		if w.Stats().RecoveredTornTail > 0 {
			torn++
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for k := range got {
			if model[k] == nil {
				t.Fatalf("round %d: store holds %q, never written", round, k)
			}
		}
		for k, st := range model {
			v, present := got[k]
			ok := false
			var nowVersion int
			// The acknowledged state...
			if !st.present && !present {
				ok = true
			}
			if st.present && present && v == crashValue(k, st.version) {
				ok, nowVersion = true, st.version
			}
			// ...or the one an unacknowledged operation made.
			if op := st.inflight; op != nil {
				if !op.put && !present {
					ok = true
				}
				if op.put && present && v == crashValue(k, op.version) {
					ok, nowVersion = true, op.version
				}
			}
			if !ok {
				t.Fatalf("round %d: key %q: store has (%v, %.40q), acknowledged (present %v, version %d), in flight %+v",
					round, k, present, v, st.present, st.version, st.inflight)
			}
			st.present, st.version, st.inflight = present, nowVersion, nil
		}
	}
	t.Logf("%d rounds, %d acknowledged operations checked, %d recoveries cut a torn tail", rounds, acked, torn)
	if acked == 0 {
		t.Fatal("the child never acknowledged anything: the test tested nothing")
	}
}

func applyReport(model map[string]*keyState, line string, acked *int) error {
	f := strings.Fields(line)
	if len(f) > 0 && f[0] == "E" {
		return fmt.Errorf("child failed: %s", line)
	}
	if len(f) != 5 || (f[0] != "B" && f[0] != "A") {
		// The last line may be cut by the kill.
		return nil
	}
	version, err := strconv.Atoi(f[4])
	if err != nil {
		return nil
	}
	k := f[2]
	st := model[k]
	if st == nil {
		st = &keyState{}
		model[k] = st
	}
	op := &crashOp{put: f[3] == "P", version: version}
	if f[0] == "B" {
		st.inflight = op
		return nil
	}
	if st.inflight == nil || st.inflight.version != version {
		return fmt.Errorf("ack without a begin: %s", line)
	}
	st.present, st.version, st.inflight = op.put, version, nil
	*acked++
	return nil
}
