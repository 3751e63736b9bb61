package lma

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/clock"
	"github.com/openpmip/pmip/internal/dataplane"
	"github.com/openpmip/pmip/internal/dataplane/dataplanetest"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/transport"
	"github.com/openpmip/pmip/internal/transport/transporttest"
	"github.com/openpmip/pmip/lma/store"
)

// Issue 3 "Nothing lost": after a restart the same clients have the same
// prefixes, addresses and MAGs; sessions whose lifetime ran out while the
// LMA was down are gone; the pools do not hand out what sessions hold;
// the kernel is rebuilt and stale objects of ours removed.
func TestRecovery(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	a := h.register(h.ap1, h.newPBU("alice@example.net", v4req("0.0.0.0/0")))
	h.register(h.ap1, h.newPBU("printer@example.net", with(&mh.GREKey{HasKey: true, Key: 5})))
	h.register(h.ap2, h.newPBU("dave@example.net", llid(mac2)))
	h.register(h.ap1, h.newPBU("carol@example.net", lifetime(40*time.Second), llid(mac2)))
	h.drain(h.ap2)
	before := h.state()
	h.stop()

	// While down: carol's lifetime runs out, and something left a stale
	// tunnel of ours in the kernel.
	h.clk.Advance(time.Minute)
	stale := dataplane.Tunnel{Name: "pmip6000000bad", Kind: dataplane.IP6, Local: lmaAddr.Addr(), Remote: rogue.Addr()}
	if err := h.dp.Change(context.Background(), dataplane.Op{Action: dataplane.Add, Obj: stale}); err != nil {
		t.Fatal(err)
	}
	h.start()
	after := h.state()
	var want []string
	for _, l := range strings.Split(before, "\n") {
		if strings.Contains(l, "carol") || strings.Contains(l, "2001:db8:100:2::/64") {
			continue // carol's binding, store record and route
		}
		l = strings.Replace(l, "pool hnp used 3", "pool hnp used 2", 1)
		want = append(want, l)
	}
	if got := strings.Join(want, "\n"); got != after {
		t.Errorf("after restart:\n%s\nwant:\n%s", after, got)
	}
	if h.st.restartCounter() != 2 {
		t.Errorf("restart counter %d", h.st.restartCounter())
	}
	// Nothing handed out twice.
	b := h.register(h.ap1, h.newPBU("bob@example.net", v4req("0.0.0.0/0"), llid(mac2)))
	if hnps(b)[0] == hnps(a)[0] || opt[*mh.IPv4HomeAddressReply](t, b.Options).Prefix == opt[*mh.IPv4HomeAddressReply](t, a.Options).Prefix {
		t.Errorf("bob got alice's resources: %v", b)
	}
	// The recovered session refreshes as before.
	h.register(h.ap1, h.newPBU("alice@example.net", hi(mh.HandoffStateNotChanged), hnp(hnps(a)[0].String()), v4req("0.0.0.0/0")))
}

// Topology of the kill -9 test: one process runs an LMA on a real WAL
// store and registers clients through an in-memory network, printing each
// acknowledged prefix; the test kills it with SIGKILL in the middle of
// its registrations, restarts an LMA on the same directory and finds every
// acknowledged client with the same prefix.
//
//	child: MAG ap1 ─(transporttest)─ LMA ─ WAL(dir) ──SIGKILL──┐
//	test:                            LMA ─ WAL(dir) ◄──────────┘
func TestKill9(t *testing.T) {
	if dir := os.Getenv("LMA_KILL9_DIR"); dir != "" {
		kill9Child(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$", "-test.v")
	cmd.Env = append(os.Environ(), "LMA_KILL9_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 300 {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ACK" {
			acked[f[1]] = f[2]
		}
	}
	// Kill while registrations are still under way.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d", len(acked))
	}

	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := transporttest.NewNetwork()
	c6, _ := n.Listen(lmaAddr)
	dp := dataplanetest.New()
	e, err := New(Options{Config: testCfg(t, false, ""), Conns: []transport.Conn{c6}, Dataplane: dp, Store: st, Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bs, err := e.Bindings(context.Background(), BindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	seen := map[string]bool{}
	for _, b := range bs {
		p := b.HomePrefixes[0].String()
		if seen[p] {
			t.Errorf("prefix %s held twice", p)
		}
		seen[p] = true
		have[b.MobileNode] = p
	}
	for mn, p := range acked {
		if have[mn] != p {
			t.Errorf("%s acknowledged with %s, after restart %q", mn, p, have[mn])
		}
	}
	ps, _ := e.Pools(context.Background())
	if ps[0].Used != uint64(len(bs)) {
		t.Errorf("pool used %d, %d bindings", ps[0].Used, len(bs))
	}
	if routes := strings.Count(dp.String(), "route "); routes != len(bs) {
		t.Errorf("%d routes for %d bindings", routes, len(bs))
	}
	t.Logf("%d acknowledged before SIGKILL, %d recovered", len(acked), len(bs))
}

// kill9Child registers clients forever, printing each acknowledgement.
func kill9Child(t *testing.T, dir string) {
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := transporttest.NewNetwork()
	c6, _ := n.Listen(lmaAddr)
	ap, _ := n.Listen(ap1Addr)
	e, err := New(Options{Config: testCfg(t, false, ""), Conns: []transport.Conn{c6}, Dataplane: dataplanetest.New(), Store: st, Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	go e.Run(context.Background())
	go func() {
		for i := 0; ; i++ {
			p := &mh.ProxyBindingUpdate{Sequence: uint16(i), Flags: mh.BUFlagA | mh.BUFlagP, Lifetime: time.Hour, Options: []mh.Option{
				mh.NewNAI(fmt.Sprintf("mn%d@example.net", i)),
				&mh.HomeNetworkPrefix{Prefix: mustPrefix("::/0")},
				&mh.HandoffIndicatorOption{HI: mh.HandoffNewInterface},
				&mh.AccessTechnologyTypeOption{ATT: mh.ATTIEEE80211},
			}}
			b, _ := mh.Marshal(p)
			ap.WriteTo(b, lmaAddr)
			if i%50 == 49 {
				time.Sleep(time.Millisecond) // let the LMA keep up
			}
		}
	}()
	buf := make([]byte, 4096)
	w := bufio.NewWriter(os.Stdout)
	for {
		k, _, err := ap.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := mh.Parse(buf[:k])
		if a, ok := m.(*mh.ProxyBindingAck); ok && err == nil && a.Status == 0 {
			id, _ := mh.FirstOption[*mh.MobileNodeIdentifier](a.Options)
			hp, _ := mh.FirstOption[*mh.HomeNetworkPrefix](a.Options)
			fmt.Fprintf(w, "ACK %s %s\n", id, hp.Prefix)
			w.Flush()
		}
	}
}
