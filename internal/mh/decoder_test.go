package mh

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeLikeParse checks that d.Decode(b) and Parse(b) agree: both refuse
// with the same error text, or both return equal messages.
func decodeLikeParse(t *testing.T, d *Decoder, b []byte) {
	t.Helper()
	want, werr := Parse(b)
	got, gerr := d.Decode(b)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("input %x\nParse:  %v\nDecode: %v", b, werr, gerr)
	}
	if werr != nil {
		return
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Fatalf("input %x: Decode differs from Parse (-Parse +Decode):\n%s", b, diff)
	}
}

// corpus returns every input of the checked-in fuzz corpora.
func corpus(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			line := sc.Text()
			s, ok := strings.CutPrefix(line, "[]byte(")
			if !ok {
				continue
			}
			q, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, []byte(q))
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d corpus inputs found", len(out))
	}
	return out
}

// One Decoder, reused across every golden message and corpus input (the
// fuzz corpora hold many malformed ones, and the framing of FuzzOptions
// and FuzzRegistration is applied too): each result equals Parse's, so
// nothing leaks from one message into the next.
func TestDecoderMatchesParse(t *testing.T) {
	var d Decoder
	for _, cases := range [][]goldenCase{registrationCases, otherCases, bindingErrorCases} {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { decodeLikeParse(t, &d, c.b) })
		}
	}
	for _, b := range corpus(t) {
		decodeLikeParse(t, &d, b)
		decodeLikeParse(t, &d, frame(b, TypeBindingUpdate))
		decodeLikeParse(t, &d, frame(b, TypeBindingAck))
		decodeLikeParse(t, &d, frame(b, TypeHeartbeat))
		if len(b) > 12 {
			decodeLikeParse(t, &d, optionsBehindPBU(b[12:]))
		}
	}
}

// optionsBehindPBU frames opts as FuzzOptions does.
func optionsBehindPBU(opts []byte) []byte {
	b := append(h("3b 00 05 00 0000 | 0001 8200 000a"), opts...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	if len(b) > maxLen {
		return nil
	}
	b[1] = byte(len(b)/8 - 1)
	return b
}

// A result is valid until the next Decode, which reuses its memory: the
// documented contract, shown here so that a change to it is seen.
func TestDecoderReusesMemory(t *testing.T) {
	var d Decoder
	a, err := d.Decode(registrationCases[1].b)
	if err != nil {
		t.Fatal(err)
	}
	pbu := a.(*ProxyBindingUpdate)
	first := pbu.Options[0]
	if _, err := d.Decode(registrationCases[1].b); err != nil {
		t.Fatal(err)
	}
	if a.(*ProxyBindingUpdate) != pbu || pbu.Options[0] != first {
		t.Error("the second Decode did not reuse the first one's message and options")
	}
}

// The messages an LMA and a MAG exchange most decode without allocating.
func TestDecoderAllocations(t *testing.T) {
	var d Decoder
	for _, cases := range [][]goldenCase{registrationCases, otherCases} {
		for _, c := range cases {
			switch c.m.(type) {
			case *ProxyBindingUpdate, *ProxyBindingAck, *Heartbeat:
			default:
				continue
			}
			if hasListOption(c.m) {
				continue // flow mobility options allocate their lists
			}
			t.Run(c.name, func(t *testing.T) {
				if _, err := d.Decode(c.b); err != nil {
					t.Fatal(err)
				}
				if a := testing.AllocsPerRun(100, func() { _, _ = d.Decode(c.b) }); a != 0 {
					t.Errorf("%v allocations per Decode, want 0", a)
				}
			})
		}
	}
}

// hasListOption reports options the Decoder leaves to Parse's code.
func hasListOption(m Message) bool {
	for _, o := range m.mobilityOptions() {
		switch o.(type) {
		case *FlowSummary, *FlowIdentification, *RawOption:
			return true
		}
	}
	return false
}

// FuzzDecoder: Decode agrees with Parse on anything, with one Decoder
// reused across inputs.
func FuzzDecoder(f *testing.F) {
	seed(f, registrationCases, TypeBindingUpdate, TypeBindingAck)
	seed(f, otherCases, TypeBindingUpdate, TypeBindingAck, TypeHeartbeat)
	var d Decoder
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeLikeParse(t, &d, b)
		if len(b) > 2 {
			decodeLikeParse(t, &d, frame(b, TypeBindingUpdate+Type(b[2]&1)))
			decodeLikeParse(t, &d, frame(b, TypeHeartbeat))
		}
	})
}

// BenchmarkDecodePBU is BenchmarkParsePBU through a reused Decoder.
func BenchmarkDecodePBU(b *testing.B) {
	raw := registrationCases[1].b
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
