package nft

import (
	"encoding/binary"
	"fmt"
	"io"
)

// enc appends netlink attributes (include/uapi/linux/netlink.h struct
// nlattr): a 16-bit length and a 16-bit type in the host's byte order,
// the payload, then padding to NLA_ALIGNTO (4). The length counts header
// and payload, not the padding. The integers nf_tables carries inside
// attributes are big-endian (the kernel reads them with ntohl and
// be64_to_cpu), which is not the header's order on a little-endian host.
//
// The methods are kept out of line (go:noinline): inlined, every
// attribute of every message was a copy of the append code, 50 kB of
// the MAG's binary instead of about 20 (and a kB of binary is about a kB
// of resident memory, docs/mag.md 6). Nothing here is on a hot path.
type enc struct{ b []byte }

const nlaHdrLen = 4

//go:noinline
func (e *enc) attr(typ uint16, data []byte) {
	e.hdr(typ, len(data))
	e.b = append(e.b, data...)
	e.pad()
}

func (e *enc) hdr(typ uint16, n int) {
	e.b = binary.NativeEndian.AppendUint16(e.b, uint16(nlaHdrLen+n))
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
}

func (e *enc) pad() {
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

//go:noinline
func (e *enc) u32(typ uint16, v uint32) {
	e.hdr(typ, 4)
	e.b = binary.BigEndian.AppendUint32(e.b, v)
}

//go:noinline
func (e *enc) u64(typ uint16, v uint64) {
	e.hdr(typ, 8)
	e.b = binary.BigEndian.AppendUint64(e.b, v)
}

// str is a NUL-terminated string (NLA_STRING / NLA_NUL_STRING).
//
//go:noinline
func (e *enc) str(typ uint16, s string) {
	e.hdr(typ, len(s)+1)
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
	e.pad()
}

// nest starts a nested attribute typ (its header gets the length at end).
// The caller adds nlaFNested where the kernel's own tools set it.
//
//go:noinline
func (e *enc) nest(typ uint16) int {
	at := len(e.b)
	e.b = binary.NativeEndian.AppendUint16(e.b, 0)
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
	return at
}

//go:noinline
func (e *enc) end(at int) {
	binary.NativeEndian.PutUint16(e.b[at:], uint16(len(e.b)-at))
}

// value writes attribute typ holding a nested NFTA_DATA_VALUE with b (the
// kernel's struct nft_data as netlink carries it: nf_tables_api.c
// nft_data_init).
//
//go:noinline
func (e *enc) value(typ uint16, b []byte) {
	at := e.nest(typ | nlaFNested)
	e.attr(dataValue, b)
	e.end(at)
}

// dec walks the attributes of a message or of a nested attribute. It
// never panics: a header that does not fit is io.ErrUnexpectedEOF.
type dec struct {
	b   []byte
	err error
}

// next returns the next attribute's type (without the NLA_F_NESTED and
// NLA_F_NET_BYTEORDER flags) and payload; false at the end or on error.
func (d *dec) next() (uint16, []byte, bool) {
	if d.err != nil || len(d.b) == 0 {
		return 0, nil, false
	}
	if len(d.b) < nlaHdrLen {
		d.err = fmt.Errorf("nft: attribute header: %w", io.ErrUnexpectedEOF)
		return 0, nil, false
	}
	n := int(binary.NativeEndian.Uint16(d.b))
	typ := binary.NativeEndian.Uint16(d.b[2:]) &^ (nlaFNested | nlaFByteOrder)
	if n < nlaHdrLen || n > len(d.b) {
		d.err = fmt.Errorf("nft: attribute %d of length %d in %d bytes: %w", typ, n, len(d.b), io.ErrUnexpectedEOF)
		return 0, nil, false
	}
	data := d.b[nlaHdrLen:n]
	if n = (n + 3) &^ 3; n > len(d.b) {
		n = len(d.b) // the last attribute's padding may be missing
	}
	d.b = d.b[n:]
	return typ, data, true
}

func beU32(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("nft: a 32-bit attribute of %d bytes: %w", len(b), ErrMalformed)
	}
	return binary.BigEndian.Uint32(b), nil
}

// cstr is a NUL-terminated string attribute without its NUL.
func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// dataValueOf reads the NFTA_DATA_VALUE inside a nested nft_data.
func dataValueOf(b []byte) ([]byte, error) {
	d := dec{b: b}
	var v []byte
	for typ, data, ok := d.next(); ok; typ, data, ok = d.next() {
		if typ == dataValue {
			v = append([]byte(nil), data...)
		}
	}
	return v, d.err
}
