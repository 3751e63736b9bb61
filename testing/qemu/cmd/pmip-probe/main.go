// Command pmip-probe is the scenarios' measuring tool inside the QEMU guest
// (testing/qemu/scenarios, issue 5). It is cross-built for the guest and
// run in the namespaces of the emulated domain:
//
//	[cn]  pmip-probe serve -l [::]:5001 ──TCP, paced chunks──┐
//	                                                         │ through LMA ══ MAG ))) Wi-Fi
//	[client] pmip-probe recv -c [cn]:5001 <──────────────────┘
//	           progress lines, then the largest inter-arrival gap
//	[client] pmip-probe addrs -i wlan -v4 10.20.0.0/16 -v6 2001:db8:100::/48
//	           when the link came up and each address became usable
//
// Every line it prints is one JSON object, so the scenarios parse its
// output. Times are the guest's wall clock in Unix nanoseconds, the same
// clock as the daemons' and wpa_supplicant's log timestamps.
package main

import (
	"fmt"
	"os"
)

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  pmip-probe addrs -i IFACE [-v4 CIDR] [-v6 CIDR] [-timeout D]
  pmip-probe serve -l ADDR [-chunk BYTES] [-interval D]
  pmip-probe recv -c ADDR [-for D] [-progress D] [-gap D] [-stop-file F]`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "addrs":
		err = addrs(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "recv":
		err = recv(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pmip-probe:", err)
		os.Exit(1)
	}
}
