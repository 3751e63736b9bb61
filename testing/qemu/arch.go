package qemu

import (
	"fmt"
	"runtime"
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
	QEMU     string
	Machine  []string
	Console  string // kernel console device
	BootArgs string // appended to every kernel command line
	// VirtioBus is "pci" or "mmio": which virtio transport the
	// machine has, so which device names to pass QEMU.
	VirtioBus string
}

// Amd64 is the x86-64 guest. KVM does not work on the test machines (the
// host's kvm is an emulating variant), so it runs under TCG; PVH direct
// boot of the ELF vmlinux with an uncompressed cpio reaches /init in ~5 s
// (../shared/NOTES.md).
var Amd64 = Arch{
	Name:       "amd64",
	Debian:     "amd64",
	Triplet:    "x86_64-linux-gnu",
	KernelMeta: "linux-image-amd64",
	GoEnv:      []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"},
	QEMU:       "qemu-system-x86_64",
	Machine:    []string{"-accel", "tcg", "-cpu", "max"},
	Console:    "ttyS0",
	BootArgs:   "panic=-1 quiet",
	VirtioBus:  "pci",
}

// The mipsel guest of issue 5 (the AP's own architecture) fits the same
// shape and is not wired yet:
//
//	Arch{Name: "mipsel", Debian: "mipsel", Triplet: "mipsel-linux-gnu",
//	     KernelMeta: "linux-image-4kc-malta",
//	     GoEnv: CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=softfloat,
//	     QEMU: "qemu-system-mipsel", Machine: -M malta -cpu 24Kf,
//	     Console: "ttyS0", BootArgs: "panic=-1 quiet nohz=off", VirtioBus: "pci"}
//
// What it still needs: packages of a foreign architecture come through a
// private APT_CONFIG (own sources, lists and cache under the cache dir, the
// host's dpkg untouched), and the malta kernel package ships an ELF vmlinux
// rather than a bzImage.

var arches = map[string]Arch{Amd64.Name: Amd64}

func lookupArch(name string) (Arch, error) {
	if name == "" {
		name = runtime.GOARCH
	}
	a, ok := arches[name]
	if !ok {
		return Arch{}, fmt.Errorf("qemu: no guest architecture %q (have amd64; mipsel is designed for, not built)", name)
	}
	if a.Debian != hostDebianArch() {
		return Arch{}, fmt.Errorf("qemu: guest %s differs from the host's %s: foreign packages need a private APT root, not implemented yet", a.Name, hostDebianArch())
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
