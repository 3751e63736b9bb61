package main

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/nstest"
	"github.com/openpmip/pmip/internal/transport"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"-lma", "2001:db8::1", "-mag", "2001:db8::2,2001:db8::3"}, ""},
		{[]string{"-mode", "echo-server", "-lma", "2001:db8::1"}, ""},
		{[]string{"-lma", "10.0.0.1", "-mag", "2001:db8::2"}, "-lma"},
		{[]string{"-lma", "2001:db8::1", "-mag", "2001:db8::2,x"}, "-mag"},
		{[]string{"-mode", "flood", "-lma", "2001:db8::1"}, "-mode"},
		{[]string{"-lma", "2001:db8::1", "-mag", "2001:db8::2", "-window", "0"}, "positive"},
	}
	for _, tt := range tests {
		_, err := parse(tt.args, io.Discard)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.err)
		}
	}
}

// TestEchoRun drives the echo server over the real raw socket and checks
// the figures add up: every PBU answered, latencies measured, none lost.
//
//	[ns] pmip-loadgen driver 2001:db8:e::2 ──raw MH on lo── echo 2001:db8:e::1
func TestEchoRun(t *testing.T) {
	ns := nstest.New(t, "loadgen")
	ns.Run(t, "ip", "addr", "add", "2001:db8:e::1/128", "dev", "lo", "nodad")
	ns.Run(t, "ip", "addr", "add", "2001:db8:e::2/128", "dev", "lo", "nodad")
	var srv *transport.RawConn
	if err := ns.Do(func() (err error) {
		srv, err = transport.ListenRaw(netip.MustParseAddr("2001:db8:e::1"), transport.Options{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	go echo(srv, io.Discard)
	defer srv.Close()
	c := config{mode: "echo", lma: netip.MustParseAddr("2001:db8:e::1"), mags: []netip.Addr{netip.MustParseAddr("2001:db8:e::2")},
		realm: "example.net", n: 1000, duration: 300 * time.Millisecond, window: 16, timeout: time.Second, label: "echo", timestamps: true}
	var res *result
	if err := ns.Do(func() (err error) {
		res, err = drive(c)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if res.sent == 0 || res.answered != res.sent || res.lost != 0 || res.rejected != 0 || len(res.lat) != int(res.answered) {
		t.Errorf("sent %d answered %d lost %d rejected %d latencies %d", res.sent, res.answered, res.lost, res.rejected, len(res.lat))
	}
	var out bytes.Buffer
	out.WriteString(res.line(c))
	if f := strings.Fields(out.String()); len(f) != 10 || f[0] != "echo" {
		t.Errorf("line %q", out.String())
	}
}
