package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openpmip/pmip/mag/magconfig"
)

// entry is one member of a tar archive.
type entry struct {
	name string
	mode int64
	uid  int
	gid  int
	dir  bool
	data []byte
}

func untarGz(t *testing.T, what string, b []byte) []entry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", what, err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header carries name %q / time %v (want none, like gzip -n)", what, zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var out []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: bad tar: %v", what, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		out = append(out, entry{h.Name, h.Mode, h.Uid, h.Gid, h.Typeflag == tar.TypeDir, data})
	}
}

func byName(es []entry) map[string]entry {
	m := map[string]entry{}
	for _, e := range es {
		m[e.name] = e
	}
	return m
}

// parseControl reads a Debian-style control file into fields; continuation
// lines are joined with newlines.
func parseControl(t *testing.T, s string) (map[string]string, []string) {
	t.Helper()
	fields := map[string]string{}
	var order []string
	var last string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasPrefix(l, " ") {
			if last == "" {
				t.Fatalf("control: continuation line first: %q", l)
			}
			fields[last] += "\n" + l[1:]
			continue
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("control: malformed line %q", l)
		}
		if _, dup := fields[k]; dup {
			t.Fatalf("control: field %s twice", k)
		}
		fields[k], last = v, k
		order = append(order, k)
	}
	return fields, order
}

