package qemu

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// imageFormat changes whenever the way an image is assembled changes, so
// cached images of an older harness are not reused.
const imageFormat = "openpmip-qemu-image-1"

//go:embed init.sh
var initScript []byte

// Binary is one file (usually an executable) taken from a Debian package
// into the guest, at the path the package ships it. An ELF file brings
// the shared libraries it needs, found in the package's dependencies.
type Binary struct {
	Package string // Debian package: "iproute2"
	Path    string // path in the package: "/bin/ip"
}

// BaseBinaries are in every image: busybox for /init and the applets,
// kmod as modprobe (the kernel's request_module calls it), dash as
// /bin/sh, iproute2 and ping.
var BaseBinaries = []Binary{
	{"busybox-static", "/bin/busybox"},
	{"kmod", "/bin/kmod"},
	{"kmod", "/sbin/modprobe"},
	{"kmod", "/sbin/insmod"},
	{"kmod", "/sbin/rmmod"},
	{"kmod", "/sbin/lsmod"},
	{"kmod", "/sbin/modinfo"},
	{"dash", "/bin/dash"},
	{"iproute2", "/bin/ip"},
	{"iproute2", "/sbin/ip"},
	{"iproute2", "/sbin/tc"},
	{"iproute2", "/sbin/bridge"},
	{"iputils-ping", "/bin/ping"},
}

// WiFiBinaries are what the scenarios of issue 5 add for real 802.11 on
// mac80211_hwsim radios. (cfg80211 finds no regulatory.db and keeps the
// world regulatory domain, which hwsim's channels fit.)
var WiFiBinaries = []Binary{
	{"hostapd", "/usr/sbin/hostapd"},
	{"hostapd", "/usr/sbin/hostapd_cli"},
	{"wpasupplicant", "/sbin/wpa_supplicant"},
	{"wpasupplicant", "/sbin/wpa_cli"},
	{"iw", "/sbin/iw"},
}

// ClientBinaries are the DHCP clients a mobile node runs besides busybox's
// udhcpc (an applet in every image).
var ClientBinaries = []Binary{
	{"isc-dhcp-client", "/sbin/dhclient"},
	{"isc-dhcp-client", "/sbin/dhclient-script"},
}

// CaptureBinaries add packet capture (pcaps of failed scenarios) and the
// nftables command line, to show the kernel's state in logs.
var CaptureBinaries = []Binary{
	{"tcpdump", "/usr/bin/tcpdump"},
	{"nftables", "/usr/sbin/nft"},
}

// Image is a bootable guest: an ELF kernel and an uncompressed cpio.
type Image struct {
	Arch    Arch
	Kernel  string // ELF vmlinux for PVH direct boot
	Initrd  string // uncompressed newc cpio
	Release string // the kernel's uname -r
	Key     string // cache key: hash of everything the image is made of
	// Packages lists name_version_arch of every package the image took
	// files from, the kernel first.
	Packages []string
	// Warm is true when the image came from the cache.
	Warm bool
	// BuildTime is how long finding (and, cold, building) the image took.
	BuildTime time.Duration
}

// ImageOptions choose what goes into an image.
type ImageOptions struct {
	Arch Arch
	// Binaries are added to BaseBinaries.
	Binaries []Binary
	// Packages are unpacked into the guest whole (data files, plugins).
	Packages []string
	// Modules are added to DefaultModules (with their dependencies).
	Modules []string
	// Load are loaded at boot, after the harness's own.
	Load []string
}

// CacheDir is where packages and images are cached: $PMIP_QEMU_CACHE, or
// /var/cache/openpmip/qemu.
func CacheDir() string {
	if d := os.Getenv("PMIP_QEMU_CACHE"); d != "" {
		return d
	}
	return "/var/cache/openpmip/qemu"
}

// buildMu serialises builds within the process; the flock on the cache
// serialises them between processes.
var buildMu sync.Mutex

