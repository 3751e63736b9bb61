package qemu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// These tests need neither root nor QEMU: they check the pieces the tier
// is made of on their own.

func TestParseAptShow(t *testing.T) {
	in := `Package: iproute2
Version: 6.1.0-3
Installed-Size: 3224
Depends: debconf (>= 0.5) | debconf-2.0, libbpf1 (>= 1:0.6.0), libc6:any (>= 2.34), libcap2-bin
Pre-Depends: init-system-helpers (>= 1.54~)
Section: net
Architecture: amd64
Description: networking and traffic control tools
 The iproute2 suite is a collection of utilities
 Depends: not a field, a continuation line

Package: libc6
Version: 2.36-9+deb12u14
Section: libs
Architecture: amd64

Package: broken
Section: libs
`
	got := parseAptShow([]byte(in))
	want := []debPackage{
		{Name: "iproute2", Version: "6.1.0-3", Arch: "amd64", Section: "net",
			Depends: []string{"debconf", "libbpf1", "libc6", "libcap2-bin", "init-system-helpers"}},
		{Name: "libc6", Version: "2.36-9+deb12u14", Arch: "amd64", Section: "libs"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parseAptShow (-want +got):\n%s", d)
	}
	if id := (debPackage{Name: "busybox-static", Version: "1:1.35.0-4", Arch: "amd64"}).ID(); id != "busybox-static_1%3a1.35.0-4_amd64" {
		t.Errorf("ID = %s, want the epoch escaped as apt names files", id)
	}
}

// readCpio is an independent newc reader for the tests.
func readCpio(t *testing.T, b []byte) map[string]fileEntry {
	t.Helper()
	out := map[string]fileEntry{}
	for off := 0; ; {
		if len(b)-off < 110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, nsize := field(1), field(6), field(9), field(10), field(11)
		name := string(b[off+110 : off+110+int(nsize)-1])
		off = (off + 110 + int(nsize) + 3) &^ 3
		data := b[off : off+int(size)]
		off = (off + int(size) + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		e := fileEntry{mode: mode, major: rmaj, minor: rmin}
		if mode&^0o7777 == modeSymlink {
			e.link = string(data)
		} else if len(data) > 0 {
			e.data = append([]byte(nil), data...)
		}
		out[name] = e
	}
}

func TestWriteCpio(t *testing.T) {
	host := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(host, []byte("from a host file"), 0o600); err != nil {
		t.Fatal(err)
	}
	tree := fileTree{}
	tree.data("/init", 0o755, []byte("#!/bin/sh\n"))
	tree.symlink("/bin/sh", "dash")
	tree["/usr/lib/x/lib.so.1"] = &fileEntry{mode: modeFile | 0o644, src: host}
	tree["/dev/console"] = &fileEntry{mode: modeChar | 0o600, major: 5, minor: 1}
	var buf bytes.Buffer
	if err := writeCpio(&buf, tree); err != nil {
		t.Fatal(err)
	}
	got := readCpio(t, buf.Bytes())
	want := map[string]fileEntry{
		"bin":                {mode: modeDir | 0o755},
		"bin/sh":             {mode: modeSymlink | 0o777, link: "dash"},
		"dev":                {mode: modeDir | 0o755},
		"dev/console":        {mode: modeChar | 0o600, major: 5, minor: 1},
		"init":               {mode: modeFile | 0o755, data: []byte("#!/bin/sh\n")},
		"usr":                {mode: modeDir | 0o755},
		"usr/lib":            {mode: modeDir | 0o755},
		"usr/lib/x":          {mode: modeDir | 0o755},
		"usr/lib/x/lib.so.1": {mode: modeFile | 0o644, data: []byte("from a host file")},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(fileEntry{})); d != "" {
		t.Errorf("cpio (-want +got):\n%s", d)
	}
	// Parents come before their contents, as the kernel's unpacker needs.
	var names []string
	for off, b := 0, buf.Bytes(); off < len(b); {
		nsize, _ := strconv.ParseUint(string(b[off+94:off+102]), 16, 32)
		size, _ := strconv.ParseUint(string(b[off+54:off+62]), 16, 32)
		names = append(names, string(b[off+110:off+110+int(nsize)-1]))
		off = (off + 110 + int(nsize) + 3) &^ 3
		off = (off + int(size) + 3) &^ 3
	}
	for i, n := range names {
		if dir := filepath.Dir(n); dir != "." && !slices.Contains(names[:i], dir) {
			t.Errorf("%s comes before its folder %s", n, dir)
		}
	}
	// The archive is what GNU cpio reads too, where it is installed.
	if _, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command("cpio", "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cpio -t: %v", err)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, names[:len(names)-1]) {
			t.Errorf("cpio -t lists %v, want %v", got, names[:len(names)-1])
		}
	}
}

