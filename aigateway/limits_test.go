package aigateway_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRateLimitsThroughTheGateway: a key with rpm 3 gets three answers,
// then 429 rate_limit_exceeded with Retry-After, and OpenAI's
// x-ratelimit-* headers say so; max_parallel refuses the request over the
// limit; max_tokens caps what reaches the upstream.
func TestRateLimitsThroughTheGateway(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "rpm", "limits": map[string]any{"rpm": 3}})
	var remaining []string
	for i := 0; i < 3; i++ {
		code, hdr, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false))
		if code != 200 {
			t.Fatalf("request %d: %d %s", i+1, code, body)
		}
		if hdr.Get("X-Ratelimit-Limit-Requests") != "3" {
			t.Fatalf("x-ratelimit-limit-requests = %q", hdr.Get("X-Ratelimit-Limit-Requests"))
		}
		remaining = append(remaining, hdr.Get("X-Ratelimit-Remaining-Requests"))
	}
	if strings.Join(remaining, ",") != "2,1,0" {
		t.Fatalf("x-ratelimit-remaining-requests went %v, want 2,1,0", remaining)
	}
	code, hdr, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false))
	if code != 429 || errorCode(t, body) != "rate_limit_exceeded" {
		t.Fatalf("4th request: %d %s", code, body)
	}
	if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
		t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
	}
	if !regexp.MustCompile(`^(\d+h)?(\d+m)?\d+(ms|s)$`).MatchString(hdr.Get("X-Ratelimit-Reset-Requests")) {
		t.Fatalf("x-ratelimit-reset-requests %q", hdr.Get("X-Ratelimit-Reset-Requests"))
	}

	// max_parallel 1: while a slow stream holds the slot, a second request
	// is refused.
	e.load("\t\tprovider pausing openai_compatible {\n\t\t\tbase_url " + e.mockURL + "/v1\n\t\t\tapi_key " + providerKey + "\n\t\t\theader X-Mock-Chunk-Delay 100ms\n\t\t}\n\t\tmodel pausing-model pausing")
	p := e.createKey(map[string]any{"name": "parallel", "limits": map[string]any{"max_parallel": 1}})
	req, _ := http.NewRequest("POST", gatewayURL+"/v1/chat/completions", strings.NewReader(chatBody("pausing-model", true)))
	req.Header.Set("Authorization", "Bearer "+p.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body = e.do("POST", "/v1/chat/completions", p.Key, chatBody("gpt-test", false))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if code != 429 || !strings.Contains(string(body), "parallel") {
		t.Fatalf("second parallel request: %d %s", code, body)
	}
	if code, _, body := e.do("POST", "/v1/chat/completions", p.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatalf("after the first finished: %d %s", code, body)
	}

	// max_tokens 2: a request asking for 100 (or nothing) gets at most 2.
	c := e.createKey(map[string]any{"name": "cap", "limits": map[string]any{"max_tokens": 2}})
	for _, body := range []string{
		`{"model":"gpt-test","max_tokens":100,"messages":[{"role":"user","content":"a long answer please"}]}`,
		`{"model":"gpt-test","messages":[{"role":"user","content":"a long answer please"}]}`,
		`{"model":"gemini-test","max_completion_tokens":100,"messages":[{"role":"user","content":"a long answer please"}]}`,
	} {
		if strings.Contains(body, "gemini") {
			e.loadTranslated()
		}
		code, _, resp := e.do("POST", "/v1/chat/completions", c.Key, body)
		if code != 200 || !strings.Contains(string(resp), `"completion_tokens":2`) || !strings.Contains(string(resp), `"finish_reason":"length"`) {
			t.Fatalf("capped request %s: %d %s", body, code, resp)
		}
	}
}

// TestTPMLimit refuses a request whose worst case would exceed the tokens
// per minute, before it reaches the upstream.
func TestTPMLimit(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "tpm", "limits": map[string]any{"tpm": 100}})
	e.mock.Reset()
	code, hdr, body := e.do("POST", "/v1/chat/completions", k.Key, `{"model":"gpt-test","max_tokens":500,"messages":[{"role":"user","content":"x"}]}`)
	if code != 429 || errorCode(t, body) != "rate_limit_exceeded" || len(e.mock.Requests()) != 0 {
		t.Fatalf("request over tpm: %d %s", code, body)
	}
	code, hdr, body = e.do("POST", "/v1/chat/completions", k.Key, `{"model":"gpt-test","max_tokens":20,"messages":[{"role":"user","content":"x"}]}`)
	if code != 200 || hdr.Get("X-Ratelimit-Limit-Tokens") != "100" || hdr.Get("X-Ratelimit-Remaining-Tokens") == "" {
		t.Fatalf("request under tpm: %d %v %s", code, hdr, body)
	}
}
