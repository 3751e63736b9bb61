package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test: a child process (this test binary, re-executed) writes
// and deletes keys from many goroutines and reports on a pipe each
// operation it starts, each one the store acknowledged, and each point up
// to which the log was synced (reported before the batch's callers are
// released). The parent kills it with SIGKILL at a random moment.
//
// SIGKILL alone loses nothing the child wrote: the kernel's page cache
// survives it. To stand for a power cut, the parent then damages whatever
// lies past the last reported sync point, as a disk that lost unsynced
// writes would leave it: zeros, random garbage, a truncated file, or left
// as it is. It reopens the store and checks that every acknowledged write
// is there and every acknowledged delete is not; an operation started but
// not acknowledged may have happened or not. Repeated on one directory, so
// recovery also runs over what earlier recoveries repaired; small segments
// make rotations and compactions frequent enough to be interrupted too.
//
//	parent (TestCrashRecovery)               child (TestCrashChild)
//	  |-- exec, fd 3 = pipe ------------------>  Open(dir)
//	  |<-------------------------- "R"  ready     16 writers:
//	  |<--------------- "B g key op version"        begin
//	  |<--------------------- "S seq offset"        log synced
//	  |<--------------- "A g key op version"        acknowledged
//	  |-- SIGKILL after 20-300 ms -------------> X
//	  damage past the last "S", Open(dir), ForEach, compare

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
	opts := crashOpts
	if os.Getenv(crashEnv+"_DURABILITY") == InKernel.String() {
		opts.Durability = InKernel
	}
	w, err := Open(dir, opts)
	if err != nil {
		report("E %v", err)
		os.Exit(2)
	}
	w.onSync = func(seq uint64, end int64, _ time.Duration) { report("S %d %d", seq, end) }
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
	crashRounds(t, OnDisk)
}

// With InKernel durability a write is acknowledged before it is synced:
// the promise is that SIGKILL loses none of them (the page cache outlives
// the process), not that a power cut does, so nothing is damaged after
// the kill.
func TestCrashRecoveryInKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a child process several times")
	}
	crashRounds(t, InKernel)
}

func crashRounds(t *testing.T, durability Durability) {
	dir := t.TempDir()
	model := map[string]*keyState{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const rounds = 8
	var acked, torn int
	damages := map[string]int{}
	for round := range rounds {
		base := (round + 1) * 10_000_000
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_BASE=%d", crashEnv, base),
			crashEnv+"_DURABILITY="+durability.String())
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()

		var synced segInfo // read by the parent only after readDone
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
				if seq, end, ok := parseSync(line); ok {
					if seq > synced.seq || (seq == synced.seq && end > synced.size) {
						synced = segInfo{seq: seq, size: end}
					}
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
		damage := []string{"none", "zeros", "garbage", "truncate"}[rng.IntN(4)]
		if durability == InKernel {
			damage = "none"
		}
		if synced.seq != 0 && damage != "none" {
			loseUnsynced(t, dir, synced, damage, rng)
		}
		damages[damage]++

		opts := crashOpts
		opts.Durability = durability
		w, err := Open(dir, opts)
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
	t.Logf("%d rounds (damage past the last sync: %v), %d acknowledged operations checked, %d recoveries cleared a torn tail",
		rounds, damages, acked, torn)
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

func parseSync(line string) (uint64, int64, bool) {
	var seq uint64
	var end int64
	if n, err := fmt.Sscanf(line, "S %d %d", &seq, &end); n != 2 || err != nil {
		return 0, 0, false
	}
	return seq, end, true
}

// loseUnsynced damages the log past the last durable point, as a power
// cut can: in the segment synced last, everything after the synced end;
// in later segments (the next one, prepared or half used), everything.
func loseUnsynced(t *testing.T, dir string, synced segInfo, damage string, rng *rand.Rand) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		seq, ok := parseName(e.Name(), "wal-", ".log")
		if !ok || seq < synced.seq {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		from := int64(0)
		if seq == synced.seq {
			from = synced.size
		}
		if from > int64(len(b)) {
			t.Fatalf("%s is %d bytes, synced to %d", e.Name(), len(b), from)
		}
		switch damage {
		case "zeros":
			clear(b[from:])
		case "garbage":
			for i := from; i < int64(len(b)); i++ {
				b[i] = byte(rng.Uint32())
			}
		case "truncate":
			b = b[:from+rng.Int64N(int64(len(b))-from+1)]
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
