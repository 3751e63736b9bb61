// Package logging builds the daemons' slog loggers, so both format their
// lines the same way.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
)

// New returns a logger writing text (logfmt) or, with format "json", JSON
// lines to w at the given level.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// replaceAttr prints link-layer addresses as aa:bb:cc:dd:ee:ff. The
// packages log MACs as net.HardwareAddr or [6]byte keys; slog would print
// the first quoted as raw bytes and the second as a list of numbers.
func replaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	if s, ok := macString(a.Value.Any()); ok {
		a.Value = slog.StringValue(s)
	}
	return a
}

func macString(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) ||
		rv.Type().Elem().Kind() != reflect.Uint8 || rv.Len() != 6 {
		return "", false
	}
	var b [6]byte
	for i := range b {
		b[i] = byte(rv.Index(i).Uint())
	}
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]), true
}
