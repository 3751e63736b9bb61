package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Handler answers one method. params is the request's raw params (nil
// when absent). The result is encoded as JSON; an error that is an *Error
// reaches the client with its code, any other as CodeFailed.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Server answers requests on unix sockets.
type Server struct {
	daemon, build string
	log           *slog.Logger

	mu       sync.Mutex
	handlers map[string]Handler
	conns    map[net.Conn]struct{}
	lns      []net.Listener
	closed   bool
	wg       sync.WaitGroup
}

// Timeouts of a connection: a client idle this long between requests is
// disconnected, and a handler gets this long to answer.
const (
	IdleTimeout    = 60 * time.Second
	HandlerTimeout = 30 * time.Second
)

// NewServer returns a server for daemon (reported by "info"); logger nil
// discards.
func NewServer(daemon, build string, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{daemon: daemon, build: build, log: logger, handlers: map[string]Handler{}, conns: map[net.Conn]struct{}{}}
}

// Handle registers h for method; a second registration replaces the
// first. "info" is built in.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[method] = h
}

func (s *Server) methods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{MethodInfo}
	for m := range s.handlers {
		if m != MethodInfo {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// Listen creates the unix socket at path (its directory with mode 0750 if
// missing, the socket with mode 0660) and serves it until Close. A socket
// file left by a process that died is replaced; one that answers is not:
// two daemons never share a control socket.
func (s *Server) Listen(path string) error {
	if path == "" {
		return errors.New("ctl: no socket path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("ctl: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("ctl: %s: another process is serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("ctl: removing the stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return fmt.Errorf("ctl: %w", err)
	}
	return s.Serve(ln)
}

// Serve answers on ln until Close (or ln fails). It returns once the
// listener is accepted by the server; connections are served in the
// background.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return errors.New("ctl: server closed")
	}
	s.lns = append(s.lns, ln)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.log.Warn("ctl: accept", "err", err)
				}
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go s.serveConn(c)
		}
	}()
	return nil
}

// Close stops listening (removing unix socket files), ends the
// connections and waits for their handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var errs []error
	for _, ln := range s.lns {
		errs = append(errs, ln.Close()) // a UnixListener unlinks its file
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriter(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.write(c, w, Response{Version: Version, Error: Errorf(CodeBadRequest, "request longer than %d bytes", MaxRequestBytes)})
			}
			return
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		_ = c.SetReadDeadline(time.Time{})
		resp := s.answer(line)
		if !s.write(c, w, resp) {
			return
		}
	}
}

var errLineTooLong = errors.New("ctl: line too long")

// readLine reads up to '\n', refusing more than MaxRequestBytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxRequestBytes {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) > 0:
			return line, nil // the last request without a newline
		default:
			return nil, err
		}
	}
}

func (s *Server) write(c net.Conn, w *bufio.Writer, resp Response) bool {
	_ = c.SetWriteDeadline(time.Now().Add(HandlerTimeout))
	enc := json.NewEncoder(w)
	if err := enc.Encode(resp); err != nil {
		return false
	}
	return w.Flush() == nil
}

// answer decodes and runs one request.
func (s *Server) answer(line []byte) Response {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return Response{Version: Version, Error: Errorf(CodeBadRequest, "not a JSON request: %v", err)}
	}
	if req.Version != Version {
		return Response{Version: Version, Error: Errorf(CodeVersion, "protocol version %d is not spoken here (this server speaks %d)", req.Version, Version)}
	}
	var h Handler
	if req.Method == MethodInfo {
		h = func(context.Context, json.RawMessage) (any, error) {
			return Info{Daemon: s.daemon, Protocol: Version, Methods: s.methods(), Build: s.build}, nil
		}
	} else {
		s.mu.Lock()
		h = s.handlers[req.Method]
		s.mu.Unlock()
	}
	if h == nil {
		return Response{Version: Version, Error: Errorf(CodeUnknownMethod, "%q (try %q)", req.Method, MethodInfo)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), HandlerTimeout)
	defer cancel()
	params := req.Params
	if len(params) == 0 || string(params) == "null" {
		params = nil
	}
	res, err := h(ctx, params)
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			ce = &Error{Code: CodeFailed, Message: err.Error()}
		}
		s.log.Debug("ctl: request refused", "method", req.Method, "code", ce.Code, "err", ce.Message)
		return Response{Version: Version, Error: ce}
	}
	data, err := json.Marshal(res)
	if err != nil {
		return Response{Version: Version, Error: Errorf(CodeFailed, "encoding the result: %v", err)}
	}
	return Response{Version: Version, Result: data}
}

// DecodeParams decodes a handler's params into v, refusing unknown fields
// (a typo in a filter must not silently match everything). Absent params
// leave v as it is.
func DecodeParams(params json.RawMessage, v any) error {
	if params == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeBadRequest, "params: %v", err)
	}
	return nil
}
