package main

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Verdict statuses.
const (
	Pass = "PASS"
	Miss = "MISS"
	Skip = "SKIP" // a target it needs was not measured
)

// Verdict is one acceptance check from the issue.
type Verdict struct {
	Target string  `json:"target"`
	Check  string  `json:"check"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	Unit   string  `json:"unit"` // "x" (ratio) or "us"
	Status string  `json:"status"`
}

// MarshalJSON writes a value that could not be computed (NaN, which JSON
// cannot carry) as null.
func (v Verdict) MarshalJSON() ([]byte, error) {
	type plain Verdict
	out := struct {
		plain
		Value *float64 `json:"value"`
	}{plain: plain(v)}
	if !math.IsNaN(v.Value) {
		out.Value = &v.Value
	}
	return json.Marshal(out)
}

// String is the PASS/MISS line.
func (v Verdict) String() string {
	val := "n/a"
	if !math.IsNaN(v.Value) {
		if v.Unit == "x" {
			val = FormatRatio(v.Value)
		} else {
			val = FormatMicros(v.Value)
		}
	}
	return fmt.Sprintf("%s  %-13s %s: %s", v.Status, v.Target, v.Check, val)
}

// Judge returns PASS when value meets limit (≥ when atLeast, else ≤), SKIP
// when value is NaN.
func Judge(value, limit float64, atLeast bool) string {
	switch {
	case math.IsNaN(value):
		return Skip
	case atLeast && value >= limit, !atLeast && value <= limit:
		return Pass
	}
	return Miss
}

// Index finds summaries by scenario, target and concurrency.
type Index map[string]*Summary

// NewIndex indexes sums; failed targets are left out.
func NewIndex(sums []Summary) Index {
	ix := Index{}
	for i := range sums {
		if sums[i].Failed == "" {
			ix[key(sums[i].Scenario, sums[i].Target, sums[i].Concurrency)] = &sums[i]
		}
	}
	return ix
}

func key(s, t string, c int) string { return fmt.Sprintf("%s/%s/%d", s, t, c) }

// Get returns the summary or nil.
func (ix Index) Get(s, t string, c int) *Summary { return ix[key(s, t, c)] }

// RPSRatio is a's throughput over b's, NaN if either is missing.
func (ix Index) RPSRatio(sa, ta, sb, tb string, c int) float64 {
	a, b := ix.Get(sa, ta, c), ix.Get(sb, tb, c)
	if a == nil || b == nil || b.RPS == 0 {
		return math.NaN()
	}
	return a.RPS / b.RPS
}

// AddedP50 is a's p50 minus b's in µs (TTFB p50 when ttfb), NaN if missing.
func (ix Index) AddedP50(s, ta, tb string, c int, ttfb bool) float64 {
	a, b := ix.Get(s, ta, c), ix.Get(s, tb, c)
	if a == nil || b == nil {
		return math.NaN()
	}
	pa, pb := a.P50, b.P50
	if ttfb {
		pa, pb = a.TTFBP50, b.TTFBP50
	}
	return float64(pa-pb) / float64(time.Microsecond)
}

// Verdicts evaluates the targets; conc is the high concurrency
// used for throughput comparisons, c=1 for latency.
func Verdicts(ix Index, conc int) []Verdict {
	var vs []Verdict
	add := func(target, check string, value, limit float64, unit string, atLeast bool) {
		vs = append(vs, Verdict{Target: target, Check: check, Value: value, Limit: limit, Unit: unit, Status: Judge(value, limit, atLeast)})
	}
	for _, t := range []string{TGateway, TAIAuth} {
		add(t, fmt.Sprintf("throughput c=%d ≥ 1.0× Caddy reverse_proxy", conc), ix.RPSRatio(SJSON, t, SJSON, TCaddy, conc), 1.0, "x", true)
		add(t, fmt.Sprintf("throughput c=%d ≥ 10× Portkey", conc), ix.RPSRatio(SJSON, t, SJSON, TPortkey, conc), 10, "x", true)
		add(t, "added p50 at c=1 over Caddy ≤ +30 µs", ix.AddedP50(SJSON, t, TCaddy, 1, false), 30, "us", false)
	}
	add(TTranslation, fmt.Sprintf("throughput c=%d ≥ 0.8× Caddy reverse_proxy", conc), ix.RPSRatio(SXlat, TTranslation, SXlat, TCaddy, conc), 0.8, "x", true)
	add(TTranslation, fmt.Sprintf("throughput c=%d ≥ 10× Portkey (passthrough)", conc), ix.RPSRatio(SXlat, TTranslation, SJSON, TPortkey, conc), 10, "x", true)
	add(TGateway+"-sse", "first event: TTFB p50 − direct TTFB p50 at c=1 ≤ 1 ms", ix.AddedP50(SStream, TGateway, TDirect, 1, true), 1000, "us", false)
	return vs
}

// RatioLines are the comparison lines printed under a scenario's table.
func RatioLines(ix Index, scenario string, conc int) []string {
	var out []string
	cs := []int{1, conc}
	ratio := func(label, sa, ta, sb, tb string) {
		line := label + ":"
		seen := false
		for _, c := range cs {
			r := ix.RPSRatio(sa, ta, sb, tb, c)
			seen = seen || !math.IsNaN(r)
			line += fmt.Sprintf(" c=%d %s", c, FormatRatio(r))
		}
		if seen {
			out = append(out, line)
		}
	}
	added := func(label, s, ta, tb string, ttfb bool) {
		line := label + ":"
		seen := false
		for _, c := range cs {
			v := ix.AddedP50(s, ta, tb, c, ttfb)
			seen = seen || !math.IsNaN(v)
			line += fmt.Sprintf(" c=%d %s", c, FormatMicros(v))
		}
		if seen {
			out = append(out, line)
		}
	}
	switch scenario {
	case SJSON:
		for _, t := range []string{TGateway, TAIAuth} {
			ratio(t+" / caddy throughput", SJSON, t, SJSON, TCaddy)
			ratio(t+" / portkey throughput", SJSON, t, SJSON, TPortkey)
		}
		for _, t := range []string{TCaddy, TGateway, TAIAuth, TPortkey} {
			if t != TCaddy {
				added(t+" added p50 over caddy", SJSON, t, TCaddy, false)
			}
			added(t+" added p50 over direct", SJSON, t, TDirect, false)
		}
	case SXlat:
		ratio(TTranslation+" / caddy throughput", SXlat, TTranslation, SXlat, TCaddy)
		ratio(TTranslation+" / portkey (passthrough) throughput", SXlat, TTranslation, SJSON, TPortkey)
		added(TTranslation+" added p50 over caddy", SXlat, TTranslation, TCaddy, false)
	case SStream:
		ratio(TGateway+" / caddy throughput", SStream, TGateway, SStream, TCaddy)
		ratio(TGateway+" / portkey throughput", SStream, TGateway, SStream, TPortkey)
		for _, t := range []string{TCaddy, TGateway, TPortkey} {
			added(t+" TTFB p50 over direct", SStream, t, TDirect, true)
		}
		added(TGateway+" TTFB p50 over caddy", SStream, TGateway, TCaddy, true)
		added(TGateway+" last-event p50 over caddy", SStream, TGateway, TCaddy, false)
	}
	return out
}
