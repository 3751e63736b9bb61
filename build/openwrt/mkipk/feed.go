package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// ReadFeedMakefile reads the package metadata from the feed package's
// Makefile (build/openwrt/pmip/Makefile), so the SDK build and mkipk
// agree on version, license and dependencies. It understands the few
// constructs that file uses: NAME:=value assignments and the
// define Package/<name> and Package/<name>/description blocks.
func ReadFeedMakefile(path string) (Meta, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Meta{}, fmt.Errorf("mkipk: %w", err)
	}
	vars := map[string]string{}
	blocks := map[string][]string{}
	var block string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case block != "" && trimmed == "endef":
			block = ""
		case block != "":
			blocks[block] = append(blocks[block], line)
		case strings.HasPrefix(trimmed, "define "):
			block = strings.TrimSpace(strings.TrimPrefix(trimmed, "define "))
			blocks[block] = nil
		case strings.HasPrefix(trimmed, "#") || trimmed == "":
		default:
			if k, v, ok := strings.Cut(trimmed, ":="); ok && !strings.ContainsAny(k, " \t$(") {
				vars[k] = strings.TrimSpace(v)
			}
		}
	}
	if block != "" {
		return Meta{}, fmt.Errorf("mkipk: %s: define %s has no endef", path, block)
	}
	m := Meta{
		Package:     vars["PKG_NAME"],
		Version:     vars["PKG_VERSION"],
		Release:     vars["PKG_RELEASE"],
		License:     vars["PKG_LICENSE"],
		Maintainer:  vars["PKG_MAINTAINER"],
		Conffiles:   nonEmpty(blocks["Package/"+vars["PKG_NAME"]+"/conffiles"]),
		Description: description(blocks["Package/"+vars["PKG_NAME"]+"/description"]),
	}
	for k, v := range map[string]string{"PKG_NAME": m.Package, "PKG_VERSION": m.Version, "PKG_RELEASE": m.Release, "PKG_LICENSE": m.License} {
		if v == "" {
			return Meta{}, fmt.Errorf("mkipk: %s: no %s:=", path, k)
		}
	}
	def, ok := blocks["Package/"+m.Package]
	if !ok {
		return Meta{}, fmt.Errorf("mkipk: %s: no define Package/%s", path, m.Package)
	}
	for _, l := range def {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "SECTION":
			m.Section = strings.TrimSpace(v)
		case "URL":
			m.URL = strings.TrimSpace(v)
		case "DEPENDS":
			for _, d := range strings.Fields(v) {
				if strings.HasPrefix(d, "$(") {
					continue // GO_ARCH_DEPENDS: a build-time condition
				}
				if !strings.HasPrefix(d, "+") || strings.ContainsAny(d, ":@()") {
					return Meta{}, fmt.Errorf("mkipk: %s: dependency %q is not a plain +package", path, d)
				}
				m.Depends = append(m.Depends, strings.TrimPrefix(d, "+"))
			}
		}
	}
	if m.Description == "" {
		return Meta{}, fmt.Errorf("mkipk: %s: no Package/%s/description", path, m.Package)
	}
	return m, nil
}

func nonEmpty(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// description joins the description block, dropping its indentation.
func description(lines []string) string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.TrimSpace(l))
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
