package uci

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse feeds arbitrary bytes to the parser: it must never panic, every
// failure must be a *Error with a line inside the input, and whatever it
// accepts must survive Format and a second Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"config mag 'main'\n\toption lma_address '2001:db8::1'\n\tlist proxy_coa '192.0.2.2'\n",
		"c t n; o a 1; l b 2 # c\r\n",
		"config t\noption a 'it'\\''s'\noption b \"x\\\ny\"\noption c one\\ word\n",
		"config t\noption a 'multi\nline'\n",
		"config t\noption a \"unterminated\n",
		"package x\n",
		"config t x\nconfig t x\n",
		"option a b\n",
		"config t\noption a\n",
		"config t\\\n n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.conf", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			lines := 1
			for _, c := range data {
				if c == '\n' {
					lines++
				}
			}
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error line %d outside the input's %d lines: %v", e.Line, lines, err)
			}
			return
		}
		for _, s := range file.Sections {
			if s.Line < 1 {
				t.Fatalf("section %s at line %d", s, s.Line)
			}
			for _, o := range s.Options {
				if len(o.Values) == 0 || len(o.Values) != len(o.Lines) {
					t.Fatalf("option %s: %d values, %d lines", o.Name, len(o.Values), len(o.Lines))
				}
				for _, v := range o.Values {
					if v == "" {
						t.Fatalf("option %s has an empty value", o.Name)
					}
				}
			}
		}
		out := Format(file)
		again, err := Parse("again.conf", out)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%q", err, out)
		}
		if diff := cmp.Diff(values(file), values(again)); diff != "" {
			t.Fatalf("round trip changed the file (-first +second):\n%s\nformatted: %q", diff, out)
		}
	})
}