// BuildImage returns the image for o from the cache, building it if it is
// not there. logf receives progress lines.
func BuildImage(o ImageOptions, logf func(string, ...any)) (*Image, error) {
	start := time.Now()
	if o.Arch.Name == "" {
		o.Arch = Amd64
	}
	cache := CacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("qemu: cache: %w", err)
	}
	// Fast path: the same options under the same package lists give the
	// same versions, so the image found last time is still the one.
	index := ""
	if stamp, err := aptStamp(); err == nil {
		index = filepath.Join(cache, "index", hashOf(optionsKey(o), stamp))
		if img, ok := loadIndexed(cache, index, o.Arch); ok {
			img.BuildTime = time.Since(start)
			return img, nil
		}
	}

	buildMu.Lock()
	defer buildMu.Unlock()
	unlock, err := lockFile(filepath.Join(cache, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	d := &debian{cache: cache, arch: o.Arch.Debian, logf: logf}
	img, err := buildImage(d, o, logf)
	if err != nil && !d.updated && errors.Is(err, errFetch) {
		// Stale package lists name versions the mirror no longer has.
		if uerr := d.Update(); uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		img, err = buildImage(d, o, logf)
	}
	if err != nil {
		return nil, err
	}
	if index != "" && !d.updated {
		if err := os.MkdirAll(filepath.Dir(index), 0o755); err == nil {
			_ = os.WriteFile(index, []byte(img.Key+"\n"), 0o644)
		}
	}
	img.BuildTime = time.Since(start)
	return img, nil
}

// optionsKey renders every input of an image except package versions.
func optionsKey(o ImageOptions) string {
	var b strings.Builder
	fmt.Fprintln(&b, imageFormat, o.Arch.Name)
	for _, x := range append(append([]Binary(nil), BaseBinaries...), o.Binaries...) {
		fmt.Fprintln(&b, "bin", x.Package, x.Path)
	}
	fmt.Fprintln(&b, "whole", strings.Join(o.Packages, " "))
	fmt.Fprintln(&b, "modules", strings.Join(DefaultModules, " "), strings.Join(o.Modules, " "))
	fmt.Fprintln(&b, "load", strings.Join(bootModules, " "), strings.Join(o.Load, " "))
	b.Write(initScript)
	return b.String()
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// aptStamp fingerprints the state that decides which versions apt picks:
// the downloaded package lists and the sources and preferences.
func aptStamp() (string, error) {
	var b strings.Builder
	for _, pat := range []string{"/var/lib/apt/lists/*", "/etc/apt/sources.list", "/etc/apt/sources.list.d/*", "/etc/apt/preferences", "/etc/apt/preferences.d/*"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			return "", err
		}
		for _, f := range m {
			st, err := os.Stat(f)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			fmt.Fprintln(&b, f, st.Size(), st.ModTime().UnixNano())
		}
	}
	if b.Len() == 0 {
		return "", errors.New("qemu: no apt package lists")
	}
	return b.String(), nil
}

// loadIndexed returns the image an index file names, if it is complete.
func loadIndexed(cache, index string, a Arch) (*Image, bool) {
	k, err := os.ReadFile(index)
	if err != nil {
		return nil, false
	}
	key := strings.TrimSpace(string(k))
	dir := filepath.Join(cache, "images", key)
	m, err := os.ReadFile(filepath.Join(dir, "manifest"))
	if err != nil {
		return nil, false
	}
	img := &Image{Arch: a, Kernel: filepath.Join(dir, "vmlinux"), Initrd: filepath.Join(dir, "initramfs.cpio"), Key: key, Warm: true}
	img.Release, img.Packages = parseManifest(m)
	return img, true
}

var errFetch = errors.New("qemu: fetching packages failed")

func buildImage(d *debian, o ImageOptions, logf func(string, ...any)) (*Image, error) {
	kpkg, err := resolveKernel(d, o.Arch)
	if err != nil {
		return nil, err
	}
	bins := append(append([]Binary(nil), BaseBinaries...), o.Binaries...)
	names := map[string]bool{}
	for _, b := range bins {
		names[b.Package] = true
	}
	for _, p := range o.Packages {
		names[p] = true
	}
	top, err := showAll(d, names)
	if err != nil {
		return nil, err
	}
	for n := range names {
		if _, ok := top[n]; !ok {
			return nil, fmt.Errorf("%w: %s (apt-cache show finds no candidate)", errNoPackage, n)
		}
	}
	modules := append(append([]string(nil), DefaultModules...), o.Modules...)
	load := append(append([]string(nil), bootModules...), o.Load...)

	// The key: every input that changes the image. Library packages
	// resolved below are not in it: they follow from the top-level
	// packages' versions.
	h := sha256.New()
	fmt.Fprintln(h, imageFormat, o.Arch.Name, kpkg.ID())
	for _, p := range sortedIDs(top) {
		fmt.Fprintln(h, "pkg", p)
	}
	for _, b := range bins {
		fmt.Fprintln(h, "bin", b.Package, b.Path)
	}
	fmt.Fprintln(h, "whole", strings.Join(o.Packages, " "))
	fmt.Fprintln(h, "modules", strings.Join(modules, " "))
	fmt.Fprintln(h, "load", strings.Join(load, " "))
	h.Write(initScript)
	key := hex.EncodeToString(h.Sum(nil))[:20]
	dir := filepath.Join(d.cache, "images", key)
	img := &Image{
		Arch:   o.Arch,
		Kernel: filepath.Join(dir, "vmlinux"),
		Initrd: filepath.Join(dir, "initramfs.cpio"),
		Key:    key,
	}
	if m, err := os.ReadFile(filepath.Join(dir, "manifest")); err == nil {
		img.Warm = true
		img.Release, img.Packages = parseManifest(m)
		return img, nil
	}

	logf("qemu: building image %s (kernel %s, packages %s)", key, kpkg.ID(), strings.Join(sortedIDs(top), " "))
	tStart := time.Now()
	pkgs := []debPackage{kpkg}
	for _, p := range top {
		pkgs = append(pkgs, p)
	}
	if err := d.Fetch(pkgs); err != nil {
		return nil, fmt.Errorf("%w: %w", errFetch, err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(d.cache), ".build-")
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	defer os.RemoveAll(tmp)

	tFetched := time.Now()
	k, err := openKernel(d, kpkg)
	if err != nil {
		return nil, err
	}
	img.Release = k.release
	vmlinuz, err := k.vmlinuz()
	if err != nil {
		return nil, err
	}
	bz, err := os.ReadFile(vmlinuz)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	vmlinux, err := extractVmlinux(bz)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "vmlinux"), vmlinux, 0o644); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}

	tKernel := time.Now()
	files, err := k.moduleClosure(modules)
	if err != nil {
		return nil, err
	}
	stage := filepath.Join(tmp, "modules")
	if err := k.stageModules(stage, files); err != nil {
		return nil, err
	}

	tModules := time.Now()
	g := newGuestFS(o.Arch.Triplet)
	used := map[string]debPackage{}
	for _, p := range top {
		g.roots = append(g.roots, d.Root(p))
		used[p.Name] = p
	}
	sort.Strings(g.roots)
	for _, b := range bins {
		if err := g.addPath(d.Root(top[b.Package]), b.Path); err != nil {
			return nil, fmt.Errorf("qemu: %s from %s: %w", b.Path, b.Package, err)
		}
	}
	for _, p := range o.Packages {
		if err := g.addPath(d.Root(top[p]), "/"); err != nil {
			return nil, err
		}
	}
	if err := resolveLibraries(d, g, used); err != nil {
		return nil, err
	}
	if err := g.addPath(stage, "/lib/modules"); err != nil {
		return nil, err
	}
	addSkeleton(g.tree, load, g.ldPath())

	tFiles := time.Now()
	f, err := os.Create(filepath.Join(tmp, "initramfs.cpio"))
	if err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := writeCpio(f, g.tree); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	logf("qemu: image %s: fetch %v, vmlinux %v, %d modules %v, %d files with their libraries %v, cpio %v", key,
		tFetched.Sub(tStart).Round(time.Millisecond), tKernel.Sub(tFetched).Round(time.Millisecond),
		len(files), tModules.Sub(tKernel).Round(time.Millisecond), len(g.tree), tFiles.Sub(tModules).Round(time.Millisecond),
		time.Since(tFiles).Round(time.Millisecond))
	img.Packages = append([]string{kpkg.ID()}, sortedIDs(used)...)
	manifest := fmt.Sprintf("release %s\n", k.release)
	for _, p := range img.Packages {
		manifest += "package " + p + "\n"
	}
	manifest += fmt.Sprintf("modules %d\nfiles %d\n", len(files), len(g.tree))
	if err := os.WriteFile(filepath.Join(tmp, "manifest"), []byte(manifest), 0o644); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	os.RemoveAll(filepath.Join(tmp, "modules"))
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	return img, nil
}

