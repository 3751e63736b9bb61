// Command pmip-demo is `make demo`: it runs the emulated PMIPv6 domain's
// scenarios 1-3 (testing/qemu/scenarios TestDemo: attach, handover,
// detach in one QEMU guest) and prints their narration and figures.
//
//	pmip-demo [-runs N] [-v]
//	  └─ go test -json -run '^TestDemo$' ./testing/qemu/scenarios  (PMIP_QEMU=1, as root)
//	       └─ QEMU guest: LMA, AP1/MAG1, AP2/MAG2, CN, Wi-Fi client
//
// Run it from the module's root, as root, after
// scripts/install-test-deps.sh. -runs repeats the demo and ends with the
// figures of every run side by side. The full test log of each run is
// kept in results/demo-<n>.log; a failed run prints where its guest's logs
// and pcaps are.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// event is one line of `go test -json`.
type event struct {
	Action string
	Test   string
	Output string
}

func main() {
	runs := flag.Int("runs", 1, "how many times to run the demo")
	verbose := flag.Bool("v", false, "print the whole test log, not only the narration")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up on a run after this long")
	flag.Parse()
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "pmip-demo: -runs must be at least 1")
		os.Exit(2)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fmt.Fprintln(os.Stderr, "pmip-demo: run me from the module's root (where go.mod is)")
		os.Exit(2)
	}
	var all [][]figure
	var methods []string
	var walls []time.Duration
	failed := false
	for i := 1; i <= *runs; i++ {
		if *runs > 1 {
			fmt.Printf("\n=== demo run %d of %d\n", i, *runs)
		}
		r, err := runOnce(i, *timeout, *verbose)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pmip-demo:", err)
			failed = true
			continue
		}
		all = append(all, r.figs)
		methods = append(methods, r.method)
		walls = append(walls, r.wall)
	}
	if len(all) > 1 {
		printTable(all, methods, walls)
	}
	if failed {
		os.Exit(1)
	}
}

type figure struct {
	name  string
	value float64
	unit  string
}

// result is what one run of the demo measured.
type result struct {
	figs   []figure
	method string        // the handover's 802.11 method, as narrated
	wall   time.Duration // the run's wall time, build and boot included
}

// methodMark starts the narration line that names the handover's 802.11
// method (scenarios.Domain.Handover).
const methodMark = "802.11 method of the handover: "

func runOnce(n int, timeout time.Duration, verbose bool) (result, error) {
	if err := os.MkdirAll("results", 0o755); err != nil {
		return result{}, err
	}
	logPath := filepath.Join("results", fmt.Sprintf("demo-%d.log", n))
	logf, err := os.Create(logPath)
	if err != nil {
		return result{}, err
	}
	defer logf.Close()
	cmd := exec.Command("go", "test", "-json", "-count=1", "-timeout", timeout.String(),
		"-run", "^TestDemo$", "./testing/qemu/scenarios")
	cmd.Env = append(os.Environ(), "PMIP_QEMU=1")
	cmd.Stderr = io.MultiWriter(os.Stderr, logf)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	var figs []figure
	method := "(not narrated)"
	var tailLines []string
	passed := false
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			fmt.Fprintln(logf, sc.Text())
			continue
		}
		if ev.Action == "pass" && ev.Test == "TestDemo" {
			passed = true
		}
		if ev.Output == "" {
			continue
		}
		io.WriteString(logf, ev.Output)
		tailLines = append(tailLines, ev.Output)
		if len(tailLines) > 40 {
			tailLines = tailLines[1:]
		}
		if verbose {
			fmt.Print(ev.Output)
		}
		if f, ok := parseFigure(ev.Output); ok {
			figs = append(figs, f)
		}
		if _, m, ok := strings.Cut(ev.Output, methodMark); ok {
			method = strings.TrimSpace(m)
		}
		if _, msg, ok := strings.Cut(ev.Output, " demo: "); ok && !verbose {
			fmt.Printf("[%6.1fs] %s", time.Since(t0).Seconds(), msg)
		}
	}
	werr := cmd.Wait()
	if !passed || werr != nil {
		if !verbose {
			fmt.Print(strings.Join(tailLines, ""))
		}
		return result{}, fmt.Errorf("run %d failed after %v (go test: %v); its log: %s", n, time.Since(t0).Round(time.Second), werr, logPath)
	}
	wall := time.Since(t0)
	fmt.Printf("demo passed in %v (log: %s)\n", wall.Round(time.Second), logPath)
	if len(figs) == 0 {
		return result{}, fmt.Errorf("run %d passed but reported no figures; its log: %s", n, logPath)
	}
	return result{figs: figs, method: method, wall: wall}, nil
}

// parseFigure reads a "figure: NAME = VALUE UNIT" line of the scenarios.
func parseFigure(line string) (figure, bool) {
	_, rest, ok := strings.Cut(line, " figure: ")
	if !ok {
		return figure{}, false
	}
	name, val, ok := strings.Cut(strings.TrimSpace(rest), " = ")
	if !ok {
		return figure{}, false
	}
	num, unit, _ := strings.Cut(val, " ")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return figure{}, false
	}
	return figure{name, v, unit}, true
}

// printTable prints each figure's values over the runs, the handover's
// 802.11 method and each run's wall time.
func printTable(all [][]figure, methods []string, walls []time.Duration) {
	fmt.Printf("\nfigures over %d runs:\n", len(all))
	var names []string
	seen := map[string]bool{}
	for _, figs := range all {
		for _, f := range figs {
			if !seen[f.name] {
				seen[f.name] = true
				names = append(names, f.name)
			}
		}
	}
	for _, name := range names {
		fmt.Printf("  %-30s", name)
		for _, figs := range all {
			var vals []string
			for _, f := range figs {
				if f.name == name {
					vals = append(vals, fmt.Sprintf("%.1f %s", f.value, f.unit))
				}
			}
			fmt.Printf(" | %-22s", strings.Join(vals, ", "))
		}
		fmt.Println()
	}
	fmt.Printf("  %-30s", "wall time of the run")
	for _, w := range walls {
		fmt.Printf(" | %-22s", w.Round(time.Second))
	}
	fmt.Println()
	for i, m := range methods {
		fmt.Printf("  handover 802.11 method, run %d: %s\n", i+1, m)
	}
}
