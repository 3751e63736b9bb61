package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sealedFixture writes n keys through a WAL with 4 KiB segments and no
// compaction of its own, closes it and returns the sealed segments.
func sealedFixture(t *testing.T, dir string, n int) []segInfo {
	t.Helper()
	w := open(t, dir, Options{SegmentBytes: 4096, CompactMinBytes: 1 << 40})
	ctx := context.Background()
	for i := range n {
		if err := w.Put(ctx, benchKey(uint64(i)), benchVal(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	w.filesMu.Lock()
	sealed := append([]segInfo(nil), w.segs[:len(w.segs)-1]...)
	w.filesMu.Unlock()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(sealed) < 2 {
		t.Fatalf("%d sealed segments, want several", len(sealed))
	}
	return sealed
}

// A child that cannot do its job (a segment is missing) fails with its
// own error, leaves no temporary snapshot, and is not taken for a child
// that could not start (which would switch the store to compacting in
// process for good).
func TestCompactionChildFails(t *testing.T) {
	dir := t.TempDir()
	sealed := sealedFixture(t, dir, 200)
	if err := os.Remove(filepath.Join(dir, segmentName(sealed[1].seq))); err != nil {
		t.Fatal(err)
	}
	w := &WAL{dir: dir}
	newSeq := sealed[len(sealed)-1].seq + 1
	_, _, _, err := w.foldInChild(context.Background(), foldJob{Dir: dir, Sealed: sealed, NewSeq: newSeq})
	if err == nil || !strings.Contains(err.Error(), "compaction child") || strings.Contains(err.Error(), errNoChild.Error()) {
		t.Fatalf("err = %v, want the child's own error", err)
	}
	if !strings.Contains(err.Error(), segmentName(sealed[1].seq)) {
		t.Errorf("err = %v: does not name the missing segment", err)
	}
	for _, name := range []string{snapshotName(newSeq), snapshotName(newSeq) + ".tmp"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", name, err)
		}
	}
}

// A compaction whose context ends (the store closing) kills its child
// and leaves no temporary snapshot; one that runs makes the same
// snapshot as the in-process fold.
func TestCompactionChildMatchesInProcess(t *testing.T) {
	dir := t.TempDir()
	sealed := sealedFixture(t, dir, 300)
	newSeq := sealed[len(sealed)-1].seq + 1
	job := foldJob{Dir: dir, Sealed: sealed, NewSeq: newSeq}
	w := &WAL{dir: dir}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := w.foldInChild(ctx, job); err == nil {
		t.Fatal("cancelled compaction succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotName(newSeq)+".tmp")); !os.IsNotExist(err) {
		t.Errorf("temporary snapshot left behind (%v)", err)
	}

	count, size, usage, err := w.foldInChild(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// What the compaction's log line reports: a child that ran a Go
	// runtime used some CPU and megabytes.
	if usage.cpu <= 0 || usage.peakRSS < 1<<20 || usage.minorFaults <= 0 {
		t.Errorf("child usage %+v: want CPU time, a resident size of at least 1 MiB and page faults", usage)
	}
	child, err := os.ReadFile(filepath.Join(dir, snapshotName(newSeq)))
	if err != nil {
		t.Fatal(err)
	}
	if count == 0 || size != int64(len(child)) {
		t.Errorf("child: %d records, %d bytes; want some and %d", count, size, len(child))
	}
	dirf, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dirf.Close()
	job.NewSeq++
	inCount, _, err := job.fold(context.Background(), dirf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inCount != count {
		t.Errorf("child: %d records, in process %d", count, inCount)
	}
	inProc, err := os.ReadFile(filepath.Join(dir, snapshotName(job.NewSeq)))
	if err != nil {
		t.Fatal(err)
	}
	// The files differ only in their header's sequence number.
	if len(inProc) != len(child) || string(inProc[fileHeader:]) != string(child[fileHeader:]) {
		t.Errorf("the child's snapshot (%d bytes) differs from the in-process one (%d bytes)", len(child), len(inProc))
	}
}

// A job the child cannot read is refused with a reason, not run.
func TestCompactionChildBadJob(t *testing.T) {
	for _, job := range []string{"", "{", `{"Dir":"x","Seqs":[1],"Sizes":[]}`, `{"Seqs":[],"Sizes":[]}`} {
		if err := runChildJob(job); err == nil || !strings.Contains(err.Error(), "bad job") {
			t.Errorf("job %q: err %v", job, err)
		}
	}
}

const orphanEnv = "PMIP_STORE_ORPHAN_HELPER"

// TestCompactionOrphanHelper is the daemon of TestCompactionChildDies: it
// starts a compaction whose child blocks (its segment is a FIFO nobody
// writes) and waits for it forever.
func TestCompactionOrphanHelper(t *testing.T) {
	dir := os.Getenv(orphanEnv)
	if dir == "" {
		t.Skip("helper process for TestCompactionChildDies")
	}
	w := &WAL{dir: dir}
	_, _, _, err := w.foldInChild(context.Background(), foldJob{Dir: dir, Sealed: []segInfo{{seq: 1, size: 1 << 20}}, NewSeq: 2})
	t.Fatalf("the blocked compaction returned: %v", err)
}

// A compaction child dies with its daemon (kill -9 included): it never
// outlives the process that holds the store's lock.
//
//	test ──exec──► helper (the "daemon") ──exec──► compaction child,
//	               killed with SIGKILL          blocked opening a FIFO
func TestCompactionChildDies(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, segmentName(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestCompactionOrphanHelper$")
	helper.Env = append(os.Environ(), orphanEnv+"="+dir)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	// The helper's child, once it runs (generous: a loaded host).
	var child int
	for deadline := time.Now().Add(30 * time.Second); child == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the helper started no compaction child")
		}
		time.Sleep(20 * time.Millisecond)
		child = childOf(helper.Process.Pid)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	for deadline := time.Now().Add(30 * time.Second); ; {
		// Gone, or a zombie (its parent is gone; init reaps it).
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("compaction child %d outlived its daemon by 30 s", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childOf returns a child process of pid, 0 if none.
func childOf(pid int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if c, err := strconv.Atoi(f[0]); err == nil {
				return c
			}
		}
	}
	return 0
}
