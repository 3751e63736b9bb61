package qemu

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// Mode bits of cpio entries (they are those of stat(2)).
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
)

// A fileEntry is one file of the guest's root file system.
type fileEntry struct {
	mode uint32 // type and permission bits
	src  string // host file holding a regular file's content
	data []byte // or the content itself
	link string // symlink target
	// rdev of a device node
	major, minor uint32
}

// fileTree maps absolute guest paths to entries.
type fileTree map[string]*fileEntry

func (t fileTree) dir(p string) { t[path.Clean(p)] = &fileEntry{mode: modeDir | 0o755} }
func (t fileTree) symlink(p, target string) {
	t[path.Clean(p)] = &fileEntry{mode: modeSymlink | 0o777, link: target}
}
func (t fileTree) data(p string, perm uint32, b []byte) {
	t[path.Clean(p)] = &fileEntry{mode: modeFile | perm, data: b}
}

// writeCpio writes the tree as an uncompressed cpio archive in the "newc"
// format the kernel unpacks into its initramfs (the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst). Parent
// folders are added where missing and always come before their contents;
// times are zero so equal trees give equal archives.
func writeCpio(w io.Writer, t fileTree) error {
	for p := range t {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := t[d]; !ok {
				t.dir(d)
			}
		}
	}
	names := make([]string, 0, len(t))
	for p := range t {
		if p != "/" {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	bw := bufio.NewWriterSize(w, 1<<20)
	ino := uint32(1)
	for _, p := range names {
		e := t[p]
		var size int64
		var body io.Reader
		switch e.mode &^ 0o7777 {
		case modeFile:
			if e.src != "" {
				f, err := os.Open(e.src)
				if err != nil {
					return fmt.Errorf("qemu: cpio: %w", err)
				}
				st, err := f.Stat()
				if err != nil {
					f.Close()
					return fmt.Errorf("qemu: cpio: %w", err)
				}
				size, body = st.Size(), f
			} else {
				size, body = int64(len(e.data)), bytes.NewReader(e.data)
			}
		case modeSymlink:
			size, body = int64(len(e.link)), strings.NewReader(e.link)
		}
		err := writeCpioEntry(bw, p[1:], ino, e, size, body)
		if c, ok := body.(io.Closer); ok {
			c.Close()
		}
		if err != nil {
			return err
		}
		ino++
	}
	if err := writeCpioEntry(bw, "TRAILER!!!", 0, &fileEntry{}, 0, nil); err != nil {
		return err
	}
	return bw.Flush()
}

func writeCpioEntry(w *bufio.Writer, name string, ino uint32, e *fileEntry, size int64, body io.Reader) error {
	if size > 0xffffffff {
		return fmt.Errorf("qemu: cpio: %s is larger than 4 GiB", name)
	}
	nlink := 1
	if e.mode&^0o7777 == modeDir {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize (with its NUL), check
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.mode, 0, 0, nlink, 0, size, 0, 0, e.major, e.minor, len(name)+1, 0)
	if _, err := w.WriteString(hdr); err != nil {
		return err
	}
	if _, err := w.WriteString(name + "\x00"); err != nil {
		return err
	}
	if err := pad4(w, len(hdr)+len(name)+1); err != nil {
		return err
	}
	if body != nil {
		n, err := io.Copy(w, body)
		if err != nil {
			return fmt.Errorf("qemu: cpio: %s: %w", name, err)
		}
		if n != size {
			return fmt.Errorf("qemu: cpio: %s changed size while archived", name)
		}
	}
	return pad4(w, int(size))
}

func pad4(w *bufio.Writer, n int) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
