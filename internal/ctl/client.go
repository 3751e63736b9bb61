package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Client calls a daemon's control socket. Calls are serialised on one
// connection; a Client is safe for concurrent use.
type Client struct {
	mu  sync.Mutex
	c   net.Conn
	r   *bufio.Reader
	enc *json.Encoder
}

// Dial connects to the control socket at path.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("ctl: %w (is the daemon running, and is this its control_socket?)", err)
	}
	return &Client{c: c, r: bufio.NewReaderSize(c, 64<<10), enc: json.NewEncoder(c)}, nil
}

// Close closes the connection.
func (cl *Client) Close() error { return cl.c.Close() }

// Call runs method with params (nil for none) and decodes the result into
// result (nil to discard it). A refusal by the daemon is an *Error.
func (cl *Client) Call(ctx context.Context, method string, params, result any) error {
	req := Request{Version: Version, Method: method}
	if params != nil {
		p, err := json.Marshal(params)
		if err != nil {
			return fmt.Errorf("ctl: encoding params: %w", err)
		}
		req.Params = p
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		_ = cl.c.SetDeadline(dl)
	} else {
		_ = cl.c.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = cl.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := cl.enc.Encode(req); err != nil {
		return cl.fail(ctx, err)
	}
	// One response per line; a line may be large (a million bindings).
	line, err := cl.r.ReadBytes('\n')
	if err != nil {
		return cl.fail(ctx, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("ctl: unreadable response: %w", err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	if resp.Version != Version {
		return fmt.Errorf("ctl: the daemon answered in protocol version %d, we speak %d", resp.Version, Version)
	}
	if result == nil || len(resp.Result) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.Result, result); err != nil {
		return fmt.Errorf("ctl: decoding the %s result: %w", method, err)
	}
	return nil
}

func (cl *Client) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ctl: %w", ctx.Err())
	}
	// The socket deadline is the context's deadline, and the socket's timer
	// can fire a moment before the context's: the same expiry, reported as
	// the context's.
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("ctl: %w (%v)", context.DeadlineExceeded, err)
	}
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("ctl: connection closed: %w", err)
	}
	return fmt.Errorf("ctl: %w", err)
}
