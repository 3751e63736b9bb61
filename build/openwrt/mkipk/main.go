// Command mkipk builds installable OpenWrt packages (.ipk) of the MAG
// without the OpenWrt SDK: it cross-builds cmd/pmip-mag as a static binary
// for each target architecture and packs it with the procd init script,
// the default /etc/config/pmip and the hostapd hooks, in the layout the
// feed package (build/openwrt/pmip/Makefile) installs.
//
//	go run ./build/openwrt/mkipk [-out bin/openwrt] [-arch mipsel_24kc,...]
//
// It writes <out>/pmip_<version>-r<release>_<arch>.ipk for each
// architecture and prints their paths. Install one on an AP with
// `opkg install pmip_..._<arch>.ipk` (OpenWrt 24.10 and older; 25.x uses
// apk, whose packages need the SDK).
package main

import (
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Arch is an OpenWrt package architecture and how Go targets it.
type Arch struct {
	Name   string // OpenWrt's ARCH_PACKAGES
	GOARCH string
	Env    []string // GOMIPS, GOARM
	// What the binary's ELF header must say.
	Machine elf.Machine
	Class   elf.Class
	Data    elf.Data
}

// Arches are the targets `make openwrt` builds: common access point SoCs
// (MediaTek/Qualcomm MIPS, ARMv7 and ARMv8) and x86_64 for VMs.
var Arches = []Arch{
	// 24Kc cores have no FPU: soft float.
	{"mipsel_24kc", "mipsle", []string{"GOMIPS=softfloat"}, elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2LSB},
	{"mips_24kc", "mips", []string{"GOMIPS=softfloat"}, elf.EM_MIPS, elf.ELFCLASS32, elf.ELFDATA2MSB},
	{"arm_cortex-a7_neon-vfpv4", "arm", []string{"GOARM=7"}, elf.EM_ARM, elf.ELFCLASS32, elf.ELFDATA2LSB},
	{"aarch64_cortex-a53", "arm64", nil, elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	{"x86_64", "amd64", nil, elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB},
}

// Options of one run.
type Options struct {
	Repo    string   // repository root
	Out     string   // output directory
	Arches  []string // OpenWrt architectures, all when empty
	Go      string   // the go command
	Version string   // overrides PKG_VERSION when set
	Epoch   time.Time
}

// Where the package's pieces live in the repository.
const (
	feedDir     = "build/openwrt/pmip"
	initScript  = feedDir + "/files/pmip.init"
	defaultConf = feedDir + "/files/pmip.config"
	hooksDir    = "hostapd-hooks"
	magPkg      = "./cmd/pmip-mag"
)

func main() {
	var o Options
	var arches string
	flag.StringVar(&o.Out, "out", "bin/openwrt", "output directory")
	flag.StringVar(&arches, "arch", "", "comma-separated OpenWrt architectures (default: all of "+archNames()+")")
	flag.StringVar(&o.Go, "go", "go", "go command")
	flag.StringVar(&o.Version, "version", "", "package version (default: PKG_VERSION of "+feedDir+"/Makefile)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkipk: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if arches != "" {
		o.Arches = strings.Split(arches, ",")
	}
	repo, err := findRepo()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	o.Repo = repo
	if o.Epoch, err = sourceDateEpoch(repo); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	paths, err := Run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

func archNames() string {
	var n []string
	for _, a := range Arches {
		n = append(n, a.Name)
	}
	return strings.Join(n, ", ")
}

// sourceDateEpoch stamps the packages' files: SOURCE_DATE_EPOCH when set
// (reproducible-builds.org), else the time of the checkout's HEAD commit,
// so building the same commit twice gives the same bytes; the current time
// only outside git.
func sourceDateEpoch(repo string) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("mkipk: SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return time.Unix(n, 0), nil
	}
	cmd := exec.Command("git", "log", "-1", "--format=%ct")
	cmd.Dir = repo
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(n, 0), nil
		}
	}
	return time.Now(), nil
}

// findRepo walks up from the working directory to the go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("mkipk: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("mkipk: no go.mod above the working directory: run it inside the repository")
		}
		dir = parent
	}
}

// Run builds one ipk per architecture and returns their paths.
func Run(ctx context.Context, o Options) ([]string, error) {
	meta, err := ReadFeedMakefile(filepath.Join(o.Repo, feedDir, "Makefile"))
	if err != nil {
		return nil, err
	}
	if o.Version != "" {
		meta.Version = o.Version
	}
	meta.Source = feedDir
	targets, err := selectArches(o.Arches)
	if err != nil {
		return nil, err
	}
	common, err := commonFiles(o.Repo)
	if err != nil {
		return nil, err
	}
	out := o.Out
	if !filepath.IsAbs(out) {
		out = filepath.Join(o.Repo, out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("mkipk: %w", err)
	}
	var paths []string
	for _, a := range targets {
		bin := filepath.Join(out, "build", a.Name, "pmip-mag")
		if err := CrossBuild(ctx, o.Go, o.Repo, a, bin); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		files := append([]File{{Path: "/usr/sbin/pmip-mag", Mode: 0o755, Data: data}}, common...)
		ipk, err := BuildIPK(meta, a.Name, files, o.Epoch)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(out, fmt.Sprintf("%s_%s_%s.ipk", meta.Package, meta.FullVersion(), a.Name))
		if err := os.WriteFile(p, ipk, 0o644); err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func selectArches(names []string) ([]Arch, error) {
	if len(names) == 0 {
		return Arches, nil
	}
	var out []Arch
	for _, n := range names {
		found := false
		for _, a := range Arches {
			if a.Name == n {
				out = append(out, a)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("mkipk: unknown architecture %q (known: %s)", n, archNames())
		}
	}
	return out, nil
}

// commonFiles are the architecture-independent files: init script,
// default configuration and hostapd hooks.
func commonFiles(repo string) ([]File, error) {
	read := func(rel string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(repo, rel))
		if err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		return b, nil
	}
	init, err := read(initScript)
	if err != nil {
		return nil, err
	}
	conf, err := read(defaultConf)
	if err != nil {
		return nil, err
	}
	files := []File{
		{Path: "/etc/init.d/pmip", Mode: 0o755, Data: init},
		// INSTALL_CONF: configuration is readable by root only.
		{Path: "/etc/config/pmip", Mode: 0o600, Data: conf},
	}
	// Every hostapd-hooks/pmip-* script, as the feed Makefile installs
	// them.
	hooks, err := filepath.Glob(filepath.Join(repo, hooksDir, "pmip-*"))
	if err != nil {
		return nil, fmt.Errorf("mkipk: %w", err)
	}
	for _, h := range hooks {
		st, err := os.Stat(h)
		if err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(h)
		if err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		files = append(files, File{Path: "/usr/libexec/pmip/" + filepath.Base(h), Mode: 0o755, Data: b})
	}
	return files, nil
}

// CrossBuild builds cmd/pmip-mag for a as a static, stripped binary at out.
func CrossBuild(ctx context.Context, goCmd, repo string, a Arch, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("mkipk: %w", err)
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags", "-s -w", "-o", out, magPkg)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.GOARCH)
	cmd.Env = append(cmd.Env, a.Env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkipk: building %s for %s: %w\n%s", magPkg, a.Name, err, msg)
	}
	return os.Chmod(out, fs.FileMode(0o755))
}
