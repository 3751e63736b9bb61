package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A compaction runs in a child process by default: the running
// executable started again (/proc/self/exe) with the job in the
// environment variable childEnv, which this package's init recognizes
// before main runs. The child reads the sealed segments and the old
// snapshot and writes the new snapshot, durable under its name, at the
// lowest CPU and I/O priority (SCHED_IDLE and the idle I/O class, every
// thread); the daemon then only checks the new snapshot's trailer and
// swaps it in.
//
// Why a process and not a goroutine: folding a million bindings is ~3 s
// of CPU every 15-20 s at 50,000 writes a second. In the daemon it
// competes with the committer and the LMA's loop for the Go runtime's
// Ps (two on the appliance), and its index is heap the collector
// accounts; a goroutine cannot be given a lower priority (a niced,
// locked thread keeps its P while the kernel holds it off, which was
// measured worse). An idle-class child takes only CPU the daemon leaves,
// has its own runtime and heap, and is killed with the daemon (its
// half-written snapshot is a .tmp file that recovery removes).
const childEnv = "PMIP_STORE_COMPACT_JOB"

// childJob is a foldJob as the child receives it, or with Prepare set
// the creation of segment Prepare, zero-filled to Size (segment.go).
type childJob struct {
	Dir            string
	OldSeq, NewSeq uint64
	Seqs           []uint64
	Sizes          []int64
	Pace           int64
	Prepare        uint64 `json:",omitempty"`
	Size           int64  `json:",omitempty"`
}

func init() {
	if job, ok := os.LookupEnv(childEnv); ok {
		os.Exit(compactChild(job))
	}
}

// compactChild is the child's main: it runs the job and exits 0 once the
// snapshot is durable, or says why not on stderr and exits 1.
func compactChild(job string) int {
	if err := runChildJob(job); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	return 0
}

func runChildJob(job string) error {
	var cj childJob
	if err := json.Unmarshal([]byte(job), &cj); err != nil {
		return fmt.Errorf("store: compaction child: bad job: %w", err)
	}
	// Checked before the process lowers its priority (tests run bad jobs
	// in their own process).
	if len(cj.Seqs) != len(cj.Sizes) || cj.Dir == "" {
		return errors.New("store: child: bad job: segment lists differ or no directory")
	}
	runtime.GOMAXPROCS(1)
	lowerPriority()
	if cj.Prepare != 0 {
		dirf, err := os.Open(cj.Dir)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		defer dirf.Close()
		f, err := createSegment(context.Background(), cj.Dir, dirf, cj.Prepare, cj.Size)
		if err != nil {
			return err
		}
		return f.Close()
	}
	j := foldJob{Dir: cj.Dir, OldSeq: cj.OldSeq, NewSeq: cj.NewSeq, Pace: cj.Pace}
	for i, seq := range cj.Seqs {
		j.Sealed = append(j.Sealed, segInfo{seq: seq, size: cj.Sizes[i]})
	}
	dirf, err := os.Open(cj.Dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer dirf.Close()
	if _, _, err = j.fold(context.Background(), dirf, nil); err != nil {
		return err
	}
	reportPeak(os.Stdout)
	return nil
}

// reportPeak writes the child's peak resident size (VmHWM) for the
// parent's log. wait4's ru_maxrss cannot serve: a child started with
// vfork (as os/exec does) counts the parent's resident size at exec.
func reportPeak(w io.Writer) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(status)) {
		// "VmHWM:     1234 kB"
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				fmt.Fprintf(w, "%s %s\n", peakPrefix, f[0])
			}
			return
		}
	}
}

// peakPrefix starts the line reportPeak writes: "vmhwm_kib <n>".
const peakPrefix = "vmhwm_kib"

// parsePeak finds reportPeak's line in a child's output: bytes, or 0.
func parsePeak(out []byte) int64 {
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, peakPrefix+" "); ok {
			if kib, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64); err == nil && kib > 0 {
				return kib << 10
			}
		}
	}
	return 0
}

// lowerPriority puts every thread of the process in the kernel's idle
// scheduling class (SCHED_IDLE: a thread of any other class that wakes
// preempts it at once), at nice 19 should that be refused, and its I/O in
// the idle I/O class (mq-deadline and BFQ serve it after everyone else's,
// with aging so it is not starved). Linux keeps these per thread; threads
// the runtime starts later inherit them from the thread that starts
// them, which by then is one of these.
func lowerPriority() {
	tids := []int{0}
	if tasks, err := os.ReadDir("/proc/self/task"); err == nil {
		tids = tids[:0]
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				tids = append(tids, tid)
			}
		}
	}
	for _, tid := range tids {
		setIdle(tid)
	}
}

