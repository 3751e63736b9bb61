package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := `00400000-00a00000 r-xp 00000000 fe:01 123 /usr/sbin/pmip-mag
00a00000-01000000 r--p 00600000 fe:01 123 /usr/sbin/pmip-mag
01000000-01010000 rw-p 00c00000 fe:01 123 /usr/sbin/pmip-mag
01010000-01020000 rw-p 00000000 00:00 0
02000000-02001000 r--s 00000000 fe:01 123 /usr/sbin/pmip-mag
03000000-03001000 r--p 00000000 fe:01 124 /usr/sbin/pmip-mag-other
04000000-04002000 r-xp 00000000 fe:01 125 /tmp/with space (deleted)
7ffc0000-7ffc1000 r-xp 00000000 00:00 0                          [vdso]
`
	got, err := readOnlyMappings([]byte(maps), "/usr/sbin/pmip-mag")
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uintptr{{0x400000, 0xa00000}, {0xa00000, 0x1000000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %x, want %x (writable, shared, anonymous and other files left out)", got, want)
	}
	got, err = readOnlyMappings([]byte(maps), "/tmp/with space")
	if err != nil || len(got) != 1 || got[0] != [2]uintptr{0x4000000, 0x4002000} {
		t.Errorf("a deleted binary with a space in its path: got %x, %v", got, err)
	}
	for _, bad := range []string{
		"00400000 r-xp 00000000 fe:01 123 /usr/sbin/pmip-mag\n",
		"00a00000-00400000 r-xp 00000000 fe:01 123 /usr/sbin/pmip-mag\n",
		"zz-00400000 r-xp 00000000 fe:01 123 /usr/sbin/pmip-mag\n",
	} {
		if _, err := readOnlyMappings([]byte(bad), "/usr/sbin/pmip-mag"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestDropBinaryPages runs the drop on this test binary: the advised
// range covers its code, its resident file pages fall, and it still runs
// (the pages come back from the page cache on use).
func TestDropBinaryPages(t *testing.T) {
	before := rssFileKB(t)
	n, err := dropBinaryPages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if n < 1<<20 {
		t.Errorf("advised %d bytes, want at least the code of a Go binary (1 MB)", n)
	}
	if after >= before {
		t.Errorf("RssFile %d kB before, %d kB after: nothing unmapped", before, after)
	}
	t.Logf("advised %d kB; RssFile %d -> %d kB", n>>10, before, after)
	// Code and data read after the drop: a sort, a format, a map.
	m := map[string]int{}
	for i := range 1000 {
		m[strconv.Itoa(i)] = i
	}
	if m["999"] != 999 || !strings.Contains(strconv.Quote("ok"), "ok") {
		t.Fatal("the program does not run the same after the drop")
	}
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "RssFile:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