// resolveLibraries adds the shared libraries of every ELF file, fetching
// the library packages the unpacked packages depend on, round by round,
// until nothing is missing.
func resolveLibraries(d *debian, g *guestFS, used map[string]debPackage) error {
	tried := map[string]bool{}
	for round := 0; ; round++ {
		if err := g.resolve(); err != nil {
			return err
		}
		if len(g.missing) == 0 {
			return nil
		}
		// Candidates: dependencies of the packages unpacked so far
		// that are libraries.
		want := map[string]bool{}
		for _, p := range used {
			for _, dep := range p.Depends {
				if _, ok := used[dep]; !ok && !tried[dep] {
					want[dep] = true
					tried[dep] = true
				}
			}
		}
		more, err := showAll(d, want)
		if err != nil {
			return err
		}
		var fetch []debPackage
		for _, p := range more {
			if p.Section == "libs" || strings.HasPrefix(p.Name, "lib") || p.Name == "zlib1g" {
				fetch = append(fetch, p)
			}
		}
		if len(fetch) == 0 {
			return fmt.Errorf("qemu: no package ships %s: add the package that does to Options.Packages", g.missingList())
		}
		if err := d.Fetch(fetch); err != nil {
			return fmt.Errorf("%w: %w", errFetch, err)
		}
		for _, p := range fetch {
			used[p.Name] = p
			g.roots = append(g.roots, d.Root(p))
		}
		g.retry()
	}
}

