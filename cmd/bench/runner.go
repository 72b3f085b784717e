package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// RunScenario checks every target once, then, at c=1 and at f.conc, warms
// each target up and runs f.rounds rounds of all targets in turn (A B A B),
// each for f.duration. A target whose check fails is reported as failed and
// not loaded.
func RunScenario(ctx context.Context, sc Scenario, f flags) ([]Summary, error) {
	failed := map[string]string{}
	for _, t := range sc.Targets {
		tr := newTransport(1)
		_, _, err := doOne(ctx, &http.Client{Transport: tr, Timeout: f.reqTimeout}, t.Req, make([]byte, 32<<10), new(bytes.Buffer))
		tr.CloseIdleConnections()
		if err != nil {
			failed[t.Name] = "sanity request failed: " + err.Error()
			logf("[%s] %s: %s", sc.Name, t.Name, failed[t.Name])
		}
	}
	var out []Summary
	for _, c := range []int{1, f.conc} {
		runs := map[string][]RunResult{}
		trs := map[string]*http.Transport{}
		for _, t := range sc.Targets {
			if failed[t.Name] != "" {
				continue
			}
			trs[t.Name] = newTransport(c)
			if f.warmup > 0 {
				RunLoad(ctx, trs[t.Name], t.Req, c, f.warmup, f.reqTimeout)
			}
		}
		for round := 1; round <= f.rounds; round++ {
			for _, t := range sc.Targets {
				if failed[t.Name] != "" {
					continue
				}
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				r := RunLoad(ctx, trs[t.Name], t.Req, c, f.duration, f.reqTimeout)
				runs[t.Name] = append(runs[t.Name], r)
				logf("[%s c=%d round %d/%d] %-13s %9s req/s  %d errors", sc.Name, c, round, f.rounds, t.Name,
					FormatRPS(rate(len(r.Latencies), r.Elapsed)), r.Errors)
				for _, e := range r.ErrorOrder {
					logf("    error: %s", formatErrCount(e, r.ErrorCounts[e]))
				}
			}
		}
		if f.profile && c == f.conc {
			for _, t := range sc.Targets {
				if failed[t.Name] == "" && t.ProfileURL != "" {
					profileTarget(ctx, sc.Name, t, trs[t.Name], c, f)
				}
			}
		}
		for _, t := range sc.Targets {
			if msg := failed[t.Name]; msg != "" {
				out = append(out, Summary{Scenario: sc.Name, Target: t.Name, Concurrency: c, Stream: t.Req.Stream, Failed: msg})
				continue
			}
			trs[t.Name].CloseIdleConnections()
			out = append(out, Summarize(sc.Name, t.Name, c, t.Req.Stream, runs[t.Name]))
		}
	}
	return out, nil
}

// profileTarget loads t for f.duration while the serving process records a
// CPU profile, and writes it to <out>/profile-<scenario>-<target>.pprof.
// The run is not part of the results: profiling costs a few percent.
func profileTarget(ctx context.Context, scenario string, t Target, tr *http.Transport, c int, f flags) {
	secs := max(1, int(f.duration.Seconds()))
	path := filepath.Join(f.outAbs, fmt.Sprintf("profile-%s-%s.pprof", scenario, t.Name))
	done := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s?seconds=%d", t.ProfileURL, secs), nil)
		if err != nil {
			done <- err
			return
		}
		resp, err := (&http.Client{Timeout: time.Duration(secs+30) * time.Second}).Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("%s: %s", t.ProfileURL, resp.Status)
			return
		}
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(path, b, 0o644)
		}
		done <- err
	}()
	r := RunLoad(ctx, tr, t.Req, c, time.Duration(secs)*time.Second+500*time.Millisecond, f.reqTimeout)
	if err := <-done; err != nil {
		logf("[%s c=%d profile] %s: %v", scenario, c, t.Name, err)
		return
	}
	logf("[%s c=%d profile] %-13s %9s req/s while profiling → %s", scenario, c, t.Name,
		FormatRPS(rate(len(r.Latencies), r.Elapsed)), path)
}
