package mhlayer

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openpmip/pmip/internal/mh"
)

// PDML, the XML tshark writes with -T pdml: packets of protocols of
// (nested) fields.
type pdmlField struct {
	Name   string      `xml:"name,attr"`
	Show   string      `xml:"show,attr"`
	Value  string      `xml:"value,attr"`
	Fields []pdmlField `xml:"field"`
	Protos []pdmlField `xml:"proto"`
}

type pdmlPacket struct {
	Protos []pdmlField `xml:"proto"`
}

type pdmlDoc struct {
	Packets []pdmlPacket `xml:"packet"`
}

// fv is one field tshark shows: its name and displayed value.
type fv struct{ Name, Show string }

// flatten collects, in order, the mip6 fields of a packet, leaving out
// padding options (their placement is the encoder's choice, checked by
// the golden tests), the option containers (their children carry the
// values) and the checksum (tshark does not check it; mhlayer's own test
// does). Expert info and malformed markers go to problems.
func flatten(fs []pdmlField, out *[]fv, problems *[]string) {
	for _, f := range fs {
		switch {
		case f.Name == "mip6.options.padn" || f.Name == "mip6.options.pad1":
			continue
		case strings.HasPrefix(f.Name, "_ws.malformed"):
			*problems = append(*problems, "malformed: "+f.Show)
		case f.Name == "_ws.expert":
			*problems = append(*problems, expertText(f))
			continue
		case f.Name == "mip6.csum" || strings.HasPrefix(f.Name, "mip6.options."):
		case strings.HasPrefix(f.Name, "mip6."):
			*out = append(*out, fv{f.Name, f.Show})
		}
		flatten(f.Fields, out, problems)
		flatten(f.Protos, out, problems)
	}
}

func expertText(f pdmlField) string {
	var parts []string
	for _, c := range f.Fields {
		parts = append(parts, c.Name+"="+c.Show)
	}
	return "expert: " + strings.Join(parts, " ")
}

