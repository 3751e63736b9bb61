package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Meta is what an ipk's control file says about the package.
type Meta struct {
	Package     string
	Version     string // upstream version, PKG_VERSION
	Release     string // PKG_RELEASE
	Depends     []string
	Source      string // where the package's Makefile lives
	License     string
	Section     string
	URL         string
	Maintainer  string
	Description string // first line is the summary; no trailing newline
	Conffiles   []string
}

// FullVersion is the Version field: PKG_VERSION-rPKG_RELEASE, as OpenWrt
// writes it since 23.05.
func (m Meta) FullVersion() string { return m.Version + "-r" + m.Release }

// File is one file of the package's data, at its absolute target path.
type File struct {
	Path string
	Mode fs.FileMode
	Data []byte
}

// postinst and prerm are what OpenWrt's package-ipkg.mk generates for a
// package with no scripts of its own: they enable/start and stop/disable
// the init scripts the package installs (default_postinst, default_prerm
// of /lib/functions.sh) and honour IPKG_INSTROOT when building an image.
const postinst = `#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
`

const prerm = `#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
`

// Control renders the control file of the package for an architecture.
func Control(m Meta, arch string, installedSize int64, epoch time.Time) string {
	var b strings.Builder
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	field("Package", m.Package)
	field("Version", m.FullVersion())
	field("Depends", strings.Join(m.Depends, ", "))
	field("Source", m.Source)
	field("SourceName", m.Package)
	field("License", m.License)
	field("Section", m.Section)
	field("SourceDateEpoch", fmt.Sprint(epoch.Unix()))
	field("URL", m.URL)
	field("Maintainer", m.Maintainer)
	field("Architecture", arch)
	field("Installed-Size", fmt.Sprint(installedSize))
	// Debian control syntax: continuation lines start with a space, an
	// empty line is " .".
	lines := strings.Split(m.Description, "\n")
	for i, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			lines[i+1] = " ."
		} else {
			lines[i+1] = " " + l
		}
	}
	field("Description", strings.Join(lines, "\n"))
	return b.String()
}

// BuildIPK assembles an OpenWrt ipk: a gzipped tar holding
// ./debian-binary, ./control.tar.gz and ./data.tar.gz, each inner tar with
// numeric root ownership and entries sorted by name, as OpenWrt's
// ipkg-build writes them. mtime stamps every entry, so equal inputs give
// equal bytes.
func BuildIPK(m Meta, arch string, files []File, mtime time.Time) ([]byte, error) {
	var size int64
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return nil, fmt.Errorf("mkipk: %q is not a clean absolute path", f.Path)
		}
		size += int64(len(f.Data))
	}
	for _, c := range m.Conffiles {
		if !slices.ContainsFunc(files, func(f File) bool { return f.Path == c }) {
			return nil, fmt.Errorf("mkipk: conffile %s is not in the package", c)
		}
	}
	data, err := tarGz(files, mtime)
	if err != nil {
		return nil, err
	}
	ctrl := []File{
		{Path: "/control", Mode: 0o644, Data: []byte(Control(m, arch, size, mtime))},
		{Path: "/postinst", Mode: 0o755, Data: []byte(postinst)},
		{Path: "/prerm", Mode: 0o755, Data: []byte(prerm)},
	}
	if len(m.Conffiles) > 0 {
		ctrl = append(ctrl, File{Path: "/conffiles", Mode: 0o644, Data: []byte(strings.Join(m.Conffiles, "\n") + "\n")})
	}
	control, err := tarGz(ctrl, mtime)
	if err != nil {
		return nil, err
	}
	var outer bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&outer, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for _, member := range []struct {
		name string
		data []byte
	}{
		{"./debian-binary", []byte("2.0\n")},
		{"./control.tar.gz", control},
		{"./data.tar.gz", data},
	} {
		if err := tw.WriteHeader(header(member.name, 0o644, int64(len(member.data)), mtime)); err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		if _, err := tw.Write(member.data); err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("mkipk: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("mkipk: %w", err)
	}
	return outer.Bytes(), nil
}

func header(name string, mode fs.FileMode, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     int64(mode.Perm()),
		Size:     size,
		ModTime:  mtime,
		Format:   tar.FormatGNU,
	}
}

// tarGz writes files, and every directory above them, as a gzipped tar of
// ./-relative names sorted by name.
func tarGz(files []File, mtime time.Time) ([]byte, error) {
	dirs := map[string]bool{"./": true}
	entries := map[string]File{}
	for _, f := range files {
		name := "." + f.Path
		if _, dup := entries[name]; dup {
			return nil, fmt.Errorf("mkipk: %s is in the package twice", f.Path)
		}
		entries[name] = f
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			dirs["."+d+"/"] = true
		}
	}
	names := make([]string, 0, len(dirs)+len(entries))
	for d := range dirs {
		names = append(names, d)
	}
	for n := range entries {
		names = append(names, n)
	}
	// GNU tar's --sort=name compares the names without their trailing
	// slash, so a directory comes right before its contents.
	slices.SortFunc(names, func(a, b string) int {
		return strings.Compare(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
	})

	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		if dirs[n] {
			h := header(n, 0o755, 0, mtime)
			h.Typeflag = tar.TypeDir
			if err := tw.WriteHeader(h); err != nil {
				return nil, fmt.Errorf("mkipk: %w", err)
			}
			continue
		}
		f := entries[n]
		if err := tw.WriteHeader(header(n, f.Mode, int64(len(f.Data)), mtime)); err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("mkipk: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("mkipk: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("mkipk: %w", err)
	}
	return buf.Bytes(), nil
}
