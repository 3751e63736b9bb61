package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Test topology: a server on a unix socket in a temporary directory, a
// client (or a raw connection speaking the protocol by hand) dialling it.
//
//	Client ──unix stream── <tmp>/ctl.sock ── Server{bindings, boom}

func newTestServer(t *testing.T) (*Server, string) {
	t.Helper()
	s := NewServer("pmip-test", "v0", nil)
	s.Handle(MethodBindings, func(_ context.Context, params json.RawMessage) (any, error) {
		var p BindingsParams
		if err := DecodeParams(params, &p); err != nil {
			return nil, err
		}
		if p.MobileNode == "missing@example.net" {
			return nil, Errorf(CodeNotFound, "no mobile node %s", p.MobileNode)
		}
		return BindingsResult{Total: 1, Bindings: []Binding{{ID: 7, MobileNode: p.MobileNode, MAG: p.MAG,
			HomePrefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:100:1::/64")}, Lifetime: Duration(time.Hour)}}}, nil
	})
	s.Handle("boom", func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("it broke") })
	path := filepath.Join(t.TempDir(), "run", "ctl.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCallRoundTrip(t *testing.T) {
	_, path := newTestServer(t)
	c := dial(t, path)
	ctx := context.Background()
	var info Info
	if err := c.Call(ctx, MethodInfo, nil, &info); err != nil {
		t.Fatal(err)
	}
	want := Info{Daemon: "pmip-test", Protocol: Version, Methods: []string{"bindings", "boom", "info"}, Build: "v0"}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	// Several calls on one connection.
	for range 3 {
		var res BindingsResult
		if err := c.Call(ctx, MethodBindings, BindingsParams{MobileNode: "a@example.net", MAG: "ap1"}, &res); err != nil {
			t.Fatal(err)
		}
		wantRes := BindingsResult{Total: 1, Bindings: []Binding{{ID: 7, MobileNode: "a@example.net", MAG: "ap1",
			HomePrefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:100:1::/64")}, Lifetime: Duration(time.Hour)}}}
		if diff := cmp.Diff(wantRes, res, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
			t.Errorf("bindings (-want +got):\n%s", diff)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
}

func TestCallErrors(t *testing.T) {
	_, path := newTestServer(t)
	c := dial(t, path)
	ctx := context.Background()
	tests := []struct {
		name   string
		method string
		params any
		code   string
		msg    string
	}{
		{"unknown method", "nope", nil, CodeUnknownMethod, `"nope"`},
		{"handler error", MethodBindings, BindingsParams{MobileNode: "missing@example.net"}, CodeNotFound, "no mobile node"},
		{"plain error becomes failed", "boom", nil, CodeFailed, "it broke"},
		{"unknown param refused", MethodBindings, map[string]string{"mobile_nod": "x"}, CodeBadRequest, "unknown field"},
		{"param of the wrong type", MethodBindings, map[string]int{"mag": 3}, CodeBadRequest, "params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Call(ctx, tt.method, tt.params, nil)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ctl.Error", err)
			}
			if ce.Code != tt.code || !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("got %q %q, want code %q containing %q", ce.Code, ce.Message, tt.code, tt.msg)
			}
			if !errors.Is(err, &Error{Code: tt.code}) {
				t.Errorf("errors.Is by code failed for %v", err)
			}
		})
	}
}

// TestWireProtocol speaks the protocol by hand: what another client (a
// shell one-liner with socat, a future pmipctl) sees.
func TestWireProtocol(t *testing.T) {
	_, path := newTestServer(t)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	exchange := func(req string) string {
		t.Helper()
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	tests := []struct{ req, want string }{
		{`{"version":2,"method":"info"}` + "\n", `{"version":1,"error":{"code":"version","message":"protocol version 2 is not spoken here (this server speaks 1)"}}`},
		{"not json\n", `{"version":1,"error":{"code":"bad_request","message":"not a JSON request: invalid character 'o' in literal null (expecting 'u')"}}`},
		{"\n" + `{"version":1,"method":"bindings","params":{"prefix":"2001:db8::/32"}}` + "\n",
			`{"version":1,"result":{"bindings":[{"id":7,"mobile_node":"","mn_id_type":"","access_technology":"","mag":"","proxy_coa":"","tunnel":"","home_prefixes":["2001:db8:100:1::/64"],"policy":"","state":"","lifetime":"1h0m0s","registered":"0001-01-01T00:00:00Z","updated":"0001-01-01T00:00:00Z","expires":"0001-01-01T00:00:00Z"}],"total":1}}`},
		{`{"version":1,"method":"bindings","params":{"prefix":"2001:db8::1/129"}}` + "\n", ""},
	}
	for i, tt := range tests {
		got := exchange(tt.req)
		if tt.want == "" {
			if !strings.Contains(got, `"code":"bad_request"`) {
				t.Errorf("%d: %s: want a bad_request, got %s", i, tt.req, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("%d: %s:\n got %s\nwant %s", i, tt.req, got, tt.want)
		}
	}
	// A request longer than MaxRequestBytes is refused and the
	// connection closed.
	big := `{"version":1,"method":"info","params":"` + strings.Repeat("x", MaxRequestBytes) + `"}` + "\n"
	go conn.Write([]byte(big))
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "longer than") {
		t.Errorf("oversized request: %q %v", line, err)
	}
}

func TestListenSocketFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl.sock")

	// A stale socket file (its process died) is replaced.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	s := NewServer("a", "", nil)
	if err := s.Listen(path); err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// A socket someone answers on is not taken over.
	s2 := NewServer("b", "", nil)
	if err := s2.Listen(path); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second server on a live socket: %v", err)
	}
	c := dial(t, path)
	var info Info
	if err := c.Call(context.Background(), MethodInfo, nil, &info); err != nil || info.Daemon != "a" {
		t.Errorf("info after the refused takeover: %+v %v", info, err)
	}
	// Close removes the file and ends open connections.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Call(ctx, MethodInfo, nil, &info); err == nil {
		t.Error("call on a closed server succeeded")
	}
	// A regular file in the way is an error, not removed.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if err := NewServer("c", "", nil).Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen over a regular file: %v", err)
	}
}

func TestCallContext(t *testing.T) {
	s := NewServer("slow", "", nil)
	release := make(chan struct{})
	s.Handle("slow", func(ctx context.Context, _ json.RawMessage) (any, error) {
		<-release
		return "late", nil
	})
	path := filepath.Join(t.TempDir(), "ctl.sock")
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer close(release)
	c := dial(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, "slow", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow call: %v, want deadline exceeded", err)
	}
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"90s"`), &d); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("%v %v", d, err)
	}
	if err := json.Unmarshal([]byte(`"soon"`), &d); err == nil {
		t.Error("bad duration accepted")
	}
}
