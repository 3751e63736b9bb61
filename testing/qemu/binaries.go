package qemu

// Binary is one file (usually an executable) taken from a Debian package
// into the guest, at the path the package ships it. An ELF file brings
// the shared libraries it needs, found in the package's dependencies.
type Binary struct {
	Package string // Debian package: "iproute2"
	Path    string // path in the package: "/bin/ip"
}

// BaseBinaries are in every image: busybox for /init and the applets,
// kmod as modprobe (the kernel's request_module calls it), dash as
// /bin/sh, iproute2 and ping.
var BaseBinaries = []Binary{
	{"busybox-static", "/bin/busybox"},
	{"kmod", "/bin/kmod"},
	{"kmod", "/sbin/modprobe"},
	{"kmod", "/sbin/insmod"},
	{"kmod", "/sbin/rmmod"},
	{"kmod", "/sbin/lsmod"},
	{"kmod", "/sbin/modinfo"},
	{"dash", "/bin/dash"},
	{"iproute2", "/bin/ip"},
	{"iproute2", "/sbin/ip"},
	{"iproute2", "/sbin/tc"},
	{"iproute2", "/sbin/bridge"},
	{"iputils-ping", "/bin/ping"},
}

// WiFiBinaries are what the scenarios of issue 5 add for real 802.11 on
// mac80211_hwsim radios. (cfg80211 finds no regulatory.db and keeps the
// world regulatory domain, which hwsim's channels fit.)
var WiFiBinaries = []Binary{
	{"hostapd", "/usr/sbin/hostapd"},
	{"hostapd", "/usr/sbin/hostapd_cli"},
	{"wpasupplicant", "/sbin/wpa_supplicant"},
	{"wpasupplicant", "/sbin/wpa_cli"},
	{"iw", "/sbin/iw"},
}

// ClientBinaries are the DHCP clients a mobile node runs: ISC dhclient,
// and busybox's udhcpc with Debian's script that configures the lease.
var ClientBinaries = []Binary{
	{"isc-dhcp-client", "/sbin/dhclient"},
	{"isc-dhcp-client", "/sbin/dhclient-script"},
	{"isc-dhcp-client", "/etc/dhcp/dhclient.conf"},
	{"udhcpc", "/sbin/udhcpc"},
	{"udhcpc", "/etc/udhcpc/default.script"},
}

// CaptureBinaries add packet capture (pcaps of failed scenarios) and the
// nftables command line, to show the kernel's state in logs.
var CaptureBinaries = []Binary{
	{"tcpdump", "/usr/bin/tcpdump"},
	{"nftables", "/usr/sbin/nft"},
}
