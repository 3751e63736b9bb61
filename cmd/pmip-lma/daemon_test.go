package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
	"github.com/openpmip/pmip/lma"
	"github.com/openpmip/pmip/lma/lmaconfig"
	"github.com/openpmip/pmip/lma/store"
)

// Test topology: the daemon's control socket and metrics over a real
// engine and WAL store, its signalling on the in-memory network.
//
//	ap1 2001:db8:1:1::2 ──transporttest── LMA 2001:db8:ffff::1
//	                                        ├─ store (WAL, temp dir)
//	pmipctl-like client ──unix socket──────┤  control socket
//	httptest GET /metrics ─────────────────┘  metrics handler
const testConf = `
config lma 'main'
	option address '2001:db8:ffff::1'
	option state_dir '%s'
	option control_socket '%s'
	option metrics_listen 'off'
	option timestamps '0'
	option heartbeat_interval '0'

config mag 'ap1'
	list address '2001:db8:1:1::2'

config pool 'hnp'
	option prefix '2001:db8:100::/48'
	option delegated_length '64'

config pool 'v4'
	option subnet '10.20.0.0/24'
	option default_router '10.20.0.1'

config policy 'staff'
	option match '*@example.net'
	option prefix_pool 'hnp'
	option ipv4_pool 'v4'
`

var (
	lmaAP = netip.MustParseAddrPort("[2001:db8:ffff::1]:0")
	ap1AP = netip.MustParseAddrPort("[2001:db8:1:1::2]:0")
)

type testDaemon struct {
	*daemon
	mag  *transporttest.Conn
	sock string
}

func writeConf(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "lma.conf")
	conf := strings.Replace(strings.Replace(testConf, "%s", filepath.Join(dir, "state"), 1), "%s", filepath.Join(dir, "ctl.sock"), 1)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTestDaemon wires the daemon's control handlers and metrics as start
// does, over the in-memory network and the recording data plane.
func newTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	dir := t.TempDir()
	path := writeConf(t, dir)
	cfg, err := lmaconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	nw := transporttest.NewNetwork()
	c6, _ := nw.Listen(lmaAP)
	mag, _ := nw.Listen(ap1AP)
	st, err := store.Open(cfg.StateDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg, st: st, metrics: newMetrics(), dp: dataplanetest.New(),
		opts: daemonOptions{configPath: path, level: new(slog.LevelVar)}}
	d.log = discardLogger()
	d.eng, err = lma.New(lma.Options{Config: cfg, Conns: []transport.Conn{c6}, Dataplane: d.dp,
		Store: timed(st, d.metrics.storeCommit.Observe), ObserveLatency: d.metrics.observePBU})
	if err != nil {
		t.Fatal(err)
	}
	d.metrics.attach(d.eng, st)
	d.ctl = ctl.NewServer("pmip-lma", "test", nil)
	d.registerControl()
	if err := d.ctl.Listen(cfg.ControlSocket); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return &testDaemon{daemon: d, mag: mag, sock: cfg.ControlSocket}
}

// register sends a PBU for nai from ap1 and returns the PBA.
func (td *testDaemon) register(t *testing.T, nai string, seq uint16, lifetime time.Duration) *mh.ProxyBindingAck {
	t.Helper()
	pbu := &mh.ProxyBindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: lifetime, Options: []mh.Option{
		mh.NewNAI(nai),
		&mh.HomeNetworkPrefix{Prefix: netip.MustParsePrefix("::/0")},
		&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
		&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
		&mh.IPv4HomeAddressRequest{Prefix: netip.MustParsePrefix("0.0.0.0/0")},
	}}
	data, err := mh.Marshal(pbu)
	if err != nil {
		t.Fatal(err)
	}
	if err := td.mag.WriteTo(data, lmaAP); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, transport.MaxMessageLen)
	n, _, err := td.mag.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mh.Parse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	pba, ok := m.(*mh.ProxyBindingAck)
	if !ok {
		t.Fatalf("got %v, want a PBA", m)
	}
	return pba
}

