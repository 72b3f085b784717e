package aigateway_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// metricValue reads one sample from the admin endpoint's /metrics (Caddy
// serves its metrics registry there); 0 when absent.
func metricValue(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				match = false
			}
		}
		if match {
			f, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return f
		}
	}
	return 0
}

// TestMetricsMove scrapes Caddy's metrics endpoint before and after traffic
// and finds the gateway's counters moved.
func TestMetricsMove(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "metrics", "limits": map[string]any{"rpm": 2}})
	reqs := func() float64 {
		return metricValue(t, "caddy_ai_gateway_requests_total", `model="gpt-test"`, `provider="mock"`, `status="200"`)
	}
	tokens := func() float64 {
		return metricValue(t, "caddy_ai_gateway_tokens_total", `model="gpt-test"`, `kind="completion"`)
	}
	rejections := func() float64 {
		return metricValue(t, "caddy_ai_gateway_rejections_total", `reason="rate_limit_exceeded"`)
	}
	latency := func() float64 {
		return metricValue(t, "caddy_ai_gateway_upstream_duration_seconds_count", `provider="mock"`)
	}
	r0, t0, j0, l0 := reqs(), tokens(), rejections(), latency()
	for i := 0; i < 3; i++ {
		e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false))
	}
	e.usageOf("key_id="+k.ID, func(r usageReport) bool { return r.requests() >= 3 })
	if d := reqs() - r0; d != 2 {
		t.Errorf("requests_total moved by %v, want 2", d)
	}
	if d := tokens() - t0; d != 2*8 { // "mock reply to: say hello to the test"
		t.Errorf("completion tokens moved by %v, want 16", d)
	}
	if d := rejections() - j0; d != 1 {
		t.Errorf("rejections moved by %v, want 1", d)
	}
	if d := latency() - l0; d != 2 {
		t.Errorf("latency observations moved by %v, want 2", d)
	}
}
