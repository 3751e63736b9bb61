package scenarios

import (
	"testing"
	"time"
)

// TestDemo is what `make demo` shows (testing/qemu/cmd/pmip-demo runs it
// and prints its narration): scenarios 1, 2 and 3 in one guest, one after
// the other, and the figures they measured.
//
//	[cn] ── [lma] ══ [ap1] MAG1 )))  client: 1. attach (WPA2-EAP via RADIUS), ping
//	  AAA (RADIUS)══ [ap2] MAG2 )))          2. roam ap1 -> ap2 under TCP streams (802.11r FT)
//	                                         3. detach; kernel state back to the baseline
func TestDemo(t *testing.T) {
	t0 := time.Now()
	d := New(t, Config{})
	d.Up()
	base := d.TakeBaseline()
	d.Say("--- scenario 1: attach, dual stack")
	a := d.AttachAndPing(d.APs[0])
	d.Say("--- scenario 2: handover %s -> %s", d.APs[0].Name, d.APs[1].Name)
	d.Handover(d.APs[0], d.APs[1], a)
	d.PingThroughTunnel(d.APs[1])
	d.Say("--- scenario 3: detach")
	d.Detach(d.APs[1], base)
	d.Say("figures (TCG, stock Debian kernel %s):", d.VM.Release)
	for _, f := range d.Figures() {
		d.Say("  %-30s %8.1f %s", f.Name, f.Value, f.Unit)
	}
	d.Say("  handover 802.11 method: %s", d.LastRoamMethod)
	d.Say("demo done in %v", time.Since(t0).Round(time.Second))
}
