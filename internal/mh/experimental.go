package mh

// Experimental bit choices, kept in one place.
//
// draft-jikim-dmm-pmip-00 (S-PMIP and SD-PMIP) has a MAG ask where a mobile
// is with a Proxy Binding Query: a Proxy Binding Update with a new Q flag,
// answered by a Proxy Query Ack: a Proxy Binding Acknowledgement with the
// same flag. The draft was never given IANA bits, so we pick them:
//
//   - Binding Acknowledgement flags (IANA "Binding Acknowledgment Flags")
//     hold K 0x80 (RFC 6275), R 0x40 (RFC 3963), P 0x20 (RFC 5213), T 0x10
//     (RFC 5845), B 0x08 (RFC 6602), S 0x04 (RFC 7161) and D 0x02 (RFC
//     8885): 0x01 is the one free bit, so Q is 0x01.
//   - Binding Update flags hold A H L K M R P F T B S D from 0x8000 down to
//     0x0010 (RFC 6275, 4140, 3963, 5213, 5555, 5845, 6602, 7161, 8885):
//     Q takes the next free bit, 0x0008, the one IANA would hand out next,
//     so a peer that predates this choice sees an unknown bit it must
//     ignore (RFC 6275 6.1.7: reserved bits are ignored by the receiver).
//
// A real IANA assignment would replace these two constants and nothing
// else.
const (
	// BUFlagQuery marks a Proxy Binding Update as a Proxy Binding Query
	// (draft-jikim-dmm-pmip-00).
	BUFlagQuery BUFlags = 0x0008
	// BAFlagQuery marks a Proxy Binding Acknowledgement as a Proxy Query
	// Ack (draft-jikim-dmm-pmip-00).
	BAFlagQuery BAFlags = 0x01
)
