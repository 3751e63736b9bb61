package qemu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// A debPackage is one binary package as apt-cache describes its candidate.
type debPackage struct {
	Name, Version, Arch, Section string
	// Depends holds Depends and Pre-Depends, first alternative of each
	// group, without version constraints.
	Depends []string
}

// ID names the package version in the cache: name_version_arch, with the
// epoch colon escaped as apt escapes it in file names.
func (p debPackage) ID() string {
	return p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_" + p.Arch
}

// debian fetches packages with `apt-get download` and unpacks them with
// `dpkg -x` into the cache. It never installs anything: the host's dpkg
// database and /boot stay untouched.
type debian struct {
	cache string // root of the cache
	arch  string // Debian architecture of the packages
	logf  func(format string, args ...any)
	// env is added to apt's environment: APT_CONFIG of a private root
	// for a foreign architecture (see aptroot.go), nil for the host's.
	env []string
	// updated is set once `apt-get update` ran in this process.
	updated bool
}

func (d *debian) debDir() string { return filepath.Join(d.cache, "debs") }
func (d *debian) pkgDir() string { return filepath.Join(d.cache, "pkgs") }

// Root is where package p is unpacked.
func (d *debian) Root(p debPackage) string { return filepath.Join(d.pkgDir(), p.ID()) }

var errNoPackage = errors.New("qemu: no such Debian package")

// Show returns the candidate of each named package. Names apt does not
// know (or purely virtual ones) are left out of the map; if the first
// name is unknown the package lists are refreshed once with apt-get
// update, since a fresh machine may have none.
func (d *debian) Show(names ...string) (map[string]debPackage, error) {
	if len(names) == 0 {
		return map[string]debPackage{}, nil
	}
	got, err := d.show(names)
	if err != nil {
		return nil, err
	}
	if _, ok := got[names[0]]; !ok && !d.updated {
		if err := d.Update(); err != nil {
			return nil, err
		}
		if got, err = d.show(names); err != nil {
			return nil, err
		}
	}
	return got, nil
}

// showCache remembers apt-cache's answers for the life of the process (the
// package lists do not change under a test run, except through Update,
// which clears it), so a second guest finds its image without asking again.
var showCache = struct {
	sync.Mutex
	m map[string]debPackage
}{m: map[string]debPackage{}}

func (d *debian) show(names []string) (map[string]debPackage, error) {
	m := make(map[string]debPackage, len(names))
	var ask []string
	showCache.Lock()
	for _, n := range names {
		if p, ok := showCache.m[d.arch+"/"+n]; ok {
			m[n] = p
		} else {
			ask = append(ask, n)
		}
	}
	showCache.Unlock()
	if len(ask) == 0 {
		return m, nil
	}
	got, err := d.aptShow(ask)
	if err != nil {
		return nil, err
	}
	showCache.Lock()
	for n, p := range got {
		showCache.m[d.arch+"/"+n] = p
		m[n] = p
	}
	showCache.Unlock()
	return m, nil
}

func (d *debian) aptShow(names []string) (map[string]debPackage, error) {
	args := []string{"show", "--no-all-versions"}
	// Names go unqualified: apt's architecture is the guest's (the host's,
	// or a private root's), and "all" packages then resolve too.
	args = append(args, names...)
	var out, stderr bytes.Buffer
	cmd := exec.Command("apt-cache", args...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	// apt-cache exits non-zero when any name is unknown or virtual, but
	// still prints the others: judge by what it printed.
	runErr := cmd.Run()
	pkgs := parseAptShow(out.Bytes())
	if len(pkgs) == 0 && runErr != nil && !strings.Contains(stderr.String(), "No packages found") &&
		!strings.Contains(stderr.String(), "purely virtual") && !strings.Contains(stderr.String(), "Unable to locate") {
		return nil, fmt.Errorf("qemu: apt-cache show: %v: %s", runErr, stderr.String())
	}
	m := make(map[string]debPackage, len(pkgs))
	for _, p := range pkgs {
		if _, dup := m[p.Name]; !dup {
			m[p.Name] = p
		}
	}
	return m, nil
}

// parseAptShow reads the stanzas of `apt-cache show`.
func parseAptShow(b []byte) []debPackage {
	var pkgs []debPackage
	var cur debPackage
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			pkgs = append(pkgs, cur)
		}
		cur = debPackage{}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a multi-line field
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Architecture":
			cur.Arch = v
		case "Section":
			cur.Section = v
		case "Depends", "Pre-Depends":
			cur.Depends = append(cur.Depends, parseDepends(v)...)
		}
	}
	flush()
	return pkgs
}

// parseDepends takes the first alternative of each group of a Depends
// field: "a (>= 1) | b, c:any" gives [a c].
func parseDepends(v string) []string {
	var names []string
	for _, group := range strings.Split(v, ",") {
		alt, _, _ := strings.Cut(group, "|")
		alt = strings.TrimSpace(alt)
		if i := strings.IndexAny(alt, " ("); i >= 0 {
			alt = alt[:i]
		}
		alt, _, _ = strings.Cut(alt, ":")
		if alt != "" {
			names = append(names, alt)
		}
	}
	return names
}

// Update runs apt-get update once per process.
func (d *debian) Update() error {
	if d.updated {
		return nil
	}
	d.updated = true
	showCache.Lock()
	clear(showCache.m)
	showCache.Unlock()
	d.logf("qemu: apt-get update (package lists missing or stale)")
	cmd := exec.Command("apt-get", "update", "-qq")
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu: apt-get update: %v: %s", err, out)
	}
	return nil
}

// Fetch makes sure every package is unpacked in the cache, downloading
// the missing ones in one apt-get call.
func (d *debian) Fetch(pkgs []debPackage) error {
	var missing []debPackage
	for _, p := range pkgs {
		if _, err := os.Stat(d.Root(p)); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(d.debDir(), 0o755); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	var want []string
	for _, p := range missing {
		if _, err := os.Stat(d.debFile(p)); err != nil {
			want = append(want, p.Name+"="+p.Version)
		}
	}
	if len(want) > 0 {
		d.logf("qemu: apt-get download %s", strings.Join(want, " "))
		// The sandbox user _apt could not write into the cache: stay root.
		args := append([]string{"download", "-qq", "-o", "APT::Sandbox::User=root"}, want...)
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), d.env...)
		cmd.Dir = d.debDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("qemu: apt-get download: %v: %s", err, out)
		}
	}
	for _, p := range missing {
		if err := d.unpack(p); err != nil {
			return err
		}
	}
	return nil
}

func (d *debian) debFile(p debPackage) string {
	return filepath.Join(d.debDir(), p.ID()+".deb")
}

// unpack runs dpkg -x into a temporary folder renamed into place, so a
// build that dies half-way leaves no half-unpacked package behind.
func (d *debian) unpack(p debPackage) error {
	deb := d.debFile(p)
	if _, err := os.Stat(deb); err != nil {
		return fmt.Errorf("qemu: %s was not downloaded: %w", p.ID(), err)
	}
	if err := os.MkdirAll(d.pkgDir(), 0o755); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	tmp, err := os.MkdirTemp(d.pkgDir(), ".unpack-")
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	if out, err := exec.Command("dpkg", "-x", deb, tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("qemu: dpkg -x %s: %v: %s", deb, err, out)
	}
	if err := os.Rename(tmp, d.Root(p)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("qemu: %w", err)
	}
	// Unpacked, the .deb is not needed again.
	os.Remove(deb)
	return nil
}
