package logging

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestMACsPrintAsColonHex(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := New(&buf, format, slog.LevelInfo)
		hw := net.HardwareAddr{0x02, 0x42, 0x00, 0xab, 0xcd, 0xef}
		key := [6]byte{0, 0, 0x5e, 0, 0x52, 0x13}
		log.Info("x", "mac", hw, "key", key, "bytes", []byte("abc"), "n", 6)
		out := buf.String()
		for _, want := range []string{"02:42:00:ab:cd:ef", "00:00:5e:00:52:13"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: %q lacks %s", format, out, want)
			}
		}
		if strings.Contains(out, "02:42:00:ab:cd:ef:") {
			t.Errorf("%s: mangled: %q", format, out)
		}
	}
	var buf bytes.Buffer
	New(&buf, "text", slog.LevelInfo).Info("x", "bytes", []byte("abcdefgh"))
	if !strings.Contains(buf.String(), `bytes="abcdefgh"`) {
		t.Errorf("an 8-byte slice was rewritten: %q", buf.String())
	}
}
