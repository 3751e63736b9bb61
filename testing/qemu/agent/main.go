// Command agent runs inside the QEMU guest of test tier 3. The guest's /init
// starts it once the 9p shares are mounted; it answers the harness's
// requests (run a command, kill it, power off) over the virtio-serial port
// named ctl.PortName. See package testing/qemu/internal/agent.
//
// It is built by the harness for the guest's architecture (CGO_ENABLED=0)
// and never runs on the host.
package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openpmip/pmip/testing/qemu/internal/agent"
	"github.com/openpmip/pmip/testing/qemu/internal/ctl"
)

func main() {
	log.SetPrefix("pmip-agent: ")
	log.SetFlags(0)
	port, err := openPort(ctl.PortName, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	a := &agent.Agent{
		Logf: log.Printf,
		Poweroff: func() {
			syscall.Sync()
			if err := syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
				log.Printf("poweroff: %v", err)
			}
		},
	}
	err = a.Serve(port, ctl.Reply{Kernel: kernelRelease(), UptimeMS: uptimeMS()})
	log.Fatalf("control port: %v", err)
}

// openPort finds the virtio-serial port by name (the kernel probes the
// device asynchronously, so it may take a moment to appear).
func openPort(name string, wait time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err == nil && strings.TrimSpace(string(b)) == name {
				dev := "/dev/" + filepath.Base(filepath.Dir(n))
				return os.OpenFile(dev, os.O_RDWR, 0)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no virtio-serial port named %q (is virtio_console loaded?)", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	s, _ := strconv.ParseFloat(f[0], 64)
	return int64(s * 1000)
}
