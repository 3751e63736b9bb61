package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openpmip/pmip/internal/ctl"
	"github.com/openpmip/pmip/internal/mh"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func decode[T any](res json.RawMessage) (T, error) {
	var v T
	if err := json.Unmarshal(res, &v); err != nil {
		return v, fmt.Errorf("unexpected answer (is -socket a pmip-lma?): %w", err)
	}
	return v, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// until renders a deadline as time left, which is what an operator
// reading a table wants.
func until(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Until(t).Round(time.Second)
	if d < 0 {
		return "due"
	}
	return d.String()
}

func renderBindings(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.BindingsResult](res)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "ID\tMOBILE NODE\tMAG\tPROXY-COA\tTUNNEL\tHOME PREFIXES\tIPV4 HOA\tSTATE\tEXPIRES IN")
	for _, b := range r.Bindings {
		var hnps []string
		for _, p := range b.HomePrefixes {
			hnps = append(hnps, p.String())
		}
		hoa := "-"
		if b.IPv4HomeAddress.IsValid() {
			hoa = b.IPv4HomeAddress.String()
		}
		tun := b.Tunnel
		if b.GREDownlinkKey != nil || b.GREUplinkKey != nil {
			tun += " key " + keyText(b.GREUplinkKey) + "/" + keyText(b.GREDownlinkKey)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.MobileNode, b.MAG, b.ProxyCoA, dash(tun),
			dash(strings.Join(hnps, ",")), hoa, b.State, until(b.Expires))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	note := fmt.Sprintf("%d shown, %d in the binding cache", len(r.Bindings), r.Total)
	if r.Truncated {
		note += " (cut by -limit; -limit 0 shows all)"
	}
	_, err = fmt.Fprintln(w, note)
	return err
}

func keyText(k *uint32) string {
	if k == nil {
		return "-"
	}
	return strconv.FormatUint(uint64(*k), 10)
}

func renderPools(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.PoolsResult](res)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "POOL\tFAMILY\tPREFIX\tSIZE\tUSED\tFREE\tUSE")
	for _, p := range r.Pools {
		use := "-"
		if p.Size > 0 {
			use = fmt.Sprintf("%.1f%%", 100*float64(p.Used)/float64(p.Size))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", p.Name, p.Family, p.Prefix, p.Size, p.Used, p.Free, use)
	}
	return tw.Flush()
}

func renderMAGs(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.MAGsResult](res)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "MAG\tADDRESSES\tBINDINGS\tHEARTBEAT\tMISSED\tRESTART COUNTER\tLAST HEARD")
	for _, m := range r.MAGs {
		var addrs []string
		for _, a := range m.Addresses {
			addrs = append(addrs, a.String())
		}
		rc := "-"
		if m.RestartCounter != nil {
			rc = strconv.FormatUint(uint64(*m.RestartCounter), 10)
		}
		heard := "-"
		if !m.LastHeard.IsZero() {
			heard = time.Since(m.LastHeard).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", m.Name, strings.Join(addrs, ","), m.Bindings, m.Heartbeat,
			m.MissedHeartbeats, rc, heard)
	}
	return tw.Flush()
}

func renderCounters(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.Counters](res)
	if err != nil {
		return err
	}
	tw := table(w)
	fmt.Fprintf(tw, "restart_counter\t%d\n", r.RestartCounter)
	for _, k := range slices.Sorted(maps.Keys(r.Counters)) {
		fmt.Fprintf(tw, "%s\t%d\n", k, r.Counters[k])
	}
	statuses := slices.SortedFunc(maps.Keys(r.PBAsByStatus), func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	for _, s := range statuses {
		name := s
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < 256 {
			name = s + " " + mh.Status(n).String()
		}
		fmt.Fprintf(tw, "pba status %s\t%d\n", name, r.PBAsByStatus[s])
	}
	return tw.Flush()
}

func renderDataplane(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.DataplaneResult](res)
	if err != nil {
		return err
	}
	if r.Driver == "none" {
		_, err := fmt.Fprintln(w, "the daemon runs with -dataplane none: it keeps no tunnels or routes")
		return err
	}
	if r.State == "" {
		_, err := fmt.Fprintln(w, "no tunnels or routes")
		return err
	}
	_, err = fmt.Fprint(w, strings.TrimRight(r.State, "\n")+"\n")
	return err
}

func renderInfo(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.Info](res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s %s, control protocol %d\nmethods: %s\n", r.Daemon, dash(r.Build), r.Protocol, strings.Join(r.Methods, " "))
	return err
}

func renderRevoke(w io.Writer, res json.RawMessage) error {
	r, err := decode[ctl.RevokeResult](res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "revoked %d session(s)\n", r.Revoked)
	return err
}

// renderFlat prints a JSON object's fields as "name value" rows, sorted
// by name: for results whose shape pmipctl does not own (pmip-mag's
// hostapd monitor counters). Nested values are printed as JSON.
func renderFlat(w io.Writer, res json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(res, &obj); err != nil {
		return fmt.Errorf("decode result: %w", err)
	}
	tw := table(w)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := string(obj[k])
		var s string
		if json.Unmarshal(obj[k], &s) == nil {
			v = s
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	return tw.Flush()
}
