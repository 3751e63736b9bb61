package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A private APT root for packages of a foreign architecture (a mipsel
// guest on an amd64 host). apt reads its own configuration from
// APT_CONFIG: its own lists, cache, an empty dpkg status, and a copy of
// the host's sources, so the host's dpkg database and its apt lists stay
// untouched. The host's apt.conf.d parts (proxies, mirrors) still apply.
//
//	CacheDir/apt-ARCH/apt.conf          APT_CONFIG
//	CacheDir/apt-ARCH/sources.list.d/   the host's sources, copied
//	CacheDir/apt-ARCH/state/lists/      Packages of ARCH (apt-get update)
//	CacheDir/apt-ARCH/state/status      empty: nothing is installed
//	CacheDir/apt-ARCH/cache/            apt's caches

// newDebian returns the package fetcher for arch: the host's apt for the
// host's architecture, a private APT root for any other.
func newDebian(cache, arch string, logf func(string, ...any)) (*debian, error) {
	d := &debian{cache: cache, arch: arch, logf: logf}
	if arch == hostDebianArch() {
		return d, nil
	}
	root := filepath.Join(cache, "apt-"+arch)
	for _, dir := range []string{"sources.list.d", "state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return nil, fmt.Errorf("qemu: apt root: %w", err)
		}
	}
	if err := copyHostSources(filepath.Join(root, "sources.list.d")); err != nil {
		return nil, err
	}
	status := filepath.Join(root, "state", "status")
	if _, err := os.Stat(status); err != nil {
		if err := os.WriteFile(status, nil, 0o644); err != nil {
			return nil, fmt.Errorf("qemu: apt root: %w", err)
		}
	}
	conf := fmt.Sprintf(`// written by testing/qemu: apt for %[2]s packages, apart from the host's
APT::Architecture "%[2]s";
APT::Architectures { "%[2]s"; };
Dir::State "%[1]s/state/";
Dir::State::Lists "%[1]s/state/lists/";
Dir::State::status "%[1]s/state/status";
Dir::Cache "%[1]s/cache/";
Dir::Etc::SourceList "%[1]s/sources.list.d/none.list";
Dir::Etc::SourceParts "%[1]s/sources.list.d/";
`, root, arch)
	confPath := filepath.Join(root, "apt.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("qemu: apt root: %w", err)
	}
	d.env = []string{"APT_CONFIG=" + confPath}
	return d, nil
}

// copyHostSources copies the host's APT sources (sources.list and the
// .list and .sources files of sources.list.d) into dir, replacing what an
// earlier run copied, so the private root follows the host's mirrors.
func copyHostSources(dir string) error {
	old, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range old {
		os.Remove(f)
	}
	var srcs []string
	if _, err := os.Stat("/etc/apt/sources.list"); err == nil {
		srcs = append(srcs, "/etc/apt/sources.list")
	}
	parts, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	for _, p := range parts {
		if strings.HasSuffix(p, ".list") || strings.HasSuffix(p, ".sources") {
			srcs = append(srcs, p)
		}
	}
	if len(srcs) == 0 {
		return fmt.Errorf("qemu: the host has no APT sources to copy for a foreign architecture")
	}
	for i, s := range srcs {
		name := filepath.Base(s)
		if name == "sources.list" {
			name = fmt.Sprintf("host-%d.list", i)
		}
		if err := copyFile(s, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("qemu: apt root: %w", err)
		}
	}
	return nil
}
