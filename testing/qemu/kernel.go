package qemu

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultModules is the module closure every image carries. The harness
// loads bootModules at boot; the rest load on demand (the kernel's
// request_module calls /sbin/modprobe, e.g. for `ip link add type ip6tnl`)
// or by the tests (mac80211_hwsim takes parameters).
var DefaultModules = []string{
	// the harness: virtio PCI, the control port, 9p shares, networking
	"virtio_pci", "virtio_console", "virtio_net", "9pnet_virtio", "9p",
	// tunnels of RFC 5213 (IPv6-in-IPv6), RFC 5844 (IPv4-in-IPv6 and IPv4
	// transport) and RFC 5845 (GRE)
	"ip6_tunnel", "ip6_gre", "gre", "ip_gre", "ipip", "sit", "tunnel4", "tunnel6",
	// links and queueing of the test topologies
	"veth", "bridge", "dummy", "macvlan", "tun", "vrf", "sch_netem",
	// Wi-Fi on simulated radios
	"mac80211_hwsim",
	// nftables: sets and maps for flow mobility, fib lookups, NAT, marks
	"nf_tables", "nft_fib_inet", "nft_fib_ipv4", "nft_fib_ipv6", "nft_ct",
	"nft_chain_nat", "nft_masq", "nft_nat", "nft_reject_inet", "nft_limit",
	"nft_hash", "nft_numgen", "nft_quota", "nft_socket", "nft_tproxy", "nf_conntrack",
	// IPsec for signalling security (ESP transport over XFRM)
	"esp4", "esp6", "xfrm_user", "xfrm_interface",
	// crypto the kernel asks for by algorithm name (request_module
	// "crypto-ccm(aes)" ...): CCMP/GCMP/BIP keys of WPA2 in mac80211,
	// and ESP's AEADs and HMACs
	"ccm", "gcm", "cmac", "ctr", "gf128mul", "ghash_generic",
	"libarc4", "michael_mic", "authenc", "echainiv", "seqiv", "sha512_generic",
	"xcbc", "des_generic", "crypto_user",
}

// bootModules are loaded by /init before the agent starts (there is no
// udev to load drivers for the devices QEMU gives the guest).
var bootModules = []string{"virtio_pci", "virtio_console", "virtio_net", "9pnet_virtio", "9p"}

// kernel is an unpacked Debian kernel package.
type kernel struct {
	pkg     debPackage
	root    string // where the package is unpacked
	release string // uname -r, the folder under /lib/modules
}

// resolveKernel names the kernel package that the architecture's
// metapackage depends on today (linux-image-amd64 -> linux-image-6.1.0-NN-amd64).
func resolveKernel(d *debian, a Arch) (debPackage, error) {
	m, err := d.Show(a.KernelMeta)
	if err != nil {
		return debPackage{}, err
	}
	meta, ok := m[a.KernelMeta]
	if !ok {
		return debPackage{}, fmt.Errorf("%w: %s (is the machine's APT source Debian?)", errNoPackage, a.KernelMeta)
	}
	for _, dep := range meta.Depends {
		if strings.HasPrefix(dep, "linux-image-") {
			k, err := d.Show(dep)
			if err != nil {
				return debPackage{}, err
			}
			if p, ok := k[dep]; ok {
				return p, nil
			}
			return debPackage{}, fmt.Errorf("%w: %s (named by %s)", errNoPackage, dep, a.KernelMeta)
		}
	}
	return debPackage{}, fmt.Errorf("qemu: %s %s depends on no linux-image-* package", meta.Name, meta.Version)
}

// openKernel finds the release in an unpacked kernel package and makes
// sure its modules have dependency files (Debian builds them in postinst,
// which dpkg -x does not run).
func openKernel(d *debian, p debPackage) (*kernel, error) {
	root := d.Root(p)
	dirs, err := filepath.Glob(filepath.Join(root, "lib", "modules", "*"))
	if err != nil || len(dirs) != 1 {
		return nil, fmt.Errorf("qemu: %s: want one folder under lib/modules, have %d", p.ID(), len(dirs))
	}
	k := &kernel{pkg: p, root: root, release: filepath.Base(dirs[0])}
	if _, err := os.Stat(filepath.Join(dirs[0], "modules.dep")); err != nil {
		if out, err := exec.Command("depmod", "-b", root, k.release).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("qemu: depmod %s: %v: %s", k.release, err, out)
		}
	}
	return k, nil
}

