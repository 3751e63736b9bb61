package scenarios

import (
	"strconv"
	"strings"
	"testing"
)

// TestScenario6 is issue 5 scenario 6, the AP's own architecture:
//
//	amd64 guest "core"                      mipsel guest "ap-mipsel" (Malta, Debian 4kc-malta kernel)
//	[cn] ── [lma] pmip-lma ── bh ── eth0 ══ QEMU socket ══ eth0 ── bh ── [ap1] pmip-mag (mipsle), hostapd (mipsel)
//	                                                                      br-lan ── wlan0 ))) hwsim ((( wlan1 [client]
//
// The MAG binary cross-built for linux/mipsle softfloat, as flashed on an
// OpenWrt AP, runs with Debian's mipsel hostapd on a hwsim radio of the
// Malta kernel; scenario 1 passes across the two guests. The guests'
// clocks are not synchronised (the Malta clock runs slow under TCG), so
// both daemons order PBUs by sequence number (RFC 5213 5.5) instead of
// timestamps, as a deployment without NTP must.
func TestScenario6(t *testing.T) {
	d := New(t, Config{APs: 1, MAGArch: "mipsel", NoTimestamps: true})
	if m := strings.TrimSpace(d.shOn(d.APVM, "uname -m")); !strings.HasPrefix(m, "mips") {
		t.Fatalf("the AP guest runs %q, want mips", m)
	}
	// The MAG that runs is the mipsle build: ELF32 (EI_CLASS 1),
	// little-endian (EI_DATA 1), e_machine EM_MIPS (8).
	elf := strings.Fields(d.shOn(d.APVM, "od -An -tx1 -N20 "+d.bins["pmip-mag"]))
	if len(elf) != 20 || elf[4] != "01" || elf[5] != "01" || elf[18] != "08" || elf[19] != "00" {
		t.Fatalf("pmip-mag in the AP guest is not a 32-bit little-endian MIPS ELF: header %v", elf)
	}
	radios := func(ns string) string {
		return strings.Join(strings.Fields(d.nsSh(ns, "ls /sys/class/ieee80211")), " ")
	}
	d.Say("AP guest: %s, pmip-mag ELF32 LE MIPS, hwsim radios: ap1 %s, client %s", d.APVM.Release, radios("ap1"), radios("client"))
	d.Up()
	d.AttachAndPing(d.APs[0])

	// What the MAG costs an AP serving one client: its resident memory.
	rss := strings.Fields(d.shOn(d.APVM, "grep VmRSS /proc/$(pidof pmip-mag)/status"))
	if len(rss) != 3 || rss[0] != "VmRSS:" || rss[2] != "kB" {
		t.Fatalf("pmip-mag's resident memory: %q", rss)
	}
	kb, err := strconv.ParseFloat(rss[1], 64)
	if err != nil {
		t.Fatalf("pmip-mag's resident memory: %v", err)
	}
	d.Record("pmip-mag resident memory (mipsel)", kb/1024, "MiB")
}
