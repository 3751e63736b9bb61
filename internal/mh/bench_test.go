package mh

import "testing"

// BenchmarkMarshalPBU and BenchmarkParsePBU measure the codec on the PBU a
// MAG sends for every attach and refresh (RFC 5213 options, 88 octets).
func BenchmarkMarshalPBU(b *testing.B) {
	m := registrationCases[1].m
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePBU(b *testing.B) {
	raw := registrationCases[1].b
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