// want builds, from the message struct alone, the fields tshark 4.0
// should show. It does not call the encoder except for the Header Len
// (the encoder's padding decides the length) and for messages tshark does
// not decode, whose data tshark shows as raw bytes.
func want(t *testing.T, m mh.Message) []fv {
	raw, err := mh.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	bit := func(ok bool) string {
		if ok {
			return "1"
		}
		return "0"
	}
	w := []fv{{"mip6.proto", "59"}, {"mip6.hlen", fmt.Sprint(len(raw)/8 - 1)},
		{"mip6.mhtype", fmt.Sprint(uint8(m.Type()))}, {"mip6.reserved", "0x00"}}
	var opts []mh.Option
	bu := func(seq uint16, f mh.BUFlags, lt time.Duration) {
		w = append(w, fv{"mip6.bu.seqnr", fmt.Sprint(seq)},
			fv{"mip6.bu.a_flag", bit(f&mh.BUFlagA != 0)}, fv{"mip6.bu.h_flag", bit(f&mh.BUFlagH != 0)},
			fv{"mip6.bu.l_flag", bit(f&mh.BUFlagL != 0)}, fv{"mip6.bu.k_flag", bit(f&mh.BUFlagK != 0)},
			fv{"mip6.bu.m_flag", bit(f&mh.BUFlagM != 0)}, fv{"mip6.nemo.bu.r_flag", bit(f&mh.BUFlagR != 0)},
			fv{"mip6.bu.p_flag", bit(f&mh.BUFlagP != 0)}, fv{"mip6.bu.f_flag", bit(f&mh.BUFlagF != 0)},
			fv{"mip6.bu.t_flag", bit(f&mh.BUFlagT != 0)}, fv{"mip6.bu.b_flag", bit(f&mh.BUFlagB != 0)},
			fv{"mip6.bu.lifetime", fmt.Sprint(int(lt / mh.LifetimeUnit))})
	}
	ba := func(st mh.Status, f mh.BAFlags, seq uint16, lt time.Duration) {
		w = append(w, fv{"mip6.ba.status", fmt.Sprint(uint8(st))},
			fv{"mip6.ba.k_flag", bit(f&mh.BAFlagK != 0)}, fv{"mip6.nemo.ba.r_flag", bit(f&mh.BAFlagR != 0)},
			fv{"mip6.ba.p_flag", bit(f&mh.BAFlagP != 0)}, fv{"mip6.ba.t_flag", bit(f&mh.BAFlagT != 0)},
			fv{"mip6.ba.b_flag", bit(f&mh.BAFlagB != 0)},
			fv{"mip6.ba.seqnr", fmt.Sprint(seq)}, fv{"mip6.ba.lifetime", fmt.Sprint(int(lt / mh.LifetimeUnit))})
	}
	br := func(prefix string, f mh.RevocationFlags) {
		w = append(w, fv{"mip6.bri_" + prefix + "p", bit(f&mh.RevocationProxy != 0)},
			fv{"mip6.bri_" + prefix + "v", bit(f&mh.RevocationIPv4Only != 0)},
			fv{"mip6.bri_" + prefix + "g", bit(f&mh.RevocationGlobal != 0)},
			fv{"mip6.bri_res", "0x0000"})
	}
	switch m := m.(type) {
	case *mh.ProxyBindingUpdate:
		bu(m.Sequence, m.Flags, m.Lifetime)
		opts = m.Options
	case *mh.ProxyBindingQuery:
		bu(m.Sequence, m.Flags, m.Lifetime) // tshark 4.0 does not show the Q bit
		opts = m.Options
	case *mh.ProxyBindingAck:
		ba(m.Status, m.Flags, m.Sequence, m.Lifetime)
		opts = m.Options
	case *mh.ProxyQueryAck:
		ba(m.Status, m.Flags, m.Sequence, m.Lifetime)
		opts = m.Options
	case *mh.Heartbeat:
		w = append(w, fv{"mip6.hb.u_flag", bit(m.Flags&mh.HeartbeatUnsolicited != 0)},
			fv{"mip6.hb.r_flag", bit(m.Flags&mh.HeartbeatResponse != 0)}, fv{"mip6.hb.seqnr", fmt.Sprint(m.Sequence)})
		opts = m.Options
	case *mh.BindingError:
		// RFC 6275 6.1.9: Status and Home Address (tshark shows no
		// Reserved octet).
		w = append(w, fv{"mip6.be.status", fmt.Sprint(uint8(m.Status))}, fv{"mip6.be.haddr", m.HomeAddress.String()})
		opts = m.Options
	case *mh.BindingRevocationIndication:
		w = append(w, fv{"mip6.bri_br.type", "1"}, fv{"mip6.bri_r.trigger", fmt.Sprint(uint8(m.Trigger))},
			fv{"mip6.bri_seqnr", fmt.Sprint(m.Sequence)})
		br("i", m.Flags)
		opts = m.Options
	case *mh.BindingRevocationAck:
		w = append(w, fv{"mip6.bri_br.type", "2"}, fv{"mip6.bri_status", fmt.Sprint(uint8(m.Status))},
			fv{"mip6.bri_seqnr", fmt.Sprint(m.Sequence)})
		br("a", m.Flags)
		opts = m.Options
	default:
		// tshark 4.0 does not know MH types 19 and 20 (NOTES.md).
		var hex []string
		for _, c := range raw[6:] {
			hex = append(hex, fmt.Sprintf("%02x", c))
		}
		return append(w, fv{"mip6.unknown_type_data", strings.Join(hex, ":")})
	}
	for _, o := range opts {
		w = append(w, wantOption(t, o)...)
	}
	return w
}

