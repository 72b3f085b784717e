package main

import (
	"bytes"
	"context"
	"net/http"
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