// TestBuildIPKs builds the ipk of every architecture from this checkout and
// checks what opkg and the AP will see: the outer layout, the control
// fields, conffiles, maintainer scripts, the files with their modes and
// owners, the binary's ELF header, and the init script.
func TestBuildIPKs(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds pmip-mag five times; skipped in -short")
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	epoch := time.Unix(1795000000, 0)
	start := time.Now()
	paths, err := Run(context.Background(), Options{Repo: repo, Out: out, Go: goCmd(), Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %d ipks in %v", len(paths), time.Since(start).Round(time.Millisecond))
	meta, err := ReadFeedMakefile(filepath.Join(repo, feedDir, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(Arches) {
		t.Fatalf("got %d ipks, want %d", len(paths), len(Arches))
	}
	for i, a := range Arches {
		t.Run(a.Name, func(t *testing.T) {
			want := filepath.Join(out, "pmip_"+meta.FullVersion()+"_"+a.Name+".ipk")
			if paths[i] != want {
				t.Fatalf("path %s, want %s", paths[i], want)
			}
			raw, err := os.ReadFile(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			checkIPK(t, repo, a, meta, raw, epoch)
		})
	}
}

// goCmd is the go command: the one in PATH (go test runs under it), else
// the toolchain's default location.
func goCmd() string {
	if g, err := exec.LookPath("go"); err == nil {
		return g
	}
	return "/usr/local/go/bin/go"
}

func checkIPK(t *testing.T, repo string, a Arch, meta Meta, raw []byte, epoch time.Time) {
	outer := untarGz(t, "ipk", raw)
	var names []string
	for _, e := range outer {
		names = append(names, e.name)
	}
	if diff := cmp.Diff([]string{"./debian-binary", "./control.tar.gz", "./data.tar.gz"}, names); diff != "" {
		t.Fatalf("outer members (-want +got):\n%s", diff)
	}
	if got := string(outer[0].data); got != "2.0\n" {
		t.Errorf("debian-binary = %q", got)
	}

	// Data: exactly these files, with these modes, owned by root.
	data := untarGz(t, "data.tar.gz", outer[2].data)
	wantData := map[string]int64{
		"./": 0o755, "./etc/": 0o755, "./etc/config/": 0o755, "./etc/init.d/": 0o755,
		"./usr/": 0o755, "./usr/sbin/": 0o755, "./usr/libexec/": 0o755, "./usr/libexec/pmip/": 0o755,
		"./usr/sbin/pmip-mag": 0o755,
		"./etc/init.d/pmip":   0o755,
		"./etc/config/pmip":   0o600,
	}
	hooks, _ := filepath.Glob(filepath.Join(repo, hooksDir, "pmip-*"))
	if len(hooks) == 0 {
		t.Errorf("no hostapd hooks in %s", hooksDir)
	}
	for _, h := range hooks {
		wantData["./usr/libexec/pmip/"+filepath.Base(h)] = 0o755
	}
	gotData := map[string]int64{}
	var size int64
	var prev string
	for _, e := range data {
		gotData[e.name] = e.mode
		if e.uid != 0 || e.gid != 0 {
			t.Errorf("%s owned by %d:%d, want 0:0", e.name, e.uid, e.gid)
		}
		if strings.TrimSuffix(e.name, "/") < strings.TrimSuffix(prev, "/") {
			t.Errorf("%s after %s: entries not sorted by name", e.name, prev)
		}
		prev = e.name
		size += int64(len(e.data))
	}
	if diff := cmp.Diff(wantData, gotData); diff != "" {
		t.Errorf("data files and modes (-want +got):\n%s", diff)
	}
	files := byName(data)
	for _, h := range hooks {
		b, _ := os.ReadFile(h)
		if !bytes.Equal(files["./usr/libexec/pmip/"+filepath.Base(h)].data, b) {
			t.Errorf("hook %s differs from the repository's", filepath.Base(h))
		}
	}
	checkELF(t, a, files["./usr/sbin/pmip-mag"].data)
	checkScript(t, "init script", files["./etc/init.d/pmip"].data)
	if _, err := magconfig.Parse("/etc/config/pmip", files["./etc/config/pmip"].data); err != nil {
		t.Errorf("default /etc/config/pmip does not load:\n%v", err)
	}

	// Control.
	ctrl := untarGz(t, "control.tar.gz", outer[1].data)
	cf := byName(ctrl)
	for name, mode := range map[string]int64{"./control": 0o644, "./conffiles": 0o644, "./postinst": 0o755, "./prerm": 0o755} {
		e, ok := cf[name]
		if !ok {
			t.Errorf("control.tar.gz has no %s", name)
			continue
		}
		if e.mode != mode {
			t.Errorf("%s mode %o, want %o", name, e.mode, mode)
		}
	}
	if got := string(cf["./conffiles"].data); got != "/etc/config/pmip\n" {
		t.Errorf("conffiles = %q", got)
	}
	checkScript(t, "postinst", cf["./postinst"].data)
	checkScript(t, "prerm", cf["./prerm"].data)
	if !bytes.Contains(cf["./postinst"].data, []byte(`default_postinst "$0" "$@"`)) ||
		!bytes.Contains(cf["./prerm"].data, []byte(`default_prerm "$0" "$@"`)) {
		t.Error("maintainer scripts do not call OpenWrt's default_postinst/default_prerm")
	}

	fields, order := parseControl(t, string(cf["./control"].data))
	wantOrder := []string{"Package", "Version", "Depends", "Source", "SourceName", "License", "Section",
		"SourceDateEpoch", "URL", "Maintainer", "Architecture", "Installed-Size", "Description"}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("control fields (-want +got):\n%s", diff)
	}
	wantFields := map[string]string{
		"Package":         "pmip",
		"Version":         meta.Version + "-r" + meta.Release,
		"Source":          "build/openwrt/pmip",
		"SourceName":      "pmip",
		"License":         meta.License,
		"Section":         "net",
		"SourceDateEpoch": strconv.FormatInt(epoch.Unix(), 10),
		"Architecture":    a.Name,
		"Installed-Size":  strconv.FormatInt(size, 10),
	}
	for k, v := range wantFields {
		if fields[k] != v {
			t.Errorf("control %s = %q, want %q", k, fields[k], v)
		}
	}
	deps := strings.Split(fields["Depends"], ", ")
	for _, d := range []string{"kmod-ip6-tunnel", "kmod-gre6", "kmod-nft-core", "kmod-ipip", "kmod-sit", "kmod-gre", "hostapd-utils"} {
		if !contains(deps, d) {
			t.Errorf("Depends %q lacks %s", fields["Depends"], d)
		}
	}
	if !strings.Contains(fields["Description"], "Proxy Mobile") || !strings.Contains(fields["Description"], "\n") {
		t.Errorf("Description = %q", fields["Description"])
	}

	if a.Name == "mipsel_24kc" {
		logXZ(t, files["./usr/sbin/pmip-mag"].data)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkELF: the binary runs on the architecture's CPU and needs no
// dynamic loader (CGO_ENABLED=0: OpenWrt's musl is not involved).
func checkELF(t *testing.T, a Arch, bin []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("pmip-mag is not ELF: %v", err)
	}
	defer f.Close()
	if f.Machine != a.Machine || f.Class != a.Class || f.Data != a.Data {
		t.Errorf("pmip-mag is %v %v %v, want %v %v %v", f.Machine, f.Class, f.Data, a.Machine, a.Class, a.Data)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("OS ABI %v", f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("pmip-mag is dynamically linked (has PT_INTERP)")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("pmip-mag is not stripped (-ldflags '-s -w')")
	}
}

// checkScript runs sh -n and, when installed, shellcheck (as dash: OpenWrt's
// ash has `local`).
func checkScript(t *testing.T, what string, script []byte) {
	t.Helper()
	if !bytes.HasPrefix(script, []byte("#!/bin/sh")) {
		t.Errorf("%s does not start with #!/bin/sh", what)
	}
	path := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(path, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("%s: sh -n: %v\n%s", what, err, msg)
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Logf("%s: shellcheck not installed, only sh -n checked", what)
		return
	}
	if msg, err := exec.Command(sc, "-s", "dash", path).CombinedOutput(); err != nil {
		t.Errorf("%s: shellcheck: %v\n%s", what, err, msg)
	}
}

// logXZ prints the binary's size after xz -9e, about what it costs in the
// AP's squashfs (budget: 1.5 MB, issue 4).
func logXZ(t *testing.T, bin []byte) {
	t.Helper()
	xz, err := exec.LookPath("xz")
	if err != nil {
		t.Logf("xz not installed: mipsle binary %d bytes uncompressed", len(bin))
		return
	}
	cmd := exec.Command(xz, "-9e", "-c")
	cmd.Stdin = bytes.NewReader(bin)
	packed, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	const budget = 1500 * 1000
	t.Logf("pmip-mag linux/mipsle softfloat: %d bytes, xz -9e %d bytes (%.2f MB; budget 1.5 MB, %s)",
		len(bin), len(packed), float64(len(packed))/1e6, map[bool]string{true: "within", false: "OVER"}[len(packed) <= budget])
}

// The same inputs give the same bytes (reproducible packages), and a
// conffile must be in the package.
func TestBuildIPKDeterministicAndChecked(t *testing.T) {
	m := Meta{Package: "p", Version: "1", Release: "2", License: "MIT", Section: "net",
		Description: "summary\nmore\n\nlast", Conffiles: []string{"/etc/config/p"}}
	files := []File{
		{Path: "/usr/sbin/p", Mode: 0o755, Data: []byte("bin")},
		{Path: "/etc/config/p", Mode: 0o600, Data: []byte("config p\n")},
	}
	at := time.Unix(1700000000, 0)
	a, err := BuildIPK(m, "x86_64", files, at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildIPK(m, "x86_64", files, at)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same input differ")
	}
	want := "Package: p\nVersion: 1-r2\nSourceName: p\nLicense: MIT\nSection: net\nSourceDateEpoch: 1700000000\n" +
		"Architecture: x86_64\nInstalled-Size: 12\nDescription: summary\n more\n .\n last\n"
	if diff := cmp.Diff(want, Control(m, "x86_64", 12, at)); diff != "" {
		t.Errorf("control (-want +got):\n%s", diff)
	}

	m.Conffiles = []string{"/etc/config/missing"}
	if _, err := BuildIPK(m, "x86_64", files, at); err == nil {
		t.Error("a conffile missing from the package was accepted")
	}
	m.Conffiles = nil
	if _, err := BuildIPK(m, "x86_64", append(files, File{Path: "usr/bin/rel", Mode: 0o755}), at); err == nil {
		t.Error("a relative path was accepted")
	}
	if _, err := BuildIPK(m, "x86_64", append(files, files[0]), at); err == nil {
		t.Error("a file twice was accepted")
	}
}

func TestReadFeedMakefile(t *testing.T) {
	m, err := ReadFeedMakefile("../pmip/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if m.Package != "pmip" || m.Version == "" || m.Release == "" || m.Section != "net" ||
		len(m.Conffiles) != 1 || m.Conffiles[0] != "/etc/config/pmip" {
		t.Errorf("ReadFeedMakefile = %+v", m)
	}

	for name, body := range map[string]string{
		"no version":     "PKG_NAME:=p\nPKG_RELEASE:=1\nPKG_LICENSE:=MIT\ndefine Package/p\nendef\n",
		"no define":      "PKG_NAME:=p\nPKG_VERSION:=1\nPKG_RELEASE:=1\nPKG_LICENSE:=MIT\n",
		"unclosed":       "PKG_NAME:=p\nPKG_VERSION:=1\nPKG_RELEASE:=1\nPKG_LICENSE:=MIT\ndefine Package/p\n",
		"conditional":    "PKG_NAME:=p\nPKG_VERSION:=1\nPKG_RELEASE:=1\nPKG_LICENSE:=MIT\ndefine Package/p\n  DEPENDS:=+PACKAGE_x:y\nendef\ndefine Package/p/description\n d\nendef\n",
		"no description": "PKG_NAME:=p\nPKG_VERSION:=1\nPKG_RELEASE:=1\nPKG_LICENSE:=MIT\ndefine Package/p\n  DEPENDS:=+a\nendef\n",
	} {
		path := filepath.Join(t.TempDir(), "Makefile")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFeedMakefile(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if e, err := sourceDateEpoch("."); err != nil || e.Unix() != 1700000000 {
		t.Errorf("sourceDateEpoch = %v, %v", e, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := sourceDateEpoch("."); err == nil {
		t.Error("SOURCE_DATE_EPOCH=yesterday accepted")
	}
}

func TestUnknownArch(t *testing.T) {
	_, err := selectArches([]string{"x86_64", "mipsel_74kc"})
	if err == nil || !strings.Contains(err.Error(), `unknown architecture "mipsel_74kc"`) {
		t.Errorf("selectArches = %v", err)
	}
}

// The repository's init script, checked directly (it is also checked
// inside every ipk).
func TestInitScript(t *testing.T) {
	b, err := os.ReadFile("../pmip/files/pmip.init")
	if err != nil {
		t.Fatal(err)
	}
	checkScript(t, "pmip.init", b)
	st, err := os.Stat("../pmip/files/pmip.init")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&fs.ModePerm&0o111 == 0 {
		t.Errorf("pmip.init is not executable: %v", st.Mode())
	}
	for _, want := range []string{"USE_PROCD=1", "procd_add_reload_trigger", "procd_set_param respawn",
		`procd_set_param nice "$MAG_NICE"`,
		`"$PROG" -config "$CONF_FILE"`, "config_foreach start_hooks access", "pmip-hostapd-action", "pmip-ubus-subscriber"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("pmip.init lacks %q", want)
		}
	}
}
