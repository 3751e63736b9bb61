// Package ctl is the control protocol between pmipctl and the daemons
// (pmip-lma, and pmip-mag when it serves one): versioned JSON over a unix
// stream socket.
//
//	pmipctl ──unix socket (0660, root:root by default)──► daemon
//	  {"version":1,"method":"bindings","params":{"mag":"ap1"}}\n
//	  ◄── {"version":1,"result":{"bindings":[...]}}\n
//
// One request per line, one response per line, in order; a connection may
// carry several. Version is the protocol's: a server refuses a request of
// another major version with code "version" rather than guess at its
// meaning, and adds fields (never renames or removes them) within one
// version, so an older pmipctl keeps working against a newer daemon.
//
// Every server answers "info" (which daemon, which methods); what the
// other methods mean is the daemon's: the LMA's are in lma.go.
package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version this package speaks.
const Version = 1

// MaxRequestBytes bounds one request line; longer ones are refused.
const MaxRequestBytes = 64 << 10

// Request is one call.
type Request struct {
	Version int             `json:"version"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// Response answers one Request: Result or Error.
type Response struct {
	Version int             `json:"version"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a refused or failed call, as the client sees it.
type Error struct {
	// Code is one of the Code* constants.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeBadRequest    = "bad_request"    // unreadable request or params
	CodeUnknownMethod = "unknown_method" // the daemon has no such method
	CodeVersion       = "version"        // another protocol version
	CodeNotFound      = "not_found"      // the thing named does not exist
	CodeFailed        = "failed"         // the daemon could not do it
)

func (e *Error) Error() string { return fmt.Sprintf("ctl: %s: %s", e.Code, e.Message) }

// Is lets errors.Is match an *Error by code: errors.Is(err,
// &ctl.Error{Code: ctl.CodeNotFound}).
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an *Error with code for a handler to return.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Info answers the "info" method every server has.
type Info struct {
	// Daemon is "pmip-lma" or "pmip-mag".
	Daemon string `json:"daemon"`
	// Protocol is the ctl Version the server speaks.
	Protocol int `json:"protocol"`
	// Methods the server answers, sorted.
	Methods []string `json:"methods"`
	// Build is the daemon's version string, "" if unknown.
	Build string `json:"build,omitempty"`
}

// MethodInfo is the name of the method every server answers.
const MethodInfo = "info"
