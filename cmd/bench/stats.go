package main

import (
	"math"
	"sort"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value such that at least p % of the
// samples are less than or equal to it. sorted must be in ascending order;
// an empty slice yields 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Summary is the digest of one target at one concurrency, over all rounds.
type Summary struct {
	Scenario    string          `json:"scenario"`
	Target      string          `json:"target"`
	Concurrency int             `json:"concurrency"`
	Rounds      int             `json:"rounds"`
	Requests    int             `json:"requests"`     // successful requests
	Errors      int             `json:"errors"`       // non-200, transport or body errors
	ErrorSample []string        `json:"error_sample"` // distinct error messages with counts
	Seconds     float64         `json:"seconds"`      // measured wall time, all rounds
	RPS         float64         `json:"rps"`          // Requests / Seconds
	RoundRPS    []float64       `json:"round_rps"`    // per round
	P50         time.Duration   `json:"p50_ns"`
	P90         time.Duration   `json:"p90_ns"`
	P99         time.Duration   `json:"p99_ns"`
	Max         time.Duration   `json:"max_ns"`
	TTFBP50     time.Duration   `json:"ttfb_p50_ns,omitempty"`
	TTFBP99     time.Duration   `json:"ttfb_p99_ns,omitempty"`
	Stream      bool            `json:"stream"`
	Failed      string          `json:"failed,omitempty"` // set when the target could not be measured
	raw         []time.Duration // merged latencies (not serialized)
}

// Summarize merges the rounds of one target at one concurrency. Latencies
// and TTFBs of successful requests are sorted in place.
func Summarize(scenario, target string, conc int, stream bool, runs []RunResult) Summary {
	s := Summary{Scenario: scenario, Target: target, Concurrency: conc, Rounds: len(runs), Stream: stream}
	var lat, ttfb []time.Duration
	errs := map[string]int{}
	var order []string
	for _, r := range runs {
		lat = append(lat, r.Latencies...)
		ttfb = append(ttfb, r.TTFB...)
		s.Errors += r.Errors
		s.Seconds += r.Elapsed.Seconds()
		s.RoundRPS = append(s.RoundRPS, rate(len(r.Latencies), r.Elapsed))
		for _, e := range r.ErrorOrder {
			if _, seen := errs[e]; !seen {
				order = append(order, e)
			}
			errs[e] += r.ErrorCounts[e]
		}
	}
	s.Requests = len(lat)
	if s.Seconds > 0 {
		s.RPS = float64(s.Requests) / s.Seconds
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(ttfb, func(i, j int) bool { return ttfb[i] < ttfb[j] })
	s.P50, s.P90, s.P99 = Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	if stream {
		s.TTFBP50, s.TTFBP99 = Percentile(ttfb, 50), Percentile(ttfb, 99)
	}
	for _, e := range order {
		s.ErrorSample = append(s.ErrorSample, formatErrCount(e, errs[e]))
	}
	s.raw = lat
	return s
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