func TestExtractVmlinux(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("xz not installed (scripts/install-test-deps.sh installs xz-utils)")
	}
	elfBody := append([]byte("\x7fELF"), bytes.Repeat([]byte("kernel text "), 1000)...)
	cmd := exec.Command("xz", "-c", "--check=crc32")
	cmd.Stdin = bytes.NewReader(elfBody)
	xzData, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	// A bzImage: setup code that happens to contain the xz magic, the
	// payload, then trailing data after the stream.
	bz := append([]byte("MZ setup \xfd7zXZ\x00 false start "), xzData...)
	bz = append(bz, []byte("trailing size words")...)
	got, err := extractVmlinux(bz)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, elfBody) {
		t.Errorf("extracted %d bytes, want the %d-byte ELF payload", len(got), len(elfBody))
	}
	if got, err := extractVmlinux(elfBody); err != nil || !bytes.Equal(got, elfBody) {
		t.Errorf("an ELF image must come back as is: %v", err)
	}
	if _, err := extractVmlinux([]byte("MZ no payload at all")); err == nil {
		t.Error("an image without payload gave no error")
	}
}

func TestGoTestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		out       string
		code      int
		allowSkip []string
		wantErr   string // substring; empty means pass
	}{
		{name: "pass", out: "=== RUN   TestA\n--- PASS: TestA (0.01s)\nPASS\n"},
		{name: "failed subtest", code: 1, wantErr: "failed: TestA/sub, TestA",
			out: "=== RUN   TestA\n=== RUN   TestA/sub\n    --- FAIL: TestA/sub (0.00s)\n--- FAIL: TestA (0.00s)\nFAIL\n"},
		{name: "skip", wantErr: "skipped in the VM, where they must run: TestB",
			out: "--- PASS: TestA (0.00s)\n--- SKIP: TestB (0.00s)\n    x_test.go:9: nstest: needs root\nPASS\n"},
		{name: "allowed skip", allowSkip: []string{"TestB"},
			out: "--- PASS: TestA (0.00s)\n--- SKIP: TestB (0.00s)\nPASS\n"},
		{name: "timeout", code: 2, wantErr: "timed out",
			out: "=== RUN   TestA\npanic: test timed out after 3s\n\trunning tests:\n\t\tTestA (3s)\n"},
		{name: "no tests", wantErr: "no tests to run", out: "testing: warning: no tests to run\nPASS\n"},
		{name: "crash before PASS", wantErr: "did not print PASS", out: "--- PASS: TestA (0.00s)\n"},
		{name: "nothing ran", wantErr: "no test passed", out: "PASS\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &GoTestResult{Package: "./x", Output: tc.out, ExitCode: tc.code, allowSkip: tc.allowSkip}
			parseGoTestOutput(r)
			err := r.Err()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("verdict %v, want pass", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("verdict %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestQemuArgs(t *testing.T) {
	vm := &VM{Image: &Image{Arch: Amd64, Kernel: "/c/vmlinux", Initrd: "/c/initramfs.cpio"}, share: "/w/share", root: "/src", logs: "/src/results/T"}
	got := strings.Join(vm.qemuArgs(Options{
		Memory: 256,
		Append: "pmip.x=1",
		Shares: []Share{{Tag: "pcap", Dir: "/w/pcap"}},
		NICs:   []NIC{{Netdev: "listen=127.0.0.1:10001", MAC: "52:54:00:00:00:01"}},
	}, "/w/ctl.sock"), " ")
	for _, want := range []string{
		"-accel tcg -cpu max -m 256 -smp 1",
		"-kernel /c/vmlinux -initrd /c/initramfs.cpio -append console=ttyS0 panic=-1 quiet no_timer_check pmip.x=1",
		"-chardev socket,id=ctl,path=/w/ctl.sock -device virtserialport,bus=vser.0,chardev=ctl,name=pmip.ctl",
		"-fsdev local,id=fs0,path=/w/share,security_model=none -device virtio-9p-pci,fsdev=fs0,mount_tag=share",
		"-fsdev local,id=fs1,path=/src,security_model=none,readonly=on -device virtio-9p-pci,fsdev=fs1,mount_tag=src",
		"-fsdev local,id=fs2,path=/src/results/T,security_model=none -device virtio-9p-pci,fsdev=fs2,mount_tag=results",
		"-fsdev local,id=fs3,path=/w/pcap,security_model=none -device virtio-9p-pci,fsdev=fs3,mount_tag=pcap",
		"-netdev socket,id=net0,listen=127.0.0.1:10001 -device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("qemu arguments lack %q:\n%s", want, got)
		}
	}
}

// TestQemuArgsMipselSlots checks every PCI device of the Malta guest
// sits in a slot whose interrupt Linux routes (18-21, then 11 and 12),
// whatever the NIC's model.
func TestQemuArgsMipselSlots(t *testing.T) {
	vm := &VM{Image: &Image{Arch: Mipsel, Kernel: "/c/vmlinux", Initrd: "/c/initramfs.cpio"}, share: "/w/share", root: "/src", logs: "/src/results/T"}
	got := strings.Join(vm.qemuArgs(Options{NICs: []NIC{
		{Netdev: "connect=127.0.0.1:10001", MAC: "52:54:00:00:00:02"},
		{Netdev: "listen=127.0.0.1:10002", Model: "e1000", DeviceOptions: "romfile="},
	}}, "/w/ctl.sock"), " ")
	for _, want := range []string{
		"-M malta -accel tcg",
		"-device virtio-serial-pci,id=vser,addr=0x12 ",
		"-device virtio-9p-pci,fsdev=fs0,mount_tag=share,addr=0x13 ",
		"-device virtio-9p-pci,fsdev=fs1,mount_tag=src,addr=0x14 ",
		"-device virtio-9p-pci,fsdev=fs2,mount_tag=results,addr=0x15 ",
		"-netdev socket,id=net0,connect=127.0.0.1:10001 -device virtio-net-pci,netdev=net0,addr=0x0b,mac=52:54:00:00:00:02 ",
		"-netdev socket,id=net1,listen=127.0.0.1:10002 -device e1000,netdev=net1,addr=0x0c,romfile= ",
	} {
		if !strings.Contains(got+" ", want) {
			t.Errorf("qemu arguments lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "addr=0x"); n != 6 {
		t.Errorf("%d devices placed, want 6:\n%s", n, got)
	}
}

// TestGuestFSResolvesLibraries lays out two fake packages: a program
// whose library sits in the second, behind a symlink chain, and checks
// the tree holds the program, the symlink, the library and the
// interpreter, and that a soname no package ships is reported.
func TestGuestFSResolvesLibraries(t *testing.T) {
	// Fixtures are tiny ELF files written here, so the test does not
	// depend on how this machine's binaries are linked.
	dir := t.TempDir()
	prog, lib := filepath.Join(dir, "p1", "bin", "prog"), filepath.Join(dir, "p2", "usr", "lib", "x86_64-linux-gnu", "libfoo.so.1.2")
	writeELF(t, prog, "/lib64/ld-test.so", []string{"libfoo.so.1", "libmissing.so.9"})
	writeELF(t, lib, "", nil)
	writeELF(t, filepath.Join(dir, "p2", "lib64", "ld-test.so"), "", nil)
	if err := os.Symlink("libfoo.so.1.2", filepath.Join(filepath.Dir(lib), "libfoo.so.1")); err != nil {
		t.Fatal(err)
	}
	g := newGuestFS("x86_64-linux-gnu")
	g.roots = []string{filepath.Join(dir, "p1"), filepath.Join(dir, "p2")}
	if err := g.addPath(g.roots[0], "/bin/prog"); err != nil {
		t.Fatal(err)
	}
	if err := g.resolve(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]uint32{
		"/bin/prog": modeFile, "/lib64/ld-test.so": modeFile,
		"/usr/lib/x86_64-linux-gnu/libfoo.so.1":   modeSymlink,
		"/usr/lib/x86_64-linux-gnu/libfoo.so.1.2": modeFile,
	} {
		if e, ok := g.tree[p]; !ok || e.mode&^0o7777 != want {
			t.Errorf("%s: %+v, want type %o", p, e, want)
		}
	}
	if got := g.missingList(); got != "libmissing.so.9 (needed by /bin/prog)" {
		t.Errorf("missing = %q", got)
	}
	if got := g.ldPath(); got != "/usr/lib/x86_64-linux-gnu" {
		t.Errorf("ldPath = %q", got)
	}
}

// writeELF writes a minimal 64-bit little-endian ELF file with an optional
// PT_INTERP and a dynamic section naming the needed libraries.
func writeELF(t *testing.T, path, interp string, needed []string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Layout: ELF header (64) | program headers | .dynstr | .dynamic | .shstrtab | section headers
	var dynstr bytes.Buffer
	dynstr.WriteByte(0)
	var offs []int
	for _, n := range needed {
		offs = append(offs, dynstr.Len())
		dynstr.WriteString(n + "\x00")
	}
	interpOff := dynstr.Len()
	if interp != "" {
		dynstr.WriteString(interp + "\x00")
	}
	shstr := []byte("\x00.dynstr\x00.dynamic\x00.shstrtab\x00")
	nph := 1
	if interp != "" {
		nph = 2
	}
	phOff := 64
	dynstrOff := phOff + 56*nph
	dynOff := (dynstrOff + dynstr.Len() + 7) &^ 7
	var dyn bytes.Buffer
	for _, o := range offs {
		binary.Write(&dyn, binary.LittleEndian, [2]uint64{1, uint64(o)}) // DT_NEEDED
	}
	binary.Write(&dyn, binary.LittleEndian, [2]uint64{5, uint64(dynstrOff)}) // DT_STRTAB
	binary.Write(&dyn, binary.LittleEndian, [2]uint64{0, 0})                 // DT_NULL
	shstrOff := dynOff + dyn.Len()
	shOff := (shstrOff + len(shstr) + 7) &^ 7

	var b bytes.Buffer
	le := binary.LittleEndian
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(3))  // ET_DYN
	binary.Write(&b, le, uint16(62)) // EM_X86_64
	binary.Write(&b, le, uint32(1))
	binary.Write(&b, le, uint64(0))     // entry
	binary.Write(&b, le, uint64(phOff)) // phoff
	binary.Write(&b, le, uint64(shOff)) // shoff
	binary.Write(&b, le, uint32(0))
	binary.Write(&b, le, [6]uint16{64, 56, uint16(nph), 64, 4, 3})
	ph := func(typ uint32, off, size int) {
		binary.Write(&b, le, [2]uint32{typ, 4})
		binary.Write(&b, le, [6]uint64{uint64(off), uint64(off), uint64(off), uint64(size), uint64(size), 8})
	}
	if interp != "" {
		ph(3, dynstrOff+interpOff, len(interp)+1) // PT_INTERP
	}
	ph(2, dynOff, dyn.Len()) // PT_DYNAMIC
	b.Write(dynstr.Bytes())
	b.Write(make([]byte, dynOff-b.Len()))
	b.Write(dyn.Bytes())
	b.Write(shstr)
	b.Write(make([]byte, shOff-b.Len()))
	sh := func(name, typ uint32, off, size, link, entsize int) {
		binary.Write(&b, le, [2]uint32{name, typ})
		binary.Write(&b, le, [4]uint64{2, uint64(off), uint64(off), uint64(size)})
		binary.Write(&b, le, [2]uint32{uint32(link), 0})
		binary.Write(&b, le, [2]uint64{1, uint64(entsize)})
	}
	sh(0, 0, 0, 0, 0, 0)
	sh(1, 3, dynstrOff, dynstr.Len(), 0, 0) // .dynstr SHT_STRTAB
	sh(9, 6, dynOff, dyn.Len(), 1, 16)      // .dynamic SHT_DYNAMIC, link .dynstr
	sh(18, 3, shstrOff, len(shstr), 0, 0)   // .shstrtab
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestPruneImages(t *testing.T) {
	cache := t.TempDir()
	mk := func(p string, age time.Duration) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(cache, "images", "old", "manifest"), imageMaxAge+time.Hour)
	mk(filepath.Join(cache, "images", "new", "manifest"), time.Hour)
	mk(filepath.Join(cache, "images", "halfbuilt", "initramfs.cpio"), 0)
	mk(filepath.Join(cache, ".build-123", "vmlinux"), 0)
	pruneImages(cache, t.Logf)
	left, _ := filepath.Glob(filepath.Join(cache, "*", "*"))
	hidden, _ := filepath.Glob(filepath.Join(cache, ".build-*"))
	if got := append(left, hidden...); len(got) != 1 || filepath.Base(got[0]) != "new" {
		t.Errorf("after pruning: %v, want only images/new", got)
	}
}

func TestClaimResults(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "results", "TestX", "old.console.log")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := claimResults(root, "TestX")
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(root, "results", "TestX") {
		t.Errorf("first claim got %s", dir)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("an earlier run's file survived the first claim")
	}
	if again, _ := claimResults(root, "TestX"); again != dir {
		t.Errorf("the test's second guest got %s, want %s", again, dir)
	}
	// Another process holding TestY's lock sends this one to TestY.<pid>.
	if err := os.WriteFile(filepath.Join(root, "results", ".locks", "TestY"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	other, err := os.Open(filepath.Join(root, "results", ".locks", "TestY"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// flock locks belong to open files: a second open file conflicts even
	// within one process, as another process's would.
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	got, err := claimResults(root, "TestY")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "results", fmt.Sprintf("TestY.%d", os.Getpid())); got != want {
		t.Errorf("contended claim got %s, want %s", got, want)
	}
}

// TestHostDeadline: the harness's real-time deadline on a guest-timed run
// leaves the guest's own timeout room to fire first, however slow the
// guest's clock.
func TestHostDeadline(t *testing.T) {
	for _, c := range []struct {
		arch  Arch
		guest time.Duration
		want  time.Duration
	}{
		{Amd64, 5 * time.Minute, 6 * time.Minute},
		{Mipsel, 5 * time.Minute, 26 * time.Minute},
		{Mipsel, 3 * time.Second, 75 * time.Second},
		{Arch{SlowClock: 0.5}, time.Minute, 2 * time.Minute}, // never shorter than the guest's own
	} {
		if got := c.arch.hostDeadline(c.guest); got != c.want {
			t.Errorf("%s: hostDeadline(%v) = %v, want %v", c.arch.Name, c.guest, got, c.want)
		}
	}
}
