package lma

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/mh"
)

// RFC 5847 5.1, 5.2: a heartbeat request is answered with a response of
// the same sequence number carrying the LMA's restart counter; the
// counter grows with every start (RFC 5847 5.2).
func TestHeartbeatAnswered(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.send(h.ap1, &mh.Heartbeat{Sequence: 77})
	r, ok := h.recv(h.ap1).(*mh.Heartbeat)
	if !ok || r.Sequence != 77 || r.Flags&mh.HeartbeatResponse == 0 {
		t.Fatalf("response %v", r)
	}
	if rc := opt[*mh.RestartCounter](t, r.Options); rc.Counter != 1 {
		t.Errorf("restart counter %d on first start", rc.Counter)
	}
	// Strangers are not peers.
	h.send(h.rog, &mh.Heartbeat{Sequence: 1})
	h.nothing(h.rog)

	h.stop()
	h.start()
	h.send(h.ap1, &mh.Heartbeat{Sequence: 78})
	r = h.recv(h.ap1).(*mh.Heartbeat)
	if rc := opt[*mh.RestartCounter](t, r.Options); rc.Counter != 2 {
		t.Errorf("restart counter %d after a restart", rc.Counter)
	}
}

// RFC 5847 5.3: the LMA probes each MAG with sessions every
// HEARTBEAT_INTERVAL; more than MISSING_HEARTBEATS_ALLOWED unanswered
// probes mark the MAG failed; an answer brings it back.
func TestHeartbeatProbing(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.register(h.ap1, h.newPBU("alice@example.net"))
	mag := func() MAGInfo {
		ms, _ := h.e.MAGs(context.Background())
		for _, m := range ms {
			if m.Name == "ap1" {
				return m
			}
		}
		t.Fatal("no ap1")
		return MAGInfo{}
	}
	var last *mh.Heartbeat
	for i := 0; i < 3; i++ {
		h.advance(60 * time.Second)
		req, ok := h.recv(h.ap1).(*mh.Heartbeat)
		if !ok || req.Flags&mh.HeartbeatResponse != 0 {
			t.Fatalf("probe %d: %v", i, req)
		}
		last = req
	}
	h.nothing(h.ap2) // no sessions at ap2: not probed
	if m := mag(); m.Heartbeat == "failed" || m.MissedHeartbeats != 2 {
		t.Fatalf("after 2 misses: %+v", m)
	}
	h.advance(60 * time.Second)
	last = h.recv(h.ap1).(*mh.Heartbeat)
	if m := mag(); m.Heartbeat != "failed" {
		t.Fatalf("after 3 misses (2 allowed): %+v", m)
	}
	h.send(h.ap1, &mh.Heartbeat{Flags: mh.HeartbeatResponse, Sequence: last.Sequence, Options: []mh.Option{&mh.RestartCounter{Counter: 5}}})
	h.sync()
	if m := mag(); m.Heartbeat != "up" || m.RestartCounter != 5 || !m.HasRestartCount {
		t.Fatalf("after an answer: %+v", m)
	}
	if c := h.e.Counters(); c.HeartbeatFailures != 1 {
		t.Errorf("counters %+v", c)
	}
}

// RFC 5847 5.2: a MAG whose restart counter changed has lost its
// sessions; the LMA removes them.
func TestMAGRestartDetected(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.send(h.ap1, &mh.Heartbeat{Sequence: 1, Options: []mh.Option{&mh.RestartCounter{Counter: 3}}})
	h.drain(h.ap1)
	h.register(h.ap1, h.newPBU("alice@example.net"))
	h.register(h.ap2, h.newPBU("bob@example.net"))
	h.send(h.ap1, &mh.Heartbeat{Sequence: 2, Options: []mh.Option{&mh.RestartCounter{Counter: 3}}})
	h.drain(h.ap1)
	if n := h.e.Counters().Bindings; n != 2 {
		t.Fatalf("same counter removed sessions: %d left", n)
	}
	h.send(h.ap1, &mh.Heartbeat{Sequence: 3, Options: []mh.Option{&mh.RestartCounter{Counter: 4}}})
	h.drain(h.ap1)
	bs, _ := h.e.Bindings(context.Background(), BindingFilter{})
	if len(bs) != 1 || bs[0].MAG != "ap2" {
		t.Fatalf("after ap1 restarted: %+v", bs)
	}
	if strings.Contains(h.dp.String(), tun1()) {
		t.Errorf("ap1's tunnel left:\n%s", h.dp.String())
	}
}

