package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/internal/nstest"
)

// TestKill9 is issue 3's "Nothing lost": the real pmip-lma process is
// killed with SIGKILL at a random moment while a MAG registers mobile
// nodes, restarted, and must hold every binding it acknowledged with
// status 0 (same prefix, IPv4 address and MAG), none it acknowledged as
// deregistered, none whose lifetime ran out while it was down, and no
// pool entry twice; registrations after the restart get fresh addresses.
// The last round stops it with SIGTERM instead, which must lose nothing
// either.
//
// Tier 2 (host, root): -dataplane none, since this kernel has no ip6tnl.
// Tier 3 (QEMU guest, testing/qemu TestLMAKill9): -dataplane netlink, and
// the kernel's tunnels and routes must be exactly those of the recovered
// bindings after each restart.
//
//	[ns lma] pmip-lma 2001:db8:a::1 ── veth ── [ns mag] ap1 2001:db8:a::2
//	         state_dir, control.sock             ap2 2001:db8:a::3
//	                                             (raw MH sockets of this test)
func TestKill9(t *testing.T) { kill9(t) }

// TestKill9KernelDurability is TestKill9 with -durability kernel: a PBA
// leaves once its binding is written to the kernel, before fdatasync,
// which kill -9 must not lose either (the page cache outlives the
// process).
func TestKill9KernelDurability(t *testing.T) { kill9(t, "-durability", "kernel") }

