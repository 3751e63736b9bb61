package qemu

import (
	"fmt"
	"runtime"
	"time"
)

// Arch describes how to build and boot a guest of one architecture: which
// Debian packages and QEMU machine, how Go cross-builds for it, where its
// libraries live.
type Arch struct {
	// Name is the key used in Options.Arch: "amd64".
	Name string
	// Debian is the Debian architecture of the guest's packages.
	Debian string
	// Triplet is the multiarch directory of its libraries.
	Triplet string
	// KernelMeta is the metapackage whose Depends names the current
	// kernel package (the name changes with every ABI bump).
	KernelMeta string
	// GoEnv cross-builds static Go binaries for the guest.
	GoEnv []string
	// QEMU is the system emulator and the arguments that select the
	// machine, CPU and accelerator.
	QEMU        string
	QEMUPackage string // the Debian package that ships QEMU
	Machine     []string
	Console     string // kernel console device
	BootArgs    string // appended to every kernel command line
	// VirtioBus is "pci" or "mmio": which virtio transport the
	// machine has, so which device names to pass QEMU.
	VirtioBus string
	// PCISlots, when set, are the PCI slots of the devices the harness
	// adds, in order: the control port, the 9p shares, then the NICs.
	// They are the slots whose interrupt the board routes, so a guest
	// has at most that many devices.
	PCISlots []string
	// Memory is the default guest memory in MiB.
	Memory int
	// Modules are added to DefaultModules for this architecture only.
	Modules []string
	// SlowClock is how many seconds of real time one second of the
	// guest's clock may take (0 means 1: the clock keeps real time). A
	// timeout the guest keeps itself (a test binary's -test.timeout) is
	// in guest time; the harness's own deadline on the same work is in
	// real time and must be this much longer, or it fires first.
	SlowClock float64
}

// hostDeadline is the real time the harness allows for work the guest
// times itself with guestTimeout: scaled by the guest's slow clock, plus
// a minute for the guest to report.
func (a Arch) hostDeadline(guestTimeout time.Duration) time.Duration {
	scale := max(a.SlowClock, 1)
	return time.Duration(float64(guestTimeout)*scale) + time.Minute
}

// Amd64 is the x86-64 guest. KVM does not work on the test machines (the
// host's kvm is an emulating variant), so it runs under TCG; PVH direct
// boot of the ELF vmlinux with an uncompressed cpio reaches /init in ~5 s
// (../shared/NOTES.md).
var Amd64 = Arch{
	Name:        "amd64",
	Debian:      "amd64",
	Triplet:     "x86_64-linux-gnu",
	KernelMeta:  "linux-image-amd64",
	GoEnv:       []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"},
	QEMU:        "qemu-system-x86_64",
	QEMUPackage: "qemu-system-x86",
	Machine:     []string{"-accel", "tcg", "-cpu", "max"},
	Console:     "ttyS0",
	// no_timer_check: under TCG on a loaded host the kernel's check that
	// the IO-APIC timer ticks can fail ("IO-APIC + timer doesn't work!")
	// and panic the boot; it proves nothing about an emulated board.
	BootArgs:  "panic=-1 quiet no_timer_check",
	VirtioBus: "pci",
	Memory:    512,
	Modules:   []string{"aesni_intel"},
}

// Mipsel is the access points' architecture (issue 5 scenario 6): a
// MIPS Malta board with Debian's 4kc-malta kernel, whose packages come
// through a private APT root (aptroot.go). The Malta kernel is an ELF
// vmlinux already; nohz=off keeps its clock from stalling under TCG
// (../shared/NOTES.md). Its 32-bit kernel addresses 256 MiB without
// highmem.
var Mipsel = Arch{
	Name:        "mipsel",
	Debian:      "mipsel",
	Triplet:     "mipsel-linux-gnu",
	KernelMeta:  "linux-image-4kc-malta",
	GoEnv:       []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=mipsle", "GOMIPS=softfloat"},
	QEMU:        "qemu-system-mipsel",
	QEMUPackage: "qemu-system-mips",
	Machine:     []string{"-M", "malta", "-accel", "tcg"},
	Console:     "ttyS0",
	BootArgs:    "panic=-1 quiet nohz=off",
	VirtioBus:   "pci",
	// Linux routes interrupts only for Malta's PCI slots 11 and 12
	// (on-board Ethernet and sound) and 18-21 (the four PCI slots): a
	// device in any other slot gets IRQ 0 (past slot 21, whatever lies
	// after the table), so virtio_net's probe fails with EINVAL
	// (request_irq of IRQ 0) and a PCnet or e1000 never comes up
	// (arch/mips/pci/fixup-malta.c, irq_tab). QEMU's automatic slots
	// run past 21 after four devices: the control port and the three
	// shares fill 18-21, the NICs take 11 and 12.
	PCISlots: []string{"0x12", "0x13", "0x14", "0x15", "0x0b", "0x0c"},
	Memory:   256,
	// Its clock runs at 0.2-0.4x real time under TCG (../shared/NOTES.md).
	// While the host ran six guests, internal/dataplane's tests (2 minutes
	// in CI) had run 117 s of guest time in 6 minutes of real time when an
	// unscaled deadline (5+1 minutes) killed them.
	SlowClock: 5,
}

var arches = map[string]Arch{Amd64.Name: Amd64, Mipsel.Name: Mipsel}

func lookupArch(name string) (Arch, error) {
	if name == "" {
		name = runtime.GOARCH
	}
	a, ok := arches[name]
	if !ok {
		return Arch{}, fmt.Errorf("qemu: no guest architecture %q (have amd64, mipsel)", name)
	}
	return a, nil
}

func hostDebianArch() string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "mipsle":
		return "mipsel"
	}
	return runtime.GOARCH
}