// setIdle puts thread tid in SCHED_IDLE (nice 19 should that be refused)
// and the idle I/O class.
func setIdle(tid int) {
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
	_ = unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
	// ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_CLASS_IDLE << 13).
	_, _, _ = unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioClassIdle<<ioprioClassShift)
}

// From linux/ioprio.h.
const (
	ioprioWhoProcess = 1
	ioprioClassIdle  = 3
	ioprioClassShift = 13
)

// foldInChild runs job in a child process and returns the new snapshot's
// record count and size once the child has made it durable. ctx ending
// kills the child.
func (w *WAL) foldInChild(ctx context.Context, job foldJob) (uint64, int64, childUsage, error) {
	cj := childJob{Dir: job.Dir, OldSeq: job.OldSeq, NewSeq: job.NewSeq, Pace: job.Pace}
	for _, s := range job.Sealed {
		cj.Seqs = append(cj.Seqs, s.seq)
		cj.Sizes = append(cj.Sizes, s.size)
	}
	usage, err := runChild(ctx, "compaction", cj)
	if err != nil {
		// Killed or failed before the rename: a .tmp file may be left.
		_ = os.Remove(filepath.Join(job.Dir, snapshotName(job.NewSeq)+".tmp"))
		return 0, 0, usage, err
	}
	count, size, err := checkSnapshot(filepath.Join(job.Dir, snapshotName(job.NewSeq)), job.NewSeq)
	if err != nil {
		return 0, 0, usage, fmt.Errorf("store: compaction child's snapshot: %w", err)
	}
	return count, size, usage, nil
}

// childUsage is what a child process cost, from wait4's rusage: the
// compaction's log line reports it, so that an operator can see what a
// compaction takes from the machine besides its wall time.
type childUsage struct {
	cpu         time.Duration // user and system
	peakRSS     int64         // bytes, as the child reported it (0: not reported)
	minorFaults int64
	majorFaults int64
}

func usageOf(ps *os.ProcessState, stdout []byte) childUsage {
	if ps == nil {
		return childUsage{}
	}
	u := childUsage{cpu: ps.UserTime() + ps.SystemTime(), peakRSS: parsePeak(stdout)}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.minorFaults = ru.Minflt
		u.majorFaults = ru.Majflt
	}
	return u
}

// runChild runs cj, a job of the kind what names, in a child process and
// waits for it, returning what it cost; ctx ending kills it. An error
// wraps errNoChild when no process could be started.
func runChild(ctx context.Context, what string, cj childJob) (childUsage, error) {
	enc, err := json.Marshal(cj)
	if err != nil {
		return childUsage{}, fmt.Errorf("store: child job: %w", err)
	}
	// /proc/self/exe is the running executable even if its file was
	// replaced since (an upgrade).
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"="+string(enc))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The child dies with the daemon: it must not outlive the process
	// that owns the directory's lock.
	// The signal comes when the thread that started the child ends, not
	// the process: hold this goroutine on that thread until the child is
	// done, so that no other goroutine can end the thread (one locked to
	// a thread that returns without unlocking ends it) and kill the child
	// with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	if err == nil {
		// The child lowers every thread of its own once its runtime is
		// up; its first thread goes idle now, so that the runtime's
		// start does not run at the daemon's priority either (threads
		// it starts inherit the class).
		setIdle(cmd.Process.Pid)
		err = cmd.Wait()
	}
	runtime.UnlockOSThread()
	usage := usageOf(cmd.ProcessState, stdout.Bytes())
	if err != nil {
		if ctx.Err() != nil {
			return usage, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		if isExecFailure(err) {
			return usage, fmt.Errorf("%w: %s", errNoChild, msg)
		}
		return usage, fmt.Errorf("store: %s child: %s", what, msg)
	}
	return usage, nil
}

// errNoChild: the child process could not be started at all.
var errNoChild = errors.New("store: compaction child not started")

func isExecFailure(err error) bool {
	var ee *exec.ExitError
	return !errors.As(err, &ee)
}
