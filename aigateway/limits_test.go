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
	k := e.createKey(map[string]any{"name": "tpm", "limits": map[string]any{"tpm": 200}})
	e.mock.Reset()
	code, hdr, body := e.do("POST", "/v1/chat/completions", k.Key, `{"model":"gpt-test","max_tokens":500,"messages":[{"role":"user","content":"x"}]}`)
	if code != 429 || errorCode(t, body) != "rate_limit_exceeded" || len(e.mock.Requests()) != 0 {
		t.Fatalf("request over tpm: %d %s", code, body)
	}
	code, hdr, body = e.do("POST", "/v1/chat/completions", k.Key, `{"model":"gpt-test","max_tokens":20,"messages":[{"role":"user","content":"x"}]}`)
	if code != 200 || hdr.Get("X-Ratelimit-Limit-Tokens") != "200" || hdr.Get("X-Ratelimit-Remaining-Tokens") == "" {
		t.Fatalf("request under tpm: %d %v %s", code, hdr, body)
	}
}

// TestCompletionBoundFollowsTheReservation: under a budget or a token quota
// a chat request without max_tokens reaches the upstream with the
// completion its reservation assumed, so its answer cannot cost more than
// was reserved; one with its own max_tokens keeps it, and a key without
// such limits changes nothing. Requests that generate nothing (embeddings)
// never get a completion bound, not even from a key's max_tokens limit:
// through ai_gateway and through ai_auth.
func TestCompletionBoundFollowsTheReservation(t *testing.T) {
	e := newEnv(t)
	e.load(strings.ReplaceAll(pricedModel, "MOCKURL", e.mockURL))
	budgeted := e.createKey(map[string]any{"name": "budgeted", "limits": map[string]any{"budget_usd": 100000}})
	quota := e.createKey(map[string]any{"name": "quota", "limits": map[string]any{"token_quota": 1000000, "token_quota_period": "daily"}})
	capped := e.createKey(map[string]any{"name": "capped", "limits": map[string]any{"max_tokens": 2}})
	free := e.createKey(map[string]any{"name": "free"})

	tests := []struct {
		name, path, key, body string
		want                  string // the bound the upstream saw, "" for none
	}{
		{"budget, no bound", "/v1/chat/completions", budgeted.Key, `{"model":"priced","messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":4096`},
		{"budget, a stream", "/v1/chat/completions", budgeted.Key, `{"model":"priced","stream":true,"messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":4096`},
		{"budget, the client's bound", "/v1/chat/completions", budgeted.Key, `{"model":"priced","max_completion_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, `"max_completion_tokens":10`},
		{"quota, no bound", "/v1/chat/completions", quota.Key, `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":4096`},
		{"quota through ai_auth", "/proxied/v1/chat/completions", quota.Key, `{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":4096`},
		{"no budget or quota", "/v1/chat/completions", free.Key, `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`, ""},
		{"no budget or quota through ai_auth", "/proxied/v1/chat/completions", free.Key, `{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}`, ""},
		{"embeddings under a budget", "/v1/embeddings", quota.Key, `{"model":"embed-test","input":"hi"}`, ""},
		{"embeddings with a max_tokens limit", "/v1/embeddings", capped.Key, `{"model":"embed-test","input":"hi"}`, ""},
		{"embeddings with a max_tokens limit through ai_auth", "/proxied/v1/embeddings", capped.Key, `{"model":"mock-embedding","input":"hi"}`, ""},
		{"chat with a max_tokens limit through ai_auth", "/proxied/v1/chat/completions", capped.Key, `{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}]}`, `"max_tokens":2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.mock.Reset()
			code, _, body := e.do("POST", tt.path, tt.key, tt.body)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			reqs := e.mock.Requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream saw %d requests", len(reqs))
			}
			up := string(reqs[0].Body)
			switch {
			case tt.want == "" && (strings.Contains(up, `"max_tokens"`) || strings.Contains(up, `"max_completion_tokens"`)):
				t.Fatalf("upstream got a completion bound: %s", up)
			case tt.want != "" && !strings.Contains(up, tt.want):
				t.Fatalf("upstream body %s, want %s in it", up, tt.want)
			case strings.Count(up, "max_") > 1:
				t.Fatalf("upstream got two bounds: %s", up)
			}
		})
	}
}
