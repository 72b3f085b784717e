package providers

import (
	"net/http"
	"strings"
	"testing"
)

func TestScrubber(t *testing.T) {
	u := &Upstream{Key: "sk-provider-key-123456", HeaderVals: http.Header{
		"X-Custom-Auth":     {`tok"en\with<json>chars`},
		"X-Retries":         {"1"},
		"Anthropic-Version": {"2023-06-01-long-enough"},
	}}
	s := NewScrubber(append(u.Secrets(), "", "short"))
	for _, tt := range []struct{ name, in, want string }{
		{"key", "bad key sk-provider-key-123456 here", "bad key [redacted] here"},
		{"key inside a longer one first", "sk-provider-key-123456789", "[redacted]789"},
		{"header value", `h: tok"en\with<json>chars;`, "h: [redacted];"},
		{"header value as JSON escapes it", `{"m":"tok\"en\\with\u003cjson\u003echars"}`, `{"m":"[redacted]"}`},
		{"header value as JSON without HTML escapes", `{"m":"tok\"en\\with<json>chars"}`, `{"m":"[redacted]"}`},
		{"short values stay", "retries: 1, short", "retries: 1, short"},
		{"public headers stay", "version 2023-06-01-long-enough", "version 2023-06-01-long-enough"},
		{"nothing to scrub", "fine", "fine"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.String(tt.in); got != tt.want {
				t.Fatalf("String: %q, want %q", got, tt.want)
			}
			if got := string(s.Bytes([]byte(tt.in))); got != tt.want {
				t.Fatalf("Bytes: %q, want %q", got, tt.want)
			}
		})
	}
	e := s.Error(&Error{Message: "x sk-provider-key-123456", Param: "sk-provider-key-123456"})
	if strings.Contains(e.Message+e.Param, "sk-provider") {
		t.Fatalf("Error kept the key: %+v", e)
	}
	none := NewScrubber([]string{"", "1", "abc"})
	if none != nil || none.String("abc") != "abc" || string(none.Bytes([]byte("1"))) != "1" {
		t.Fatal("a scrubber of short values only must be nil and scrub nothing")
	}
}

func TestStatusErrorRedirect(t *testing.T) {
	for _, st := range []int{301, 302, 303, 304, 307, 308, 399, 600, 999} {
		h := http.Header{"Location": {"http://elsewhere/"}, "Retry-After": {"5"}}
		e := StatusError(&http.Response{StatusCode: st, Header: h}, "invalid_request_error", "secret upstream text")
		if e.Status != http.StatusBadGateway || e.Code != "upstream_error" || strings.Contains(e.Message, "secret") {
			t.Fatalf("%d: %+v", st, e)
		}
	}
}
