package nft

import (
	"errors"
	"fmt"
	"io"
)

// ErrMalformed is wrapped by every error about a reply that does not
// have the layout nf_tables gives it.
var ErrMalformed = errors.New("nft: malformed reply")

// Table is a table as a dump lists it (NFT_MSG_NEWTABLE).
type Table struct {
	Family uint8
	Name   string
}

// Chain is a chain as a dump lists it (NFT_MSG_NEWCHAIN): its table and
// name.
type Chain struct {
	Family uint8
	Table  string
	Name   string
}

// SetInfo is a set as a dump lists it (NFT_MSG_NEWSET): what tells one
// layout of a set from another.
type SetInfo struct {
	Table    string
	Name     string
	Flags    uint32
	KeyType  uint32
	KeyLen   uint32
	DataType uint32
	DataLen  uint32
}

// payload checks the nfgenmsg in front of a reply's attributes and
// returns its family and the attributes.
func payload(b []byte) (uint8, []byte, error) {
	if len(b) < sizeofNFGenMsg {
		return 0, nil, fmt.Errorf("nft: nfgenmsg: %w", io.ErrUnexpectedEOF)
	}
	return b[0], b[sizeofNFGenMsg:], nil
}

// ParseTable decodes the payload of a NEWTABLE message.
func ParseTable(b []byte) (Table, error) {
	fam, attrs, err := payload(b)
	if err != nil {
		return Table{}, err
	}
	t := Table{Family: fam}
	d := dec{b: attrs}
	for typ, data, ok := d.next(); ok; typ, data, ok = d.next() {
		if typ == tableName {
			t.Name = cstr(data)
		}
	}
	if d.err == nil && t.Name == "" {
		d.err = fmt.Errorf("nft: table without a name: %w", ErrMalformed)
	}
	return t, d.err
}

// ParseChain decodes the payload of a NEWCHAIN message.
func ParseChain(b []byte) (Chain, error) {
	fam, attrs, err := payload(b)
	if err != nil {
		return Chain{}, err
	}
	c := Chain{Family: fam}
	d := dec{b: attrs}
	for typ, data, ok := d.next(); ok; typ, data, ok = d.next() {
		switch typ {
		case chainTable:
			c.Table = cstr(data)
		case chainName:
			c.Name = cstr(data)
		}
	}
	if d.err == nil && (c.Table == "" || c.Name == "") {
		d.err = fmt.Errorf("nft: chain without a table or a name: %w", ErrMalformed)
	}
	return c, d.err
}

// ParseSet decodes the payload of a NEWSET message.
func ParseSet(b []byte) (SetInfo, error) {
	_, attrs, err := payload(b)
	if err != nil {
		return SetInfo{}, err
	}
	var s SetInfo
	d := dec{b: attrs}
	for typ, data, ok := d.next(); ok && err == nil; typ, data, ok = d.next() {
		switch typ {
		case setTable:
			s.Table = cstr(data)
		case setName:
			s.Name = cstr(data)
		case setFlagsA:
			s.Flags, err = beU32(data)
		case setKeyType:
			s.KeyType, err = beU32(data)
		case setKeyLen:
			s.KeyLen, err = beU32(data)
		case setDataType:
			s.DataType, err = beU32(data)
		case setDataLen:
			s.DataLen, err = beU32(data)
		}
	}
	if err == nil {
		err = d.err
	}
	if err == nil && s.Name == "" {
		err = fmt.Errorf("nft: set without a name: %w", ErrMalformed)
	}
	return s, err
}

// ParseElements decodes the payload of a NEWSETELEM message: the set's
// table and name and its elements.
func ParseElements(b []byte) (table, set string, elems []Element, err error) {
	_, attrs, err := payload(b)
	if err != nil {
		return "", "", nil, err
	}
	d := dec{b: attrs}
	for typ, data, ok := d.next(); ok && err == nil; typ, data, ok = d.next() {
		switch typ {
		case elemListTable:
			table = cstr(data)
		case elemListSet:
			set = cstr(data)
		case elemListElements:
			l := dec{b: data}
			for t, el, ok := l.next(); ok && err == nil; t, el, ok = l.next() {
				if t != listElem {
					continue
				}
				var e Element
				e, err = parseElement(el)
				elems = append(elems, e)
			}
			if err == nil {
				err = l.err
			}
		}
	}
	if err == nil {
		err = d.err
	}
	return table, set, elems, err
}

func parseElement(b []byte) (Element, error) {
	var e Element
	var err error
	d := dec{b: b}
	for typ, data, ok := d.next(); ok && err == nil; typ, data, ok = d.next() {
		switch typ {
		case elemKey:
			e.Key, err = dataValueOf(data)
		case elemKeyEnd:
			e.KeyEnd, err = dataValueOf(data)
		case elemData:
			e.Data, err = dataValueOf(data)
		case elemFlags:
			e.Flags, err = beU32(data)
		}
	}
	if err == nil {
		err = d.err
	}
	if err == nil && e.Key == nil {
		err = fmt.Errorf("nft: set element without a key: %w", ErrMalformed)
	}
	return e, err
}
