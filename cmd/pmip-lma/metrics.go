package main

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/openpmip/pmip/internal/mh"
	"github.com/openpmip/pmip/lma"
	"github.com/openpmip/pmip/lma/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is what /metrics serves: the engine's counters and gauges read
// at scrape time (no double bookkeeping on the PBU path), two latency
// histograms fed as events happen, and the Go runtime's and process's
// own.
type metrics struct {
	reg         *prometheus.Registry
	pbuLatency  prometheus.Histogram
	storeCommit prometheus.Histogram
	reloads     *prometheus.CounterVec

	eng atomic.Pointer[lma.Engine]
	wal atomic.Pointer[store.WAL]
}

// Latency buckets: 25 µs to ~3.3 s, doubling; the target is p99 <= 5 ms.
var latencyBuckets = prometheus.ExponentialBuckets(25e-6, 2, 18)

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.pbuLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pmip_lma_pbu_processing_seconds",
		Help:    "Time from a Proxy Binding Update's arrival to its acknowledgement's departure, store commit included.",
		Buckets: latencyBuckets,
	})
	m.storeCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pmip_lma_store_commit_seconds",
		Help:    "Time from a store write's submission to its durability (group commit wait and fdatasync).",
		Buckets: latencyBuckets,
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pmip_lma_config_reloads_total",
		Help: "Configuration reloads (SIGHUP) by result: applied or refused.",
	}, []string{"result"})
	m.reloads.WithLabelValues("applied")
	m.reloads.WithLabelValues("refused")
	m.reg.MustRegister(m.pbuLatency, m.storeCommit, m.reloads, engineCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observePBU(d time.Duration) { m.pbuLatency.Observe(d.Seconds()) }

// attach gives the collector the engine and the store to read.
func (m *metrics) attach(e *lma.Engine, w *store.WAL) {
	m.eng.Store(e)
	m.wal.Store(w)
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descPBUs = prometheus.NewDesc("pmip_lma_pbus_received_total",
		"Proxy Binding Updates received.", nil, nil)
	descPBAs = prometheus.NewDesc("pmip_lma_pbas_sent_total",
		"Proxy Binding Acknowledgements sent, by status (RFC 5213 8.9; below 128 accepted).", []string{"status", "accepted"}, nil)
	descBindings = prometheus.NewDesc("pmip_lma_bindings",
		"Binding Cache entries (mobility sessions) now.", nil, nil)
	descEvents = prometheus.NewDesc("pmip_lma_session_events_total",
		"Mobility session events: created, refreshed, handoff, deregistered, expired, revoked.", []string{"event"}, nil)
	descDropped = prometheus.NewDesc("pmip_lma_messages_dropped_total",
		"Messages silently dropped, by reason: malformed (RFC 6275 9.2) or other (not for an LMA, truncated, unknown peer).", []string{"reason"}, nil)
	descErrors = prometheus.NewDesc("pmip_lma_errors_total",
		"Failures of the data plane (kernel) and of the store.", []string{"component"}, nil)
	descHeartbeats = prometheus.NewDesc("pmip_lma_heartbeat_messages_total",
		"Heartbeat messages (RFC 5847) by direction.", []string{"direction"}, nil)
	descHBFailures = prometheus.NewDesc("pmip_lma_heartbeat_failures_total",
		"MAGs declared unreachable after MISSING_HEARTBEATS_ALLOWED unanswered probes (RFC 5847 5.3).", nil, nil)
	descMAGRestarts = prometheus.NewDesc("pmip_lma_mag_restarts_total",
		"MAG restarts detected from a changed Restart Counter (RFC 5847 5.2).", nil, nil)
	descRevocation = prometheus.NewDesc("pmip_lma_revocation_messages_total",
		"Binding Revocation messages (RFC 5846): bri_sent, bra_received.", []string{"message"}, nil)
	descBindingErrors = prometheus.NewDesc("pmip_lma_binding_errors_total",
		"Binding Errors for Mobility Headers of unknown MH type (RFC 6275 9.2, status 2): sent, or rate_limited (RFC 6275 9.3.3).", []string{"result"}, nil)
	descResyncs = prometheus.NewDesc("pmip_lma_dataplane_resyncs_total",
		"Periodic whole data plane resynchronisations started (dataplane_resync_interval).", nil, nil)
	descPoolSize = prometheus.NewDesc("pmip_lma_pool_size",
		"Entries a pool can hand out (prefixes or IPv4 addresses).", []string{"pool", "family"}, nil)
	descPoolUsed = prometheus.NewDesc("pmip_lma_pool_used",
		"Entries of a pool in use.", []string{"pool", "family"}, nil)
	descStoreOps = prometheus.NewDesc("pmip_lma_store_operations_total",
		"Store operations acknowledged durable (put, delete) and group commits (commit, one fdatasync each).", []string{"op"}, nil)
	descStoreBytes = prometheus.NewDesc("pmip_lma_store_log_bytes_total",
		"Bytes appended to the write-ahead log.", nil, nil)
	descCompactions = prometheus.NewDesc("pmip_lma_store_compactions_total",
		"Store compactions by result.", []string{"result"}, nil)
	descSnapshot = prometheus.NewDesc("pmip_lma_store_snapshot_bytes",
		"Size of the store's current snapshot.", nil, nil)
	descSegments = prometheus.NewDesc("pmip_lma_store_segments",
		"Write-ahead log segment files on disk.", nil, nil)
)

// engineCollector reads the engine and the store at scrape time.
type engineCollector struct{ m *metrics }

// Describe sends nothing: the collector is unchecked, since the status
// and pool label values are only known at scrape time.
func (engineCollector) Describe(chan<- *prometheus.Desc) {}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	e := c.m.eng.Load()
	if e == nil {
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	k := e.Counters()
	counter(descPBUs, k.PBUs)
	// Status 0 always appears, so a dashboard's rate has a series from
	// the start.
	if _, ok := k.PBAsByStatus[mh.StatusAccepted]; !ok {
		k.PBAsByStatus[mh.StatusAccepted] = 0
	}
	for st, n := range k.PBAsByStatus {
		counter(descPBAs, n, strconv.Itoa(int(st)), strconv.FormatBool(st < 128))
	}
	gauge(descBindings, float64(k.Bindings))
	counter(descEvents, k.Created, "created")
	counter(descEvents, k.Refreshed, "refreshed")
	counter(descEvents, k.Handoffs, "handoff")
	counter(descEvents, k.Deregistrations, "deregistered")
	counter(descEvents, k.Expired, "expired")
	counter(descEvents, k.Revoked, "revoked")
	counter(descDropped, k.Malformed, "malformed")
	counter(descDropped, k.Dropped, "other")
	counter(descErrors, k.DataplaneErrors, "dataplane")
	counter(descErrors, k.StoreErrors, "store")
	counter(descHeartbeats, k.HeartbeatsReceived, "received")
	counter(descHeartbeats, k.HeartbeatsSent, "sent")
	counter(descHBFailures, k.HeartbeatFailures)
	counter(descMAGRestarts, k.MAGRestarts)
	counter(descRevocation, k.BRIsSent, "bri_sent")
	counter(descRevocation, k.BRAsReceived, "bra_received")
	counter(descBindingErrors, k.BindingErrors, "sent")
	counter(descBindingErrors, k.BindingErrorsLimited, "rate_limited")
	counter(descResyncs, k.DataplaneResyncs)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if pools, err := e.Pools(ctx); err == nil {
		for _, p := range pools {
			gauge(descPoolSize, float64(p.Size), p.Name, p.Family)
			gauge(descPoolUsed, float64(p.Used), p.Name, p.Family)
		}
	}
	if w := c.m.wal.Load(); w != nil {
		s := w.Stats()
		counter(descStoreOps, s.Puts, "put")
		counter(descStoreOps, s.Deletes, "delete")
		counter(descStoreOps, s.Commits, "commit")
		counter(descStoreBytes, s.LogBytes)
		counter(descCompactions, s.Compactions, "ok")
		counter(descCompactions, s.CompactionErrors, "error")
		gauge(descSnapshot, float64(s.SnapshotBytes))
		gauge(descSegments, float64(s.SegmentsOnDisk))
	}
}
