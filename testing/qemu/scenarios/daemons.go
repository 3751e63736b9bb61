package scenarios

import (
	"fmt"
	"os"
	"time"

	"github.com/openpmip/pmip/testing/qemu"
)

// waitPath waits in the guest of namespace ns until path exists (a
// socket a daemon made).
func (d *Domain) waitPath(ns, path string, timeout time.Duration) {
	d.T.Helper()
	n := int(timeout / (50 * time.Millisecond))
	d.shOn(d.vmFor(ns), fmt.Sprintf(`i=0; until [ -e %s ]; do i=$((i+1)); [ $i -lt %d ] || { echo "no %s after %v"; exit 1; }; sleep 0.05; done`,
		path, n, path, timeout))
}

// StartLMA starts pmip-lma in its namespace and waits for its control
// socket.
func (d *Domain) StartLMA() {
	d.T.Helper()
	d.sh("rm -f " + lmaSocket + "; mkdir -p /var/lib/pmip-lma /run/pmip-lma")
	argv, err := lmaCommand([]string{d.bins["pmip-lma"], "-config", lmaConf})
	if err != nil {
		d.T.Fatal(err)
	}
	d.start("lma", "lma", nil, argv...)
	d.waitPath("lma", lmaSocket, 60*time.Second)
}

// KillLMA kills the LMA with SIGKILL, as a crash or a power cut would.
func (d *Domain) KillLMA() {
	d.T.Helper()
	// The agent kills the process group with SIGKILL.
	d.stop("lma")
}

// envHostapdDebug=1 runs the APs' hostapd with -d (debug log).
const envHostapdDebug = "PMIP_HOSTAPD_DEBUG"

// StartAAA starts the domain's AAA server in the LMA's namespace: a
// hostapd that runs only its integrated RADIUS server (aaa.go), which
// every AP asks (docs/handover.md 5.4: the identity then travels with
// FT's PMK-R1 and the PMKSA). It waits for the control socket, which
// hostapd makes after the RADIUS server listens.
func (d *Domain) StartAAA() {
	d.T.Helper()
	d.sh("mkdir -p " + aaaCtrl)
	d.start("aaa", "lma", nil, "/usr/sbin/hostapd", "-t", shareDir+"/aaa.conf")
	d.waitPath("lma", aaaCtrl+"/"+radiusIface, 60*time.Second)
}

// StartAP starts one access point: hostapd on its radio (which hostapd
// bridges into br-lan) and the MAG serving br-lan, which reads hostapd's
// station events on its control socket itself. With Config.LegacyRoam,
// hostapd_cli runs the project's action hook instead, which forwards them
// to the MAG one process per event.
func (d *Domain) StartAP(ap *AP) {
	d.T.Helper()
	d.shOn(d.vmFor(ap.Name), fmt.Sprintf("mkdir -p %s %s", hostapdCtrl(ap), "/run/pmip-mag-"+ap.Name))
	args := []string{"/usr/sbin/hostapd", "-t"}
	if os.Getenv(envHostapdDebug) == "1" {
		// What hostapd knows of a failed move (slower: every frame logged).
		args = append(args, "-d")
	}
	d.start("hostapd-"+ap.Name, ap.Name, nil, append(args, hostapdConf(ap))...)
	d.waitPath(ap.Name, hostapdCtrl(ap)+"/"+ap.Radio, 60*time.Second)
	argv, magEnv, err := magCommand([]string{d.bins["pmip-mag"], "-config", magConfPath(ap),
		"-restart-counter", magCounterFile(ap), "-control", magControl(ap)})
	if err != nil {
		d.T.Fatal(err)
	}
	d.start("mag-"+ap.Name, ap.Name, magEnv, argv...)
	d.waitPath(ap.Name, magSocket(ap), 60*time.Second)
	if !d.Cfg.LegacyRoam {
		return
	}
	env := []string{
		"PMIP_MAG=" + d.bins["pmip-mag"],
		"PMIP_MAG_SOCKET=" + magSocket(ap),
		"PMIP_HOSTAPD_CTRL=" + hostapdCtrl(ap),
	}
	d.start("hostapd_cli-"+ap.Name, ap.Name, env, "/usr/sbin/hostapd_cli", "-p", hostapdCtrl(ap), "-i", ap.Radio, "-a", scriptDir+"/ap-action.sh")
}

// StartCapture captures on a root-namespace interface (the backhaul
// ports) or one in a namespace into results/<test>/<name>.pcap, and
// waits until tcpdump listens. filter is a pcap filter ("" for all).
func (d *Domain) StartCapture(name, ns, iface, filter string) {
	d.T.Helper()
	d.StartCaptureOn(d.vmFor(ns), name, ns, iface, filter)
}

// StartCaptureOn is StartCapture in a given guest.
func (d *Domain) StartCaptureOn(vm *qemu.VM, name, ns, iface, filter string) {
	d.T.Helper()
	// -Z root: the image has no tcpdump user. -s: headers and the
	// Mobility Header are enough; the stream's payload is not needed.
	argv := []string{"/usr/bin/tcpdump", "-Z", "root", "-U", "--immediate-mode", "-s", "300",
		"-i", iface, "-w", resultsDir + "/" + name + ".pcap"}
	if filter != "" {
		argv = append(argv, filter)
	}
	d.startOn(vm, "tcpdump-"+name, ns, nil, argv...)
	d.WaitLog("tcpdump-"+name, "listening on", 0, 30*time.Second)
}

// backhaulFilter keeps the backhaul's signalling (the Mobility Header over
// IPv6, UDP 5436 over IPv4), neighbour discovery and ARP, and leaves out
// what the tunnels carry (IPv6 and IPv4 in IPv6, IPv4 in IPv4, GRE): the
// tunnel counters prove the data path, and writing every stream packet to
// the share from tcpdump (-U) took a good part of the guest's CPU while
// the handover was being timed.
const backhaulFilter = "not (ip6 proto 41 or ip6 proto 4 or ip6 proto 47 or ip proto 4 or ip proto 41 or ip proto 47)"

// StartBackhaulCaptures captures the signalling at each MAG's backhaul
// port (the PBU-to-PBA round trip as the MAG sees it).
func (d *Domain) StartBackhaulCaptures() {
	d.T.Helper()
	for _, ap := range d.APs {
		d.StartCaptureOn(d.vmFor(ap.Name), "backhaul-"+ap.Name, "", "bh-"+ap.Name, backhaulFilter)
	}
}
