// Package qemu is test tier 3: it builds a guest from Debian packages with a
// stock kernel and runs our test binaries and scenarios in it under TCG.
package qemu
