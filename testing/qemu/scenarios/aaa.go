package scenarios

import (
	"fmt"
	"strings"
)

// The AAA server of the emulated domain and of the roaming study: a
// hostapd that runs only its integrated RADIUS server (driver=none, no
// radio), authenticating Identity with EAP-PSK. The APs are its RADIUS
// clients (RFC 2865 authentication, RFC 3579 EAP over RADIUS) instead of
// running an internal EAP server each.
//
// Why RADIUS and not each AP's internal EAP server (docs/handover.md
// 5.4): hostapd learns the station's identity early only on the RADIUS
// path (from the EAP-Response/Identity it relays, then the User-Name of
// the Access-Accept), so the identity is already in the station's EAPOL
// state when the PMKSA and the 802.11r PMK-R0 are stored, and travels
// with them to the next AP. With the internal EAP server it is not, and
// after a fast move the new AP reports no identity.
const (
	// radiusIface names the AAA hostapd's control socket; with
	// driver=none no such interface exists.
	radiusIface = "radius"
	// radiusSecret is the secret the APs share with the server (RFC 2865
	// 3).
	radiusSecret = "pmip-radius-secret"
	// radiusPort is the server's authentication port (RFC 2865 3).
	radiusPort = 1812
)

// radiusServerConfig is the AAA hostapd's configuration: its control
// socket in ctrlDir, its clients and users in confDir (radius_clients,
// eap_users).
func radiusServerConfig(ctrlDir, confDir string) string {
	return strings.Join([]string{
		"driver=none", "interface=" + radiusIface, "ctrl_interface=" + ctrlDir,
		"radius_server_clients=" + confDir + "/radius_clients",
		fmt.Sprintf("radius_server_auth_port=%d", radiusPort),
		"eap_server=1", "eap_user_file=" + confDir + "/eap_users",
	}, "\n") + "\n"
}

// radiusClients is the server's client list: every NAS in prefix, with
// the shared secret.
func radiusClients(prefix string) string {
	return prefix + " " + radiusSecret + "\n"
}

// radiusClientLines are the hostapd.conf lines of an AP that
// authenticates through the server at server, from its address own (the
// NAS-IP-Address and the source of its requests).
func radiusClientLines(own, server string) []string {
	return []string{
		"own_ip_addr=" + own,
		"auth_server_addr=" + server,
		fmt.Sprintf("auth_server_port=%d", radiusPort),
		"auth_server_shared_secret=" + radiusSecret,
	}
}
