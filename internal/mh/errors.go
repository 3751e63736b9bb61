package mh

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (or io.ErrUnexpectedEOF for input that ends too early), so callers can
// test with errors.Is and log the wrapped message.
var (
	// ErrPayloadProto: the Payload Proto field is not IPPROTO_NONE (59).
	ErrPayloadProto = errors.New("payload proto is not 59 (no next header)")
	// ErrLength: a length field disagrees with the data around it.
	ErrLength = errors.New("bad length")
	// ErrInvalid: a field holds a value its RFC does not allow, on input
	// or when marshalling a struct.
	ErrInvalid = errors.New("invalid field")
	// ErrTooLong: the message does not fit the 8-bit Header Len field
	// (2048 octets at most).
	ErrTooLong = errors.New("message too long")
)

// The helpers below build unprefixed errors; the exported entry points
// (Parse, Marshal, NewTrafficSelector, TrafficSelector.Binary) add the
// "mh: " prefix and the message context once.

func errShort(what string, need, have int) error {
	return fmt.Errorf("%s needs %d octets, have %d: %w", what, need, have, io.ErrUnexpectedEOF)
}

func errLength(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, ErrLength)...)
}

func errInvalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, ErrInvalid)...)
}