// moduleClosure lists the module files (relative to /lib/modules/RELEASE)
// that loading every named module needs, dependencies and soft
// dependencies included. Built-in modules need no file. A name the kernel
// does not have is an error.
func (k *kernel) moduleClosure(names []string) ([]string, error) {
	modDir := filepath.Join(k.root, "lib", "modules", k.release) + "/"
	var out, stderr bytes.Buffer
	args := append([]string{"-d", k.root, "-S", k.release, "--show-depends", "-a"}, names...)
	cmd := exec.Command("modprobe", args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("qemu: modules of kernel %s: %v: %s", k.release, err, strings.TrimSpace(stderr.String()))
	}
	seen := make(map[string]bool)
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "insmod" {
			continue // "builtin NAME"
		}
		rel, ok := strings.CutPrefix(f[1], modDir)
		if !ok {
			return nil, fmt.Errorf("qemu: modprobe named %s outside %s", f[1], modDir)
		}
		seen[rel] = true
	}
	files := make([]string, 0, len(seen))
	for f := range seen {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, nil
}

// stageModules copies the closure into dst/lib/modules/RELEASE with the
// kernel's lists of built-ins and runs depmod there.
func (k *kernel) stageModules(dst string, files []string) error {
	src := filepath.Join(k.root, "lib", "modules", k.release)
	out := filepath.Join(dst, "lib", "modules", k.release)
	for _, f := range append([]string{"modules.order", "modules.builtin", "modules.builtin.modinfo"}, files...) {
		if err := copyFile(filepath.Join(src, f), filepath.Join(out, f)); err != nil {
			if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(f, "modules.") {
				continue
			}
			return err
		}
	}
	if b, err := exec.Command("depmod", "-b", dst, k.release).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu: depmod of the staged modules: %v: %s", err, b)
	}
	return nil
}

// vmlinuz is the compressed kernel image in the package.
func (k *kernel) vmlinuz() (string, error) {
	for _, pat := range []string{"boot/vmlinuz-*", "boot/vmlinux-*"} {
		m, _ := filepath.Glob(filepath.Join(k.root, pat))
		if len(m) == 1 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("qemu: %s ships no boot/vmlinuz-* or boot/vmlinux-*", k.pkg.ID())
}

var (
	elfMagic  = []byte("\x7fELF")
	xzMagic   = []byte("\xfd7zXZ\x00")
	gzipMagic = []byte("\x1f\x8b\x08")
)

// extractVmlinux returns the ELF kernel inside a bzImage, for PVH direct
// boot (QEMU boots an ELF vmlinux with a PVH note without the real-mode
// setup and the decompressor: ~5 s to /init under TCG instead of ~11).
// The payload is found by its compression magic; each candidate offset is
// tried until one decompresses to an ELF file. An image that already is
// ELF is returned as is.
func extractVmlinux(bz []byte) ([]byte, error) {
	if bytes.HasPrefix(bz, elfMagic) {
		return bz, nil
	}
	var lastErr error = errors.New("no xz or gzip payload")
	for _, c := range []struct {
		magic []byte
		dec   func([]byte) ([]byte, error)
	}{{xzMagic, unxz}, {gzipMagic, gunzip}} {
		for off := 0; ; {
			i := bytes.Index(bz[off:], c.magic)
			if i < 0 {
				break
			}
			off += i
			out, err := c.dec(bz[off:])
			if err == nil && bytes.HasPrefix(out, elfMagic) {
				return out, nil
			}
			if err == nil {
				err = errors.New("payload is not ELF")
			}
			lastErr = err
			off++
		}
	}
	return nil, fmt.Errorf("qemu: no ELF kernel inside the image: %w", lastErr)
}

// unxz decompresses the first xz stream of b with the xz tool (the
// bzImage carries trailing data after the stream).
func unxz(b []byte) ([]byte, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command("xz", "-dc", "--single-stream")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(b), &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}

// copyFile copies regular file src to dst, creating dst's parents and
// keeping the permission bits.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