func TestMetricsOutput(t *testing.T) {
	td := newTestDaemon(t)
	for i, nai := range []string{"alice@example.net", "bob@example.net"} {
		if pba := td.register(t, nai, uint16(i+1), time.Hour); pba.Status != mh.StatusAccepted {
			t.Fatalf("%s: status %v", nai, pba.Status)
		}
	}
	// Unknown mobile node: RFC 5213 5.3.1, status 152.
	if pba := td.register(t, "eve@elsewhere.org", 9, time.Hour); pba.Status != mh.StatusProxyRegNotEnabled {
		t.Fatalf("eve: status %v, want 152", pba.Status)
	}
	if err := td.eng.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	td.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`pmip_lma_pbus_received_total 3`,
		`pmip_lma_pbas_sent_total{accepted="true",status="0"} 2`,
		`pmip_lma_pbas_sent_total{accepted="false",status="152"} 1`,
		`pmip_lma_bindings 2`,
		`pmip_lma_session_events_total{event="created"} 2`,
		`pmip_lma_pool_size{family="ipv6",pool="hnp"} 65536`,
		`pmip_lma_pool_used{family="ipv6",pool="hnp"} 2`,
		`pmip_lma_pool_size{family="ipv4",pool="v4"} 253`,
		`pmip_lma_pool_used{family="ipv4",pool="v4"} 2`,
		// Every PBA's latency is observed, rejections included.
		`pmip_lma_pbu_processing_seconds_count 3`,
		`pmip_lma_store_operations_total{op="put"} 3`, // restart counter + 2 bindings
		`pmip_lma_store_commit_seconds_count 3`,
		`pmip_lma_config_reloads_total{result="applied"} 0`,
		`pmip_lma_errors_total{component="store"} 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The histogram's buckets are cumulative and end at +Inf.
	if !regexp.MustCompile(`pmip_lma_pbu_processing_seconds_bucket\{le="\+Inf"\} 3`).MatchString(body) {
		t.Errorf("no +Inf bucket of 2 in:\n%s", grep(body, "pmip_lma_pbu_processing"))
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(body, "pmip_lma_"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestControlSocket(t *testing.T) {
	td := newTestDaemon(t)
	alice := td.register(t, "alice@example.net", 1, time.Hour)
	bob := td.register(t, "bob@example.net", 2, time.Hour)
	if alice.Status != 0 || bob.Status != 0 {
		t.Fatalf("statuses %v %v", alice.Status, bob.Status)
	}
	aliceHNP, _ := mh.FirstOption[*mh.HomeNetworkPrefix](alice.Options)
	ctx := context.Background()
	c, err := ctl.Dial(ctx, td.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var all ctl.BindingsResult
	if err := c.Call(ctx, ctl.MethodBindings, nil, &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Bindings) != 2 || all.Total != 2 || all.Truncated {
		t.Fatalf("bindings: %+v", all)
	}
	b := all.Bindings[0]
	if b.MobileNode != "alice@example.net" || b.MAG != "ap1" || b.ProxyCoA != ap1AP.Addr() || b.State != "active" ||
		len(b.HomePrefixes) != 1 || b.HomePrefixes[0] != aliceHNP.Prefix || !b.IPv4HomeAddress.IsValid() ||
		time.Duration(b.Lifetime) != time.Hour || b.Policy != "staff" {
		t.Errorf("alice's binding: %+v", b)
	}

	filters := []struct {
		name string
		p    ctl.BindingsParams
		want []string
	}{
		{"by mobile node", ctl.BindingsParams{MobileNode: "bob@example.net"}, []string{"bob@example.net"}},
		{"by MAG", ctl.BindingsParams{MAG: "ap1"}, []string{"alice@example.net", "bob@example.net"}},
		{"by other MAG", ctl.BindingsParams{MAG: "ap9"}, nil},
		{"by home prefix", ctl.BindingsParams{Prefix: aliceHNP.Prefix}, []string{"alice@example.net"}},
		{"by address in the prefix", ctl.BindingsParams{Prefix: netip.PrefixFrom(aliceHNP.Prefix.Addr().Next(), 128)}, []string{"alice@example.net"}},
		{"by IPv4 subnet", ctl.BindingsParams{Prefix: netip.MustParsePrefix("10.20.0.0/24")}, []string{"alice@example.net", "bob@example.net"}},
	}
	for _, f := range filters {
		var r ctl.BindingsResult
		if err := c.Call(ctx, ctl.MethodBindings, f.p, &r); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		var got []string
		for _, b := range r.Bindings {
			got = append(got, b.MobileNode)
		}
		if strings.Join(got, " ") != strings.Join(f.want, " ") {
			t.Errorf("%s: got %v, want %v", f.name, got, f.want)
		}
	}

	// A limit cuts the list (which entries is the engine's choice).
	var lim ctl.BindingsResult
	if err := c.Call(ctx, ctl.MethodBindings, ctl.BindingsParams{Limit: 1}, &lim); err != nil || len(lim.Bindings) != 1 || !lim.Truncated || lim.Total != 2 {
		t.Errorf("limit 1: %+v %v", lim, err)
	}

	var pools ctl.PoolsResult
	if err := c.Call(ctx, ctl.MethodPools, nil, &pools); err != nil {
		t.Fatal(err)
	}
	if len(pools.Pools) != 2 || pools.Pools[0].Name != "hnp" || pools.Pools[0].Used != 2 || pools.Pools[1].Used != 2 ||
		pools.Pools[1].Size != 253 || pools.Pools[1].Free != 251 {
		t.Errorf("pools: %+v", pools)
	}
	var mags ctl.MAGsResult
	if err := c.Call(ctx, ctl.MethodMAGs, nil, &mags); err != nil {
		t.Fatal(err)
	}
	if len(mags.MAGs) != 1 || mags.MAGs[0].Name != "ap1" || mags.MAGs[0].Bindings != 2 || mags.MAGs[0].Heartbeat != "unknown" {
		t.Errorf("mags: %+v", mags)
	}
	var counters ctl.Counters
	if err := c.Call(ctx, ctl.MethodCounters, nil, &counters); err != nil {
		t.Fatal(err)
	}
	if counters.Counters["created"] != 2 || counters.PBAsByStatus["0"] != 2 || counters.RestartCounter != 1 ||
		counters.Counters["store_puts"] < 2 || counters.Counters["store_log_bytes"] == 0 {
		t.Errorf("counters: %+v", counters)
	}

	// Revocation (RFC 5846 8.1): the session goes and ap1 gets a BRI.
	var rv ctl.RevokeResult
	if err := c.Call(ctx, ctl.MethodRevoke, ctl.RevokeParams{MobileNode: "alice@example.net"}, &rv); err != nil || rv.Revoked != 1 {
		t.Fatalf("revoke: %+v %v", rv, err)
	}
	buf := make([]byte, transport.MaxMessageLen)
	n, _, err := td.mag.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := mh.Parse(buf[:n]); err != nil {
		t.Fatal(err)
	} else if bri, ok := m.(*mh.BindingRevocationIndication); !ok || bri.Trigger != mh.TriggerAdministrative {
		t.Errorf("after revoke the MAG got %v", m)
	}
	if err := c.Call(ctx, ctl.MethodRevoke, ctl.RevokeParams{MobileNode: "alice@example.net"}, &rv); !isCode(err, ctl.CodeNotFound) {
		t.Errorf("second revoke: %v, want not_found", err)
	}
	if err := c.Call(ctx, ctl.MethodRevoke, ctl.RevokeParams{}, &rv); !isCode(err, ctl.CodeBadRequest) {
		t.Errorf("revoke without id: %v, want bad_request", err)
	}
	if err := c.Call(ctx, ctl.MethodBindings, ctl.BindingsParams{Limit: -1}, &all); !isCode(err, ctl.CodeBadRequest) {
		t.Errorf("negative limit: %v, want bad_request", err)
	}
	if err := c.Call(ctx, ctl.MethodBindings, nil, &all); err != nil || len(all.Bindings) != 1 || all.Bindings[0].MobileNode != "bob@example.net" {
		t.Errorf("after revoke: %+v %v", all, err)
	}
	var dp ctl.DataplaneResult
	if err := c.Call(ctx, ctl.MethodDataplane, nil, &dp); err != nil || dp.Driver != "none" {
		t.Errorf("dataplane: %+v %v", dp, err)
	}
}

func isCode(err error, code string) bool {
	ce, ok := err.(*ctl.Error)
	return ok && ce.Code == code
}

// TestReload is SIGHUP's path: a broken file is refused whole, a change
// needing a restart keeps the running value, policies apply at once.
func TestReload(t *testing.T) {
	td := newTestDaemon(t)
	if pba := td.register(t, "alice@example.net", 1, time.Hour); pba.Status != 0 {
		t.Fatal(pba.Status)
	}
	ctx := context.Background()
	path := td.opts.configPath
	orig, _ := os.ReadFile(path)

	os.WriteFile(path, append(orig, "\nconfig policy 'broken'\n\toption mach '*'\n"...), 0o600)
	td.reload(ctx)
	if pba := td.register(t, "carol@other.org", 2, time.Hour); pba.Status != mh.StatusProxyRegNotEnabled {
		t.Errorf("after a refused reload: status %v, want 152", pba.Status)
	}

	// A new policy and a new control socket path: the policy applies,
	// the socket path needs a restart and stays.
	newConf := strings.Replace(string(orig), "ctl.sock", "other.sock", 1) +
		"\nconfig policy 'other'\n\toption match '*@other.org'\n\toption prefix_pool 'hnp'\n\toption ipv4_pool 'v4'\n"
	os.WriteFile(path, []byte(newConf), 0o600)
	td.reload(ctx)
	if pba := td.register(t, "carol@other.org", 3, time.Hour); pba.Status != 0 {
		t.Errorf("after reload: status %v, want 0", pba.Status)
	}
	if td.cfg.ControlSocket != td.sock {
		t.Errorf("control socket changed by a reload: %s", td.cfg.ControlSocket)
	}
	var res ctl.BindingsResult
	c, err := ctl.Dial(ctx, td.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, ctl.MethodBindings, nil, &res); err != nil || res.Total != 2 {
		t.Errorf("bindings after reload: %+v %v (alice must survive it)", res, err)
	}
	rec := httptest.NewRecorder()
	td.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`pmip_lma_config_reloads_total{result="applied"} 1`, `pmip_lma_config_reloads_total{result="refused"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	good := writeConf(t, dir)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("config lma 'main'\n\toption address '2001:db8::1'\n\toption default_lifetime 'abc'\n"), 0o600)
	tests := []struct {
		name        string
		args        []string
		code        int
		out, errOut string
	}{
		{"help", []string{"-help"}, 0, "", "Running an appliance"},
		{"help names signals", []string{"-h"}, 0, "", "SIGHUP"},
		{"check good", []string{"-check", "-config", good}, 0, "valid", ""},
		{"check bad names file and line", []string{"-check", "-config", bad}, 1, "", bad + ":3: option default_lifetime"},
		{"missing file", []string{"-check", "-config", filepath.Join(dir, "none.conf")}, 1, "", "none.conf"},
		{"bad log format", []string{"-log-format", "xml"}, 2, "", "-log-format"},
		{"bad log level", []string{"-log-level", "loud"}, 2, "", "-log-level"},
		{"bad dataplane", []string{"-dataplane", "magic"}, 2, "", "-dataplane"},
		{"stray argument", []string{"-check", "extra"}, 2, "", "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.out)
			}
			if !strings.Contains(errOut.String(), tt.errOut) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.errOut)
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestSalvage: a store damaged where no crash can have left it refuses
// to open (store.ErrCorrupt); -salvage keeps what is readable and the
// store opens again.
func TestSalvage(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir)
	state := filepath.Join(dir, "state")
	// Small segments, so that the damage is in a sealed one (damage in
	// the active segment is taken for a torn tail).
	st, err := store.Open(state, store.Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := st.Put(context.Background(), []byte(fmt.Sprintf("b/%x", i)), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	segs, _ := filepath.Glob(filepath.Join(state, "wal-*.log"))
	if len(segs) < 2 {
		t.Fatalf("segments %v: want several", segs)
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	data[2050] ^= 0xff // inside an acknowledged record of a sealed segment (not a batch header)
	if err := os.WriteFile(segs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(state, store.Options{}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("damaged store opened with %v, want ErrCorrupt", err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-salvage", "-config", conf}, &out, &errOut); code != 0 {
		t.Fatalf("salvage exit %d:\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "salvaged:") || !strings.Contains(out.String(), "damaged:") {
		t.Errorf("salvage report:\n%s", out.String())
	}
	st, err = store.Open(state, store.Options{})
	if err != nil {
		t.Fatalf("store after salvage: %v", err)
	}
	n := 0
	st.ForEach(func(k, v []byte) error { n++; return nil })
	st.Close()
	if n < 150 || n >= 200 {
		t.Errorf("%d keys after salvage of 200 with one damaged record", n)
	}
}

// The metrics wrapper keeps the WAL's store.Submitter, or the engine
// falls back to a goroutine per write (the fast path lost silently).
func TestTimedKeepsSubmitter(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var n int
	w, ok := timed(st, func(float64) { n++ }).(store.Submitter)
	if !ok {
		t.Fatal("timed(WAL) is not a store.Submitter")
	}
	var b store.Batch
	b.Put([]byte("k"), []byte("v"))
	done := make(chan error, 1)
	if err := w.Submit(&b, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d observations, want 1", n)
	}
}