func wantOption(t *testing.T, o mh.Option) []fv {
	l := func(n int) fv { return fv{"mip6.mobility_opt.len", fmt.Sprint(n)} }
	switch o := o.(type) {
	case *mh.MobileNodeIdentifier:
		return []fv{l(1 + len(o.Identifier)), {"mip6.mnid.subtype", fmt.Sprint(uint8(o.Subtype))},
			{"mip6.mnid.identifier", string(o.Identifier)}}
	case *mh.HomeNetworkPrefix:
		return []fv{l(18), {"mip6.nemo.mnp.pfl", fmt.Sprint(o.Prefix.Bits())}, {"mip6.nemo.mnp.mnp", o.Prefix.Addr().String()}}
	case *mh.HandoffIndicatorOption:
		return []fv{l(2), {"mip6.hi.reserved", "0"}, {"mip6.hi", fmt.Sprint(uint8(o.HI))}}
	case *mh.AccessTechnologyTypeOption:
		return []fv{l(2), {"mip6.att.reserved", "0"}, {"mip6.att", fmt.Sprint(uint8(o.ATT))}}
	case *mh.MobileNodeLinkLayerID:
		return []fv{l(2 + len(o.ID)), {"mip6.mnlli.reserved", "0"}, {"mip6.mnlli.lli", o.ID.String()}}
	case *mh.LinkLocalAddress:
		return []fv{l(16), {"mip6.lila_lla", o.Addr.String()}}
	case *mh.Timestamp:
		// RFC 5213 8.8 (48-bit seconds since 1970, 16-bit fraction);
		// tshark 4.0 decodes it the same way.
		return []fv{l(8), {"mip6.timestamp_tmp", o.Time().Format("Jan _2, 2006 15:04:05.000000000 UTC")}}
	case *mh.IPv4HomeAddressRequest:
		return []fv{l(6), {"mip6.ipv4ha.preflen", fmt.Sprint(o.Prefix.Bits())}, {"mip6.ipv4ha.reserved", "0x00"},
			{"mip6.ipv4ha.ha", o.Prefix.Addr().String()}}
	case *mh.IPv4HomeAddressReply:
		return []fv{l(6), {"mip6.ipv4aa.sts", fmt.Sprint(uint8(o.Status))}, {"mip6.ipv4ha.preflen", fmt.Sprint(o.Prefix.Bits())},
			{"mip6.ipv4ha.ha", o.Prefix.Addr().String()}}
	case *mh.IPv4HomeAddress:
		p := "0"
		if o.P {
			p = "1"
		}
		return []fv{l(6), {"mip6.ipv4ha.preflen", fmt.Sprint(o.Prefix.Bits())}, {"mip6.ipv4ha.p_flag", p},
			{"mip6.ipv4ha.ha", o.Prefix.Addr().String()}}
	case *mh.IPv4DefaultRouterAddress:
		return []fv{l(6), {"mip6.ipv4dra.reserved", "0"}, {"mip6.ipv4dra.dra", o.Addr.String()}}
	case *mh.IPv4DHCPSupportMode:
		s := "0"
		if o.Server {
			s = "1"
		}
		return []fv{l(2), {"mip6.ipv4dsm.reserved", "0"}, {"mip6.ipv4dsm.s_flag", s}}
	case *mh.GREKey:
		if !o.HasKey {
			return []fv{l(2), {"mip6.ipv4dra.reserved", "0"}}
		}
		// tshark 4.0 labels the GRE key's reserved octets with the
		// default-router option's field.
		return []fv{l(6), {"mip6.ipv4dra.reserved", "0"}, {"mip6.gre_key", fmt.Sprint(o.Key)}}
	case *mh.IPv4CareOfAddress:
		return []fv{l(6), {"mip6.ipv4coa.reserved", "0"}, {"mip6.ipv4coa.addr", o.Addr.String()}}
	case *mh.RestartCounter:
		return []fv{l(4), {"mip6.rc", fmt.Sprint(o.Counter)}}
	case *mh.MAGIPv6Address:
		return []fv{l(18), {"mip6.mag_ipv6.reserved", "0x00"}, {"mip6.mag_ipv6.address_length", "128"},
			{"mip6.mag_ipv6.address", o.Addr.String()}}
	}
	t.Fatalf("no tshark expectation for %T", o)
	return nil
}

// knownProblem is the one expert note tshark 4.0 raises on our output, and
// it is tshark's mistake: it wants the MAG IPv6 Address option (RFC 6705
// 9.1.1) to be 16 octets long, yet itself dissects Reserved, Address
// Length and a 16-octet address from it, 18 octets as the RFC draws.
const knownProblem = "MAG IPv6 Address (with option length = 18 bytes; should be 16)"

// TestTshark is the independent decoder check: tshark reads a pcap of
// every message our encoder produces (IPv6 with the MH checksum, and PBU/
// PBA over UDP/IPv4 port 5436) and must show exactly the fields we put in,
// with no malformed packet and no expert note other than knownProblem.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install -y tshark; the Makefile's test deps do it)")
	}
	cases := tsharkCases()
	path := writeTsharkPcap(t, cases)
	var stderr bytes.Buffer
	cmd := exec.Command(tshark, "-n", "-r", path, "-T", "pdml")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	var doc pdmlDoc
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("tshark PDML: %v", err)
	}
	if len(doc.Packets) != len(cases) {
		t.Fatalf("tshark shows %d packets, we wrote %d", len(doc.Packets), len(cases))
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []fv
			var problems []string
			flatten(doc.Packets[i].Protos, &got, &problems)
			if diff := cmp.Diff(want(t, c.m), got); diff != "" {
				t.Errorf("tshark fields (-ours +tshark):\n%s", diff)
			}
			for _, p := range problems {
				if _, ok := c.m.(*mh.ProxyQueryAck); ok && strings.Contains(p, knownProblem) {
					continue
				}
				t.Errorf("tshark: %s", p)
			}
		})
	}
}