// RFC 5846 8.1: the operator revokes a mobile node: its sessions go at
// once and each MAG gets a BRI, retransmitted with backoff until a BRA
// with its sequence number arrives.
func TestRevocation(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	p := hnps(h.register(h.ap1, h.newPBU("alice@example.net")))[0]
	n, err := h.e.RevokeMobileNode(context.Background(), "alice@example.net")
	if err != nil || n != 1 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if got := h.state(); got != "pool hnp used 0\npool v4 used 0\n"+emptyDataplane {
		t.Errorf("after revocation:\n%s", got)
	}
	bri, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication)
	if !ok || bri.Trigger != mh.TriggerAdministrative || bri.Flags&mh.RevocationProxy == 0 {
		t.Fatalf("BRI %v", bri)
	}
	if id := opt[*mh.MobileNodeIdentifier](t, bri.Options); id.String() != "alice@example.net" {
		t.Errorf("BRI MN-ID %v", id)
	}
	if o := opt[*mh.HomeNetworkPrefix](t, bri.Options); o.Prefix != p {
		t.Errorf("BRI prefix %v", o.Prefix)
	}
	h.advance(InitialBRITimeout)
	again := h.recv(h.ap1).(*mh.BindingRevocationIndication)
	if again.Sequence != bri.Sequence {
		t.Errorf("retransmission sequence %d, want %d", again.Sequence, bri.Sequence)
	}
	// A BRA from another peer does not count.
	h.send(h.ap2, &mh.BindingRevocationAck{Sequence: bri.Sequence, Flags: mh.RevocationProxy})
	h.send(h.ap1, &mh.BindingRevocationAck{Sequence: bri.Sequence, Flags: mh.RevocationProxy})
	h.sync()
	h.advance(time.Hour)
	h.nothing(h.ap1)
	if c := h.e.Counters(); c.BRIsSent != 2 || c.BRAsReceived != 1 {
		t.Errorf("counters %+v", c)
	}
}

// RFC 5846: without a BRA the LMA gives up after
// BRIMaxRetransmissionNumber retransmissions.
func TestRevocationGivesUp(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.register(h.ap1, h.newPBU("alice@example.net"))
	h.e.RevokeMobileNode(context.Background(), "alice@example.net")
	h.sync()
	// Each retransmission arms the next timer from the engine's loop, so
	// time moves in steps.
	for range 20 {
		h.advance(time.Second)
	}
	if c := h.e.Counters(); c.BRIsSent != 1+BRIMaxRetransmissionNumber {
		t.Errorf("BRIs sent %d", c.BRIsSent)
	}
}

// Reload: a removed policy revokes its mobile nodes' sessions (RFC 5846
// 8.1); a new policy serves the next PBU; address changes need a restart.
func TestReload(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.register(h.ap1, h.newPBU("alice@example.net"))
	h.register(h.ap1, h.newPBU("printer@example.net", with(&mh.GREKey{HasKey: true, Key: 1})))
	h.register(h.ap1, h.newPBU("dave@v6.example.net", llid(mac2)))

	cfg := testCfg(t, true, "\nconfig policy 'guests'\n\toption match '*@guest.example.org'\n\toption prefix_pool 'hnp'\n")
	// Remove the policy of *@v6.example.net.
	for i, p := range cfg.Policies {
		if p.Name == "v6only" {
			cfg.Policies = append(cfg.Policies[:i], cfg.Policies[i+1:]...)
			break
		}
	}
	if err := h.e.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	h.sync()
	bs, _ := h.e.Bindings(context.Background(), BindingFilter{})
	if len(bs) != 2 {
		t.Fatalf("after reload: %+v", bs)
	}
	if bri, ok := h.recv(h.ap1).(*mh.BindingRevocationIndication); !ok || opt[*mh.MobileNodeIdentifier](t, bri.Options).String() != "dave@v6.example.net" {
		t.Fatalf("BRI %v", bri)
	}
	h.register(h.ap2, h.newPBU("eve@guest.example.org"))

	bad := cfg
	bad.StateDir = "/elsewhere"
	if err := h.e.Reload(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Errorf("state_dir change: %v", err)
	}
}

// Issue 3 "Nothing lost": a failed store write is never acknowledged as
// accepted; the binding goes again. Both ways the engine writes: a plain
// store and a Submitter.
func TestStoreFailureRefuses(t *testing.T) {
	for _, submitter := range []bool{false, true} {
		t.Run(fmt.Sprintf("submitter=%v", submitter), func(t *testing.T) {
			h := newHarnessWith(t, testCfg(t, true, ""), submitter)
			h.st.mu.Lock()
			h.st.fail = errDisk
			h.st.mu.Unlock()
			h.send(h.ap1, h.newPBU("alice@example.net"))
			if s := h.pba(h.ap1).Status; s != mh.StatusReasonUnspecified {
				t.Fatalf("status %v with a failing store", s)
			}
			h.sync()
			h.st.mu.Lock()
			h.st.fail = nil
			h.st.mu.Unlock()
			if got := h.state(); got != "pool hnp used 0\npool v4 used 0\n"+emptyDataplane {
				t.Errorf("state after a failed write:\n%s", got)
			}
			if h.e.Counters().StoreErrors == 0 {
				t.Error("store error not counted")
			}
		})
	}
}

// A failed data plane change is repaired: the engine hands the data plane
// its whole state again after resyncDelay.
func TestDataplaneResync(t *testing.T) {
	h := newHarness(t, testCfg(t, true, ""))
	h.dp.Kernel.Fail("route", errDisk)
	h.register(h.ap1, h.newPBU("alice@example.net"))
	if strings.Contains(h.dp.String(), "route") {
		t.Fatal("route applied despite the failure")
	}
	h.dp.Kernel.Fail("route", nil)
	h.advance(resyncDelay)
	if !strings.Contains(h.dp.String(), "route 2001:db8:100::/64 dev "+tun1()) {
		t.Fatalf("after the resync:\n%s", h.dp.String())
	}
	if h.e.Counters().DataplaneErrors != 1 {
		t.Errorf("counters %+v", h.e.Counters())
	}
}
