package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// FormatDuration prints d in µs below 1 ms, in ms below 1 s, else in s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// FormatRPS prints a rate with thousands separators and no decimals
// (one decimal below 100).
func FormatRPS(r float64) string {
	if r < 100 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(math.Round(r)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FormatRatio prints a ratio as "1.05×", or "n/a" when it is undefined.
func FormatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "n/a"
	}
	if r >= 100 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// FormatMicros prints a signed difference in µs, e.g. "+12 µs".
func FormatMicros(us float64) string {
	if math.IsNaN(us) {
		return "n/a"
	}
	return fmt.Sprintf("%+.0f µs", us)
}

func formatErrCount(msg string, n int) string { return fmt.Sprintf("%d× %s", n, msg) }

// Table renders a markdown table of summaries (in the given order); TTFB
// columns appear when stream is set.
func Table(sums []Summary, stream bool) string {
	var b strings.Builder
	if stream {
		b.WriteString("| target | c | req/s | p50 | p99 | TTFB p50 | TTFB p99 | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	} else {
		b.WriteString("| target | c | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|---:|\n")
	}
	for _, s := range sums {
		if s.Failed != "" {
			cols := 3
			if stream {
				cols = 5
			}
			fmt.Fprintf(&b, "| %s | %d | FAILED%s |\n", s.Target, s.Concurrency, strings.Repeat(" | –", cols))
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |", s.Target, s.Concurrency, FormatRPS(s.RPS), FormatDuration(s.P50), FormatDuration(s.P99))
		if stream {
			fmt.Fprintf(&b, " %s | %s |", FormatDuration(s.TTFBP50), FormatDuration(s.TTFBP99))
		}
		fmt.Fprintf(&b, " %d |\n", s.Errors)
	}
	return b.String()
}