// addSkeleton adds what no package ships: /init, mount points, the
// console device, a root user, kmod's names, /bin/sh, and the lists
// /init reads.
func addSkeleton(t fileTree, load []string, ldPath string) {
	t.data("/init", 0o755, initScript)
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/mnt", "/root", "/etc/pmip", "/var/tmp", "/usr/local/bin"} {
		t.dir(d)
	}
	t["/tmp"].mode = modeDir | 0o1777
	t.symlink("/var/run", "/run")
	// The kernel opens /dev/console for /init before devtmpfs is mounted.
	t["/dev/console"] = &fileEntry{mode: modeChar | 0o600, major: 5, minor: 1}
	t.symlink("/bin/sh", "dash")
	t.symlink("/sbin/depmod", "/bin/kmod")
	t.data("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	t.data("/etc/group", 0o644, []byte("root:x:0:\n"))
	t.data("/etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	t.data("/etc/pmip/modules", 0o644, []byte(strings.Join(load, "\n")+"\n"))
	t.data("/etc/pmip/ld-library-path", 0o644, []byte(ldPath+"\n"))
}

func showAll(d *debian, names map[string]bool) (map[string]debPackage, error) {
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	m, err := d.Show(list...)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func sortedIDs(m map[string]debPackage) []string {
	ids := make([]string, 0, len(m))
	for _, p := range m {
		ids = append(ids, p.ID())
	}
	sort.Strings(ids)
	return ids
}

func parseManifest(b []byte) (release string, pkgs []string) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "release":
			release = v
		case "package":
			pkgs = append(pkgs, v)
		}
	}
	return release, pkgs
}

// lockFile takes an exclusive flock, waiting for another build to finish.
func lockFile(p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("qemu: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("qemu: lock %s: %w", p, err)
	}
	return func() { f.Close() }, nil
}
