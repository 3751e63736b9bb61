package main

import (
	"strings"
	"testing"
)

// TestParseFigure reads the scenarios' figure lines as go test -json
// delivers them, and refuses lines that only look like one.
func TestParseFigure(t *testing.T) {
	f, ok := parseFigure("    scenario2_test.go:27: figure: handover traffic gap = 1067.0 ms\n")
	if !ok || f.name != "handover traffic gap" || f.value != 1067 || f.unit != "ms" {
		t.Errorf("got %+v, %v", f, ok)
	}
	for _, l := range []string{
		"    demo_test.go:20: demo: client roams ap1 -> ap2\n",
		"    x.go:1: figure: no value here\n",
		"    x.go:1: figure: gap = fast ms\n",
	} {
		if f, ok := parseFigure(l); ok {
			t.Errorf("%q parsed as %+v", l, f)
		}
	}
}

// TestMethodMark: the narration line the demo takes the 802.11 method
// from, as scenarios.Domain.Handover says it.
func TestMethodMark(t *testing.T) {
	line := "    mobility.go:160: demo: " + methodMark + "802.11r FT-EAP over the DS (no EAP at the new AP, PMK-R1 pushed)\n"
	_, m, ok := strings.Cut(line, methodMark)
	if !ok || strings.TrimSpace(m) != "802.11r FT-EAP over the DS (no EAP at the new AP, PMK-R1 pushed)" {
		t.Errorf("got %q, %v", m, ok)
	}
}
