package qemu

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// imageFormat changes whenever the way an image is assembled changes, so
// cached images of an older harness are not reused.
const imageFormat = "openpmip-qemu-image-2"

//go:embed init.sh
var initScript []byte

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
	if stamp, err := aptStamp(listsDir(cache, o.Arch.Debian)); err == nil {
		index := filepath.Join(cache, "index", hashOf(optionsKey(o), stamp))
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

	pruneImages(cache, logf)
	d, err := newDebian(cache, o.Arch.Debian, logf)
	if err != nil {
		return nil, err
	}
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
	// Remember the image under the lists as they are now (apt-get update
	// may have run).
	if stamp, err := aptStamp(listsDir(cache, o.Arch.Debian)); err == nil {
		index := filepath.Join(cache, "index", hashOf(optionsKey(o), stamp))
		if err := os.MkdirAll(filepath.Dir(index), 0o755); err == nil {
			_ = os.WriteFile(index, []byte(img.Key+"\n"), 0o644)
		}
	}
	img.BuildTime = time.Since(start)
	return img, nil
}

// kernelImage extracts the ELF vmlinux of k once per kernel package, shared
// by every image of that kernel.
func kernelImage(d *debian, k *kernel) (string, error) {
	dir := filepath.Join(d.cache, "kernels", k.pkg.ID())
	out := filepath.Join(dir, "vmlinux")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	vmlinuz, err := k.vmlinuz()
	if err != nil {
		return "", err
	}
	bz, err := os.ReadFile(vmlinuz)
	if err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	vmlinux, err := extractVmlinux(bz)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	if err := os.WriteFile(out+".tmp", vmlinux, 0o644); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	return out, nil
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
	modules := slices.Concat(DefaultModules, o.Arch.Modules, o.Modules)
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
	if img, ok := loadImage(d.cache, key, o.Arch); ok {
		return img, nil
	}
	img := &Image{Arch: o.Arch, Initrd: filepath.Join(dir, "initramfs.cpio"), Key: key}

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
	if img.Kernel, err = kernelImage(d, k); err != nil {
		return nil, err
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
	manifest := fmt.Sprintf("release %s\nkernel %s\n", k.release, img.Kernel)
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

// resolveLibraries adds the shared libraries of every ELF file. When some
// are missing it fetches, in one download, the library packages that the
// unpacked packages depend on, transitively (apt-cache answers are cheap,
// each apt-get round trip is not), and resolves again.
func resolveLibraries(d *debian, g *guestFS, used map[string]debPackage) error {
	if err := g.resolve(); err != nil {
		return err
	}
	if len(g.missing) == 0 {
		return nil
	}
	fetch, err := libraryClosure(d, used)
	if err != nil {
		return err
	}
	if err := d.Fetch(fetch); err != nil {
		return fmt.Errorf("%w: %w", errFetch, err)
	}
	for _, p := range fetch {
		used[p.Name] = p
		g.roots = append(g.roots, d.Root(p))
	}
	g.retry()
	if err := g.resolve(); err != nil {
		return err
	}
	if len(g.missing) > 0 {
		return fmt.Errorf("qemu: no package ships %s: add the package that does to Options.Packages", g.missingList())
	}
	return nil
}

// libraryClosure lists the library packages (Section libs, or named lib*)
// that the packages in used depend on, directly or through each other,
// and that are not in used yet.
func libraryClosure(d *debian, used map[string]debPackage) ([]debPackage, error) {
	seen := map[string]bool{}
	want := map[string]bool{}
	queue := func(p debPackage) {
		for _, dep := range p.Depends {
			if _, ok := used[dep]; !ok && !seen[dep] {
				seen[dep] = true
				want[dep] = true
			}
		}
	}
	for _, p := range used {
		queue(p)
	}
	var out []debPackage
	for len(want) > 0 {
		more, err := showAll(d, want)
		if err != nil {
			return nil, err
		}
		want = map[string]bool{}
		for _, p := range more {
			if p.Section == "libs" || strings.HasPrefix(p.Name, "lib") || p.Name == "zlib1g" {
				out = append(out, p)
				queue(p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
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