func kill9(t *testing.T, extraArgs ...string) {
	nsL := nstest.New(t, "lma")
	nsM := nstest.New(t, "mag")
	nstest.Veth(t, nsL, "veth0", nsM, "veth1")
	nsL.Run(t, "ip", "addr", "add", "2001:db8:a::1/64", "dev", "veth0", "nodad")
	nsM.Run(t, "ip", "addr", "add", "2001:db8:a::2/64", "dev", "veth1", "nodad")
	nsM.Run(t, "ip", "addr", "add", "2001:db8:a::3/64", "dev", "veth1", "nodad")
	lmaAddr := netip.MustParseAddr("2001:db8:a::1")

	dir := t.TempDir()
	sock := filepath.Join(dir, "control.sock")
	conf := filepath.Join(dir, "lma.conf")
	// MinDelayBeforeBCEDelete of 1 ms: an acknowledged deregistration
	// must be gone after any restart.
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
config lma 'main'
	option address '2001:db8:a::1'
	option state_dir '%s'
	option control_socket '%s'
	option metrics_listen 'off'
	option timestamps '0'
	option heartbeat_interval '0'
	option min_delay_before_bce_delete '1'
	option log_level 'warn'
	option dataplane_resync_interval '10'

config mag 'ap1'
	list address '2001:db8:a::2'

config mag 'ap2'
	list address '2001:db8:a::3'

config pool 'hnp'
	option prefix '2001:db8:100::/48'
	option delegated_length '64'

config pool 'v4'
	option subnet '10.20.0.0/16'
	option default_router '10.20.0.1'

config policy 'all'
	option match '*@example.net'
	option prefix_pool 'hnp'
	option ipv4_pool 'v4'
`, filepath.Join(dir, "state"), sock)), 0o600); err != nil {
		t.Fatal(err)
	}
	dpMode := "none"
	if nstest.InVM() {
		dpMode = "netlink"
	}
	bin, env := lmaBinary(t)
	args := append([]string{"-config", conf, "-dataplane", dpMode}, extraArgs...)
	mags := []*testMAG{
		newTestMAG(t, nsM, "ap1", netip.MustParseAddr("2001:db8:a::2")),
		newTestMAG(t, nsM, "ap2", netip.MustParseAddr("2001:db8:a::3")),
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	w := &world{acked: map[string]held{}, sent: map[string]bool{}, shortLived: map[string]expiry{}, deregPending: map[string]bool{}}

	const rounds, perRound = 4, 400
	p := startLMA(t, nsL, bin, env, args, sock)
	for round := range rounds {
		last := round == rounds-1
		killAfter := int64(20 + rng.IntN(perRound-40))
		var acks atomic.Int64
		var kill sync.Once
		var killed atomic.Bool
		stopNow := func() {
			kill.Do(func() {
				killed.Store(true)
				if last {
					p.stop(t)
				} else {
					p.kill9(t)
				}
			})
		}
		// Registrations of new mobile nodes, deregistrations of some
		// registered in earlier rounds, and a few short lifetimes (4 s,
		// the least there is) that run out while the LMA is down.
		var jobs []job
		for i := range perRound {
			mn := fmt.Sprintf("r%d-n%d@example.net", round, i)
			life := time.Hour
			if i%25 == 0 {
				life = 4 * time.Second
			}
			jobs = append(jobs, job{mn: mn, mag: mags[i%2], seq: 1, lifetime: life})
		}
		for _, mn := range w.pickDeregs(rng, 20) {
			h := w.acked[mn]
			jobs = append(jobs, job{mn: mn, mag: magNamed(mags, h.mag), seq: h.seq + 1, lifetime: 0, hnp: h.hnp, hoa: h.hoa})
		}
		rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })

		// A window of 32 PBUs in flight, as a busy MAG would have.
		sem := make(chan struct{}, 32)
		var wg sync.WaitGroup
		for _, j := range jobs {
			if killed.Load() {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(j job) {
				defer wg.Done()
				defer func() { <-sem }()
				sentAt := time.Now()
				w.markSent(j)
				ch, err := j.mag.send(lmaAddr, j.mn, j.seq, j.lifetime, j.hnp, j.hoa)
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				select {
				case pba := <-ch:
					if pba.Status != mh.StatusAccepted {
						t.Errorf("%s seq %d: status %v", j.mn, j.seq, pba.Status)
						return
					}
					w.ack(t, j, pba, sentAt)
					if acks.Add(1) == killAfter {
						stopNow()
					}
				case <-time.After(3 * time.Second):
					// Lost with the process (or never read): not
					// acknowledged, so nothing is promised.
				}
			}(j)
		}
		wg.Wait()
		stopNow()
		t.Logf("round %d: %d acknowledged before the %s", round, acks.Load(), map[bool]string{true: "SIGTERM", false: "SIGKILL"}[last])

		p = startLMA(t, nsL, bin, env, args, sock)
		asked := time.Now()
		b, pools, dp := snapshot(t, sock)
		w.check(t, round, asked, b, pools, dp, dpMode)
		if t.Failed() {
			return
		}
	}
	if dpMode == "netlink" {
		repairedByResync(t, nsL, sock, rounds)
	}
	p.stop(t)
}

// repairedByResync deletes a route of the running LMA by hand and expects
// the periodic resynchronisation (dataplane_resync_interval 10 s) to put
// it back, the kernel again exactly what the bindings need.
func repairedByResync(t *testing.T, ns *nstest.NS, sock string, round int) {
	t.Helper()
	_, _, dp := snapshot(t, sock)
	var dst string
	for _, l := range strings.Split(dp.State, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[0] == "route" && f[2] == "dev" {
			dst = f[1]
			break
		}
	}
	if dst == "" {
		t.Fatalf("no route in the kernel:\n%s", dp.State)
	}
	ns.Run(t, "ip", "route", "del", dst)
	t0 := time.Now()
	for time.Since(t0) < 45*time.Second {
		time.Sleep(time.Second)
		b, _, dp := snapshot(t, sock)
		if strings.Contains(dp.State, "route "+dst+" ") {
			t.Logf("route %s deleted by hand came back after %v", dst, time.Since(t0).Round(time.Second))
			checkKernel(t, round, b, dp)
			return
		}
	}
	t.Errorf("route %s deleted by hand did not come back within 45 s (dataplane_resync_interval 10 s)", dst)
}

type job struct {
	mn       string
	mag      *testMAG
	seq      uint16
	lifetime time.Duration
	// hnp and hoa a deregistration names (RFC 5213 6.9.1.3: the
	// prefixes and address of the session); zero asks for new ones.
	hnp, hoa netip.Prefix
}

func magNamed(mags []*testMAG, name string) *testMAG {
	for _, m := range mags {
		if m.name == name {
			return m
		}
	}
	panic("no MAG " + name)
}

// held is what an acknowledged registration promised.
type held struct {
	hnp  netip.Prefix
	hoa  netip.Prefix
	mag  string
	seq  uint16
	life time.Duration
}

// world is what the MAGs were told.
type world struct {
	mu sync.Mutex
	// acked: mobile nodes with an acknowledged registration and no
	// acknowledged deregistration since.
	acked map[string]held
	// sent: every mobile node a PBU went out for (an unacknowledged one
	// may or may not have been stored).
	sent map[string]bool
	// deregistered: acknowledged deregistrations.
	deregistered []string
	// shortLived: acknowledged 4 s registrations and when they expire.
	shortLived map[string]expiry
	// deregPending: deregistrations sent this round; until answered the
	// session may be gone (and its entries handed out again) or not.
	deregPending map[string]bool
}

// expiry brackets when the LMA ends a short-lived binding: its lifetime
// runs from when the LMA processed the PBU, which was after the PBU was
// sent and before its PBA arrived. On a loaded host the two can be far
// apart (a store write, a stalled reader), so the test must not assume
// either.
type expiry struct {
	from time.Time // the PBU's sending + lifetime: held until then
	by   time.Time // the PBA's arrival + lifetime: due to go by then
}

// expiryGrace is how long after it is due the LMA may still show an
// expired binding: its expiry timer, and the store write that removes
// the binding, can be late on a loaded host. A binding it misses here is
// checked again after the next round.
const expiryGrace = 3 * time.Second

// live reports whether h of mn must still be held by the LMA at now:
// neither possibly expired nor being deregistered.
func (w *world) live(mn string, now time.Time) bool {
	if e, short := w.shortLived[mn]; short && !now.Before(e.from) {
		return false
	}
	return !w.deregPending[mn]
}

func (w *world) markSent(j job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent[j.mn] = true
	if j.lifetime == 0 {
		w.deregPending[j.mn] = true
	}
}

func (w *world) ack(t *testing.T, j job, pba *mh.ProxyBindingAck, sentAt time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j.lifetime == 0 {
		delete(w.acked, j.mn)
		w.deregistered = append(w.deregistered, j.mn)
		return
	}
	h := held{mag: j.mag.name, seq: j.seq, life: j.lifetime}
	if o, ok := mh.FirstOption[*mh.HomeNetworkPrefix](pba.Options); ok {
		h.hnp = o.Prefix
	}
	if o, ok := mh.FirstOption[*mh.IPv4HomeAddressReply](pba.Options); ok {
		h.hoa = o.Prefix
	}
	if !h.hnp.IsValid() || !h.hoa.IsValid() {
		t.Errorf("%s: PBA without prefix or IPv4 address: %v", j.mn, pba)
	}
	// Fresh addresses: nothing acknowledged to a live registration may be
	// handed to another one (pools must not give an entry out twice,
	// also across restarts).
	now := time.Now()
	for mn, o := range w.acked {
		if !w.live(mn, now) {
			continue
		}
		if o.hnp == h.hnp || o.hoa.Addr() == h.hoa.Addr() {
			t.Errorf("%s got %s %s, already held by %s (%s %s)", j.mn, h.hnp, h.hoa, mn, o.hnp, o.hoa)
		}
	}
	w.acked[j.mn] = h
	if j.lifetime < time.Minute {
		// The lifetime the LMA granted, the PBA's, runs from when it
		// processed the PBU.
		w.shortLived[j.mn] = expiry{from: sentAt.Add(pba.Lifetime), by: now.Add(pba.Lifetime)}
	}
}

// pickDeregs chooses up to n registered long-lived mobile nodes to
// deregister.
func (w *world) pickDeregs(rng *rand.Rand, n int) []string {
	var all []string
	for mn, h := range w.acked {
		if h.life >= time.Minute {
			all = append(all, mn)
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(n, len(all))]
}

// check compares the restarted LMA's state with what was acknowledged;
// asked is when the snapshot began (it describes a moment after that).
func (w *world) check(t *testing.T, round int, asked time.Time, b ctl.BindingsResult, pools ctl.PoolsResult, dp ctl.DataplaneResult, dpMode string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	got := map[string]ctl.Binding{}
	hnps := map[netip.Prefix]string{}
	hoas := map[netip.Addr]string{}
	for _, x := range b.Bindings {
		if _, dup := got[x.MobileNode]; dup {
			t.Errorf("round %d: %s has two bindings", round, x.MobileNode)
		}
		got[x.MobileNode] = x
		if !w.sent[x.MobileNode] {
			t.Errorf("round %d: binding of %s, for which no PBU was ever sent", round, x.MobileNode)
		}
		if x.State != "active" {
			t.Errorf("round %d: %s is %s after a restart (MinDelayBeforeBCEDelete is 1 ms)", round, x.MobileNode, x.State)
		}
		for _, p := range x.HomePrefixes {
			if o, dup := hnps[p]; dup {
				t.Errorf("round %d: prefix %s held by %s and %s", round, p, o, x.MobileNode)
			}
			hnps[p] = x.MobileNode
		}
		if x.IPv4HomeAddress.IsValid() {
			a := x.IPv4HomeAddress.Addr()
			if o, dup := hoas[a]; dup {
				t.Errorf("round %d: address %s held by %s and %s", round, a, o, x.MobileNode)
			}
			hoas[a] = x.MobileNode
		}
		if e, short := w.shortLived[x.MobileNode]; short && asked.After(e.by.Add(expiryGrace)) {
			t.Errorf("round %d: %s expired by %v but is still there at %v", round, x.MobileNode, e.by, asked)
		}
	}
	kept := 0
	for mn, h := range w.acked {
		x, ok := got[mn]
		if !ok {
			if !w.live(mn, now) {
				// Expired, or its deregistration went out unanswered:
				// gone is right.
				delete(w.acked, mn)
				continue
			}
			t.Errorf("round %d: acknowledged binding of %s (%s %s via %s) lost", round, mn, h.hnp, h.hoa, h.mag)
			continue
		}
		kept++
		if len(x.HomePrefixes) != 1 || x.HomePrefixes[0] != h.hnp || x.IPv4HomeAddress != h.hoa || x.MAG != h.mag {
			t.Errorf("round %d: %s came back as %v %s via %s, was acknowledged %s %s via %s",
				round, mn, x.HomePrefixes, x.IPv4HomeAddress, x.MAG, h.hnp, h.hoa, h.mag)
		}
	}
	for _, mn := range w.deregistered {
		if _, ok := got[mn]; ok {
			t.Errorf("round %d: %s's deregistration was acknowledged, yet its binding is back", round, mn)
		}
	}
	// Unacknowledged registrations that were stored anyway are fine, but
	// their entries count in the pools like any other.
	for _, p := range pools.Pools {
		if p.Used != uint64(len(b.Bindings)) {
			t.Errorf("round %d: pool %s uses %d entries for %d bindings", round, p.Name, p.Used, len(b.Bindings))
		}
	}
	t.Logf("round %d: after restart %d bindings: %d acknowledged kept, %d stored unacknowledged, %d deregistrations gone",
		round, len(b.Bindings), kept, len(b.Bindings)-kept, len(w.deregistered))
	// A mobile node stored but not acknowledged is adopted: the MAG would
	// retransmit and be answered from it.
	for mn, x := range got {
		if _, ok := w.acked[mn]; !ok && len(x.HomePrefixes) == 1 && x.IPv4HomeAddress.IsValid() {
			w.acked[mn] = held{hnp: x.HomePrefixes[0], hoa: x.IPv4HomeAddress, mag: x.MAG, seq: 1, life: time.Duration(x.Lifetime)}
			if time.Duration(x.Lifetime) < time.Minute {
				w.shortLived[mn] = expiry{from: x.Expires, by: x.Expires}
			}
		}
	}
	clear(w.deregPending)
	if dpMode == "netlink" {
		checkKernel(t, round, b, dp)
	}
}

// checkKernel compares the kernel's tunnels and routes with the bindings:
// a route for every home prefix and IPv4 home address into a tunnel whose
// remote end is the binding's MAG, one tunnel per MAG in use, nothing
// else; and the uplink check of RFC 5213 5.6.2: every tunnel in the
// filter, each route's destination allowed as a source on its tunnel
// and nowhere else.
func checkKernel(t *testing.T, round int, b ctl.BindingsResult, dp ctl.DataplaneResult) {
	t.Helper()
	remote := map[string]netip.Addr{} // tunnel name -> remote
	routes := map[netip.Prefix]string{}
	checked := map[string]bool{}           // tunnels in the filter
	sources := map[netip.Prefix][]string{} // allowed source -> tunnels
	for _, l := range strings.Split(strings.TrimSpace(dp.State), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 7 && f[0] == "tunnel" && f[3] == "local" && f[5] == "remote":
			remote[f[1]] = netip.MustParseAddr(f[6])
		case len(f) >= 4 && f[0] == "route" && f[2] == "dev":
			routes[netip.MustParsePrefix(f[1])] = f[3]
		case l == "filter table":
		case len(f) == 3 && f[0] == "filter" && f[1] == "tunnel":
			checked[f[2]] = true
		case len(f) == 4 && f[0] == "filter" && f[1] == "tunnel-source":
			p := netip.MustParsePrefix(f[3])
			sources[p] = append(sources[p], f[2])
		case l == "":
		default:
			t.Errorf("round %d: unexpected kernel object: %s", round, l)
		}
	}
	used := map[string]bool{}
	want := 0
	for _, x := range b.Bindings {
		dsts := append([]netip.Prefix{}, x.HomePrefixes...)
		if x.IPv4HomeAddress.IsValid() {
			dsts = append(dsts, netip.PrefixFrom(x.IPv4HomeAddress.Addr(), 32))
		}
		for _, d := range dsts {
			want++
			dev, ok := routes[d]
			if !ok {
				t.Errorf("round %d: no route for %s of %s", round, d, x.MobileNode)
				continue
			}
			used[dev] = true
			if remote[dev] != x.ProxyCoA {
				t.Errorf("round %d: route %s of %s goes into %s towards %s, its MAG is %s", round, d, x.MobileNode, dev, remote[dev], x.ProxyCoA)
			}
		}
	}
	if len(routes) != want {
		t.Errorf("round %d: %d routes in the kernel for %d expected (stale ones?)", round, len(routes), want)
	}
	for name := range remote {
		if !used[name] {
			t.Errorf("round %d: tunnel %s carries no binding (stale)", round, name)
		}
		if !checked[name] {
			t.Errorf("round %d: tunnel %s is not in the uplink filter", round, name)
		}
	}
	for name := range checked {
		if _, ok := remote[name]; !ok {
			t.Errorf("round %d: the uplink filter names %s, no tunnel of ours (stale)", round, name)
		}
	}
	for d, dev := range routes {
		if s := sources[d]; len(s) != 1 || s[0] != dev {
			t.Errorf("round %d: source %s allowed on %v, its route goes into %s", round, d, s, dev)
		}
	}
	if len(sources) != len(routes) {
		t.Errorf("round %d: %d allowed sources for %d routes (stale ones?)", round, len(sources), len(routes))
	}
}
