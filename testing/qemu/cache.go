package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The cache (CacheDir):
//
//	debs/NAME_VERSION_ARCH.deb       what apt-get download fetched, until unpacked
//	pkgs/NAME_VERSION_ARCH/          the same, dpkg -x'ed
//	kernels/KERNELPKG/vmlinux        the ELF kernel, shared by its images
//	images/KEY/initramfs.cpio        KEY hashes the kernel's and the top-level
//	images/KEY/manifest              packages' versions and every option
//	index/HASH                       options + apt lists fingerprint -> KEY
//	.lock                            flock held while building

// CacheDir is where packages and images are cached: $PMIP_QEMU_CACHE, or
// /var/cache/openpmip/qemu.
func CacheDir() string {
	if d := os.Getenv("PMIP_QEMU_CACHE"); d != "" {
		return d
	}
	return "/var/cache/openpmip/qemu"
}

// optionsKey renders every input of an image except package versions.
func optionsKey(o ImageOptions) string {
	var b strings.Builder
	fmt.Fprintln(&b, imageFormat, o.Arch.Name)
	for _, x := range append(append([]Binary(nil), BaseBinaries...), o.Binaries...) {
		fmt.Fprintln(&b, "bin", x.Package, x.Path)
	}
	fmt.Fprintln(&b, "whole", strings.Join(o.Packages, " "))
	fmt.Fprintln(&b, "modules", strings.Join(DefaultModules, " "), strings.Join(o.Arch.Modules, " "), strings.Join(o.Modules, " "))
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
func aptStamp(lists string) (string, error) {
	var b strings.Builder
	for _, pat := range []string{filepath.Join(lists, "*"), "/etc/apt/sources.list", "/etc/apt/sources.list.d/*", "/etc/apt/preferences", "/etc/apt/preferences.d/*"} {
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

// listsDir is where apt keeps the package lists of arch (see aptroot.go).
func listsDir(cache, arch string) string {
	if arch == hostDebianArch() {
		return "/var/lib/apt/lists"
	}
	return filepath.Join(cache, "apt-"+arch, "state", "lists")
}

// loadIndexed returns the image an index file names, if it is complete.
func loadIndexed(cache, index string, a Arch) (*Image, bool) {
	k, err := os.ReadFile(index)
	if err != nil {
		return nil, false
	}
	return loadImage(cache, strings.TrimSpace(string(k)), a)
}

// loadImage returns the cached image of key if it is complete (its
// manifest is written last) and its kernel is still there.
func loadImage(cache, key string, a Arch) (*Image, bool) {
	dir := filepath.Join(cache, "images", key)
	m, err := os.ReadFile(filepath.Join(dir, "manifest"))
	if err != nil {
		return nil, false
	}
	img := &Image{Arch: a, Initrd: filepath.Join(dir, "initramfs.cpio"), Key: key, Warm: true}
	img.Release, img.Kernel, img.Packages = parseManifest(m)
	if img.Kernel == "" {
		return nil, false
	}
	if _, err := os.Stat(img.Kernel); err != nil {
		return nil, false
	}
	// The manifest's time says when the image was last used (pruneImages).
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, "manifest"), now, now)
	return img, true
}

// imageMaxAge is how long an image nobody booted stays in the cache.
const imageMaxAge = 14 * 24 * time.Hour

// pruneImages removes images unused for imageMaxAge, and half-built ones
// a killed build left behind. It runs under the build lock.
func pruneImages(cache string, logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(cache, "images", "*"))
	for _, d := range dirs {
		st, err := os.Stat(filepath.Join(d, "manifest"))
		if err == nil && time.Since(st.ModTime()) < imageMaxAge {
			continue
		}
		if err == nil {
			logf("qemu: removing image %s, unused since %s", filepath.Base(d), st.ModTime().Format(time.DateOnly))
		}
		os.RemoveAll(d)
	}
	stale, _ := filepath.Glob(filepath.Join(cache, ".build-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
}

func parseManifest(b []byte) (release, kernel string, pkgs []string) {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "release":
			release = v
		case "kernel":
			kernel = v
		case "package":
			pkgs = append(pkgs, v)
		}
	}
	return release, kernel, pkgs
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
