// Package qemu is test tier 3: it builds a guest from Debian packages with a
// stock kernel and runs our test binaries and scenarios in it under TCG.
//
//	host (go test, PMIP_QEMU=1, root)
//	  BuildImage: apt-get download + dpkg -x into CacheDir (never installed)
//	    kernel that linux-image-amd64 depends on -> ELF vmlinux (PVH boot)
//	    module closure (modprobe --show-depends) + depmod
//	    Binaries + their DT_NEEDED libraries from the packages' dependencies
//	    -> uncompressed newc cpio, cached under images/<key of versions>
//	  Boot: qemu-system-x86_64 -accel tcg -cpu max -kernel vmlinux -initrd cpio
//	        (or qemu-system-mipsel -M malta for Arch "mipsel")
//	    serial console ------------------------> results/<test>/<name>.console.log
//	    virtio-serial "pmip.ctl" <-- JSON lines --> guest agent (Run, kill, poweroff)
//	    9p "share" (rw): agent, go test -c binaries     -> /mnt/share
//	    9p "src"   (ro): the module's source tree        -> /mnt/src
//	    9p "results" (rw): results/<test>/, kept on failure -> /mnt/results
//	    virtio-net on QEMU sockets: links between guests -> eth0, eth1 ...
//	  RunGoTest: go test -c (CGO_ENABLED=0) on the host, run in the guest in
//	    /mnt/src/<pkg> with PMIP_VM=1 -test.v; fails on a failure, a skip,
//	    a timeout or an empty run.
//
// Without PMIP_QEMU=1 every test here that boots a guest skips, saying how
// to run it. A failed test keeps the console, the transcript of guest
// commands and the test binaries' output under results/<test>/ and prints
// the path; PMIP_QEMU_KEEP=1 keeps them for passing tests too.
//
// Guests: amd64 (PVH boot of the stock kernel) and mipsel (Malta board,
// Debian's 4kc-malta kernel, the access points' architecture), whose
// packages come through a private APT root so the host's dpkg and apt
// lists stay untouched (aptroot.go).
package qemu
