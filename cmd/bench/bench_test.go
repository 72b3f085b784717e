package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Microsecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Microsecond}, {99, 99 * time.Microsecond}, {100, 100 * time.Microsecond}, {0, time.Microsecond}, {0.1, time.Microsecond}, {99.9, 100 * time.Microsecond}} {
		if got := Percentile(s, c.p); got != c.want {
			t.Errorf("Percentile(1..100 µs, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	one := []time.Duration{7}
	if Percentile(one, 50) != 7 || Percentile(one, 99) != 7 {
		t.Error("single sample")
	}
	// Nearest rank on an odd count: p50 of 1,2,3 is 2; p99 is 3.
	three := []time.Duration{1, 2, 3}
	if Percentile(three, 50) != 2 || Percentile(three, 99) != 3 {
		t.Errorf("three samples: %v %v", Percentile(three, 50), Percentile(three, 99))
	}
}

func TestSummarize(t *testing.T) {
	runs := []RunResult{
		{Latencies: []time.Duration{ms(3), ms(1)}, TTFB: []time.Duration{ms(0.5), ms(0.1)}, Elapsed: time.Second,
			Errors: 2, ErrorCounts: map[string]int{"status 502: x": 2}, ErrorOrder: []string{"status 502: x"}},
		{Latencies: []time.Duration{ms(2), ms(4)}, TTFB: []time.Duration{ms(0.3), ms(0.2)}, Elapsed: time.Second,
			Errors: 1, ErrorCounts: map[string]int{"status 502: x": 1}, ErrorOrder: []string{"status 502: x"}},
	}
	s := Summarize(SStream, TGateway, 32, true, runs)
	if s.Requests != 4 || s.Errors != 3 || s.RPS != 2 || s.P50 != ms(2) || s.P99 != ms(4) || s.Max != ms(4) {
		t.Fatalf("summary: %+v", s)
	}
	if s.TTFBP50 != ms(0.2) || s.TTFBP99 != ms(0.5) {
		t.Errorf("ttfb: %v %v", s.TTFBP50, s.TTFBP99)
	}
	if len(s.ErrorSample) != 1 || s.ErrorSample[0] != "3× status 502: x" || len(s.RoundRPS) != 2 {
		t.Errorf("errors %q rounds %v", s.ErrorSample, s.RoundRPS)
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		63 * time.Microsecond: "63 µs", ms(1.5): "1.50 ms", ms(73.125): "73.12 ms", 2 * time.Second: "2.00 s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for r, want := range map[float64]string{33.34: "33.3", 408: "408", 6336.4: "6,336", 1234567: "1,234,567"} {
		if got := FormatRPS(r); got != want {
			t.Errorf("FormatRPS(%v) = %q, want %q", r, got, want)
		}
	}
	for r, want := range map[float64]string{1.234: "1.23×", 0.8: "0.80×", 150.4: "150×", math.NaN(): "n/a", math.Inf(1): "n/a"} {
		if got := FormatRatio(r); got != want {
			t.Errorf("FormatRatio(%v) = %q, want %q", r, got, want)
		}
	}
	if FormatMicros(-22.4) != "-22 µs" || FormatMicros(41) != "+41 µs" || FormatMicros(math.NaN()) != "n/a" {
		t.Error("FormatMicros")
	}
	if FormatKB("24684100 kB") != "23.5 GiB" {
		t.Errorf("FormatKB: %q", FormatKB("24684100 kB"))
	}
}

func TestTable(t *testing.T) {
	sums := []Summary{
		{Target: TCaddy, Concurrency: 1, RPS: 4253, P50: 189 * time.Microsecond, P99: ms(1.91), TTFBP50: ms(0.3), TTFBP99: ms(1.8)},
		{Target: TPortkey, Concurrency: 1, Failed: "sanity request failed"},
	}
	got := Table(sums, false)
	want := "| target | c | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|---:|\n" +
		"| caddy | 1 | 4,253 | 189 µs | 1.91 ms | 0 |\n| portkey | 1 | FAILED | – | – | – |\n"
	if got != want {
		t.Errorf("Table:\n%s\nwant:\n%s", got, want)
	}
	st := Table(sums, true)
	if !strings.Contains(st, "| TTFB p50 | TTFB p99 |") || !strings.Contains(st, "| 300 µs | 1.80 ms | 0 |") {
		t.Errorf("stream table:\n%s", st)
	}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if n := strings.Count(line, "|"); n != 7 {
			t.Errorf("table row has %d pipes: %s", n, line)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(st), "\n") {
		if n := strings.Count(line, "|"); n != 9 {
			t.Errorf("stream table row has %d pipes: %s", n, line)
		}
	}
}

func TestJudge(t *testing.T) {
	cases := []struct {
		v, limit float64
		atLeast  bool
		want     string
	}{
		{1.0, 1.0, true, Pass}, {0.99, 1.0, true, Miss}, {12, 10, true, Pass},
		{30, 30, false, Pass}, {31, 30, false, Miss}, {-5, 30, false, Pass}, {math.NaN(), 1, true, Skip},
	}
	for _, c := range cases {
		if got := Judge(c.v, c.limit, c.atLeast); got != c.want {
			t.Errorf("Judge(%v, %v, %v) = %s, want %s", c.v, c.limit, c.atLeast, got, c.want)
		}
	}
}

func TestVerdicts(t *testing.T) {
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	sums := []Summary{
		{Scenario: SJSON, Target: TCaddy, Concurrency: 1, RPS: 4000, P50: us(200)},
		{Scenario: SJSON, Target: TGateway, Concurrency: 1, RPS: 4100, P50: us(220)},
		{Scenario: SJSON, Target: TAIAuth, Concurrency: 1, RPS: 3000, P50: us(260)},
		{Scenario: SJSON, Target: TCaddy, Concurrency: 32, RPS: 8000},
		{Scenario: SJSON, Target: TGateway, Concurrency: 32, RPS: 8800},
		{Scenario: SJSON, Target: TAIAuth, Concurrency: 32, RPS: 7000},
		{Scenario: SJSON, Target: TPortkey, Concurrency: 32, RPS: 800, Failed: ""},
		{Scenario: SXlat, Target: TCaddy, Concurrency: 32, RPS: 8000},
		{Scenario: SXlat, Target: TTranslation, Concurrency: 32, RPS: 6000},
		{Scenario: SStream, Target: TDirect, Concurrency: 1, TTFBP50: us(100)},
		{Scenario: SStream, Target: TGateway, Concurrency: 1, TTFBP50: us(1200)},
	}
	got := map[string]string{}
	for _, v := range Verdicts(NewIndex(sums), 32) {
		got[v.Target+": "+v.Check] = v.Status
		if !strings.HasPrefix(v.String(), v.Status+"  ") {
			t.Errorf("line %q", v.String())
		}
	}
	want := map[string]string{
		"gateway: throughput c=32 ≥ 1.0× Caddy reverse_proxy":                Pass, // 1.1×
		"gateway: throughput c=32 ≥ 10× Portkey":                             Pass, // 11×
		"gateway: added p50 at c=1 over Caddy ≤ +30 µs":                      Pass, // +20
		"ai_auth: throughput c=32 ≥ 1.0× Caddy reverse_proxy":                Miss, // 0.875×
		"ai_auth: throughput c=32 ≥ 10× Portkey":                             Miss, // 8.75×
		"ai_auth: added p50 at c=1 over Caddy ≤ +30 µs":                      Miss, // +60
		"gateway-xlat: throughput c=32 ≥ 0.8× Caddy reverse_proxy":           Miss, // 0.75×
		"gateway-xlat: throughput c=32 ≥ 10× Portkey (passthrough)":          Miss, // 7.5×
		"gateway-sse: first event: TTFB p50 − direct TTFB p50 at c=1 ≤ 1 ms": Miss, // +1100 µs
	}
	if len(got) != len(want) {
		t.Errorf("got %d verdicts, want %d: %v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	// Without Portkey, its checks are skipped, not failed.
	sums[6].Failed = "npm install failed"
	for _, v := range Verdicts(NewIndex(sums), 32) {
		if strings.Contains(v.Check, "Portkey") && v.Status != Skip {
			t.Errorf("%s %s: %s, want SKIP", v.Target, v.Check, v.Status)
		}
	}
}

func TestCheckBody(t *testing.T) {
	s := Request{Stream: true}
	if CheckBody(s, []byte("data: {}\n\ndata: [DONE]\n\n")) != nil {
		t.Error("complete stream rejected")
	}
	if CheckBody(s, []byte("data: {}\n\n")) == nil {
		t.Error("cut stream accepted")
	}
	j := Request{Want: `"choices"`}
	if CheckBody(j, []byte(`{"choices":[]}`)) != nil || CheckBody(j, []byte(`{"error":{}}`)) == nil {
		t.Error("json check")
	}
}

func TestDecidePinning(t *testing.T) {
	if p := DecidePinning(true, 2, "/usr/bin/taskset"); !p.Enabled || p.ServerCPU != "0" || p.LoadCPU != "1" {
		t.Errorf("2 CPUs: %+v", p)
	}
	for _, p := range []Pinning{DecidePinning(true, 1, "/usr/bin/taskset"), DecidePinning(true, 4, ""), DecidePinning(false, 4, "/usr/bin/taskset")} {
		if p.Enabled || !strings.Contains(p.Note, "off") && !strings.Contains(p.Note, "skipped") {
			t.Errorf("%+v", p)
		}
	}
}

func TestCaddyfiles(t *testing.T) {
	gw := GatewayCaddyfile(1, 2, 3, 4, "/tmp/store")
	for _, want := range []string{"admin 127.0.0.1:3", `store badger "/tmp/store"`, "provider mockanthropic anthropic",
		"base_url http://127.0.0.1:4/v1", "model claude-bench mockanthropic claude-3-5-haiku-latest", "ai_auth\n\treverse_proxy 127.0.0.1:4"} {
		if !strings.Contains(gw, want) {
			t.Errorf("gateway Caddyfile lacks %q:\n%s", want, gw)
		}
	}
	if p := PlainCaddyfile(5, 4); !strings.Contains(p, "reverse_proxy 127.0.0.1:4") || strings.Contains(p, "ai_") {
		t.Errorf("plain Caddyfile:\n%s", p)
	}
	if pk := PortkeyPackageJSON("1.15.2", "1.11.5"); !strings.Contains(pk, `"overrides": { "@hono/node-server": "1.11.5" }`) {
		t.Errorf("package.json:\n%s", pk)
	}
}

// TestVerdictJSONSkip checks a skipped verdict (NaN value) still encodes,
// as null, so a run without Portkey can write its results.
func TestVerdictJSONSkip(t *testing.T) {
	b, err := json.Marshal([]Verdict{{Target: "gateway", Check: "x", Value: math.NaN(), Status: Skip}, {Target: "g", Value: 1.5, Status: Pass}})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"value":null`) || !strings.Contains(s, `"value":1.5`) || !strings.Contains(s, `"status":"SKIP"`) {
		t.Fatalf("got %s", s)
	}
}
