package qemu

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// guestFS assembles the guest's root file system from unpacked Debian
// packages: whole packages or single files, each ELF file bringing the
// shared libraries it needs (DT_NEEDED, searched like ld.so searches:
// DT_RUNPATH, then the multiarch and plain library folders) and its
// program interpreter.
type guestFS struct {
	tree    fileTree
	triplet string
	roots   []string // unpacked packages, searched in order
	elfs    []string // guest paths of ELF files still to resolve
	done    map[string]bool
	libDirs map[string]bool // folders holding resolved libraries
	missing map[string][]string
}

func newGuestFS(triplet string) *guestFS {
	return &guestFS{
		tree:    make(fileTree),
		triplet: triplet,
		done:    make(map[string]bool),
		libDirs: make(map[string]bool),
		missing: make(map[string][]string),
	}
}

// find returns the package root holding guest path p.
func (g *guestFS) find(p string) (string, bool) {
	for _, r := range g.roots {
		if _, err := os.Lstat(filepath.Join(r, p)); err == nil {
			return r, true
		}
	}
	return "", false
}

// addPath adds guest path p from package root root: a file, a symlink
// and what it points to, or a folder with everything below it.
func (g *guestFS) addPath(root, p string) error {
	p = path.Clean("/" + p)
	if _, ok := g.tree[p]; ok && g.tree[p].mode&^0o7777 != modeDir {
		return nil
	}
	host := filepath.Join(root, p)
	st, err := os.Lstat(host)
	if err != nil {
		return fmt.Errorf("qemu: %s: %w", p, err)
	}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
		g.tree.symlink(p, target)
		abs := target
		if !path.IsAbs(abs) {
			abs = path.Join(path.Dir(p), target)
		}
		r, ok := g.find(abs)
		if !ok {
			return fmt.Errorf("qemu: %s points to %s, which no unpacked package ships", p, target)
		}
		return g.addPath(r, abs)
	case st.IsDir():
		g.tree.dir(p)
		ents, err := os.ReadDir(host)
		if err != nil {
			return fmt.Errorf("qemu: %w", err)
		}
		for _, e := range ents {
			if err := g.addPath(root, path.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	case st.Mode().IsRegular():
		g.tree[p] = &fileEntry{mode: modeFile | uint32(st.Mode().Perm()), src: host}
		if isELF(host) {
			g.elfs = append(g.elfs, p)
		}
		return nil
	default:
		return nil // device nodes and fifos are not shipped in packages
	}
}

func isELF(host string) bool {
	f, err := os.Open(host)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = f.ReadAt(b[:], 0)
	return err == nil && string(b[:]) == string(elfMagic)
}

// resolve adds the libraries and interpreters of every ELF file added so
// far, transitively. Sonames found in no package are recorded in
// g.missing (soname -> files needing it) so the caller can fetch more
// packages and call resolve again.
func (g *guestFS) resolve() error {
	g.missing = make(map[string][]string)
	for len(g.elfs) > 0 {
		p := g.elfs[0]
		g.elfs = g.elfs[1:]
		if g.done[p] {
			continue
		}
		e := g.tree[p]
		f, err := elf.Open(e.src)
		if err != nil {
			return fmt.Errorf("qemu: %s: %w", p, err)
		}
		needed, interp, runpath, err := elfDeps(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("qemu: %s: %w", p, err)
		}
		complete := true
		if interp != "" {
			if r, ok := g.find(interp); ok {
				if err := g.addPath(r, interp); err != nil {
					return err
				}
			} else {
				g.missing[interp] = append(g.missing[interp], p)
				complete = false
			}
		}
		for _, so := range needed {
			if !g.addLib(so, p, runpath) {
				g.missing[so] = append(g.missing[so], p)
				complete = false
			}
		}
		g.done[p] = complete
	}
	return nil
}

// retry queues every ELF file again after more packages were unpacked.
func (g *guestFS) retry() {
	g.elfs = g.elfs[:0]
	for p, e := range g.tree {
		if e.src != "" && !g.done[p] && isELF(e.src) {
			g.elfs = append(g.elfs, p)
		}
	}
	sort.Strings(g.elfs)
}

func (g *guestFS) addLib(so, from string, runpath []string) bool {
	dirs := make([]string, 0, len(runpath)+6)
	for _, r := range runpath {
		dirs = append(dirs, strings.ReplaceAll(r, "$ORIGIN", path.Dir(from)))
	}
	dirs = append(dirs, "/lib/"+g.triplet, "/usr/lib/"+g.triplet, "/lib", "/usr/lib", "/lib64", "/usr/lib64")
	for _, d := range dirs {
		p := path.Join(d, so)
		if _, ok := g.tree[p]; ok {
			return true
		}
		if r, ok := g.find(p); ok {
			if err := g.addPath(r, p); err != nil {
				return false
			}
			g.libDirs[d] = true
			return true
		}
	}
	return false
}

// elfDeps reads DT_NEEDED, PT_INTERP and DT_RUNPATH (or DT_RPATH).
func elfDeps(f *elf.File) (needed []string, interp string, runpath []string, err error) {
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return nil, "", nil, fmt.Errorf("PT_INTERP: %w", err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if f.Section(".dynamic") == nil && f.SectionByType(elf.SHT_DYNAMIC) == nil {
		return nil, interp, nil, nil // static
	}
	needed, err = f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, "", nil, err
	}
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		v, _ := f.DynString(tag)
		for _, s := range v {
			runpath = append(runpath, strings.Split(s, ":")...)
		}
	}
	return needed, interp, runpath, nil
}

// missingList renders g.missing for an error message.
func (g *guestFS) missingList() string {
	var parts []string
	for so, from := range g.missing {
		parts = append(parts, fmt.Sprintf("%s (needed by %s)", so, strings.Join(from, ", ")))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// ldPath lists the folders of resolved libraries, for LD_LIBRARY_PATH in
// the guest (no ld.so.cache is built there).
func (g *guestFS) ldPath() string {
	dirs := make([]string, 0, len(g.libDirs))
	for d := range g.libDirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return strings.Join(dirs, ":")
}
