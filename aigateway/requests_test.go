package aigateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBadInputGetsAClearError sends every kind of bad request and checks the
// status and the OpenAI error code; nothing may reach the upstream that
// should not, and no response may echo a key.
func TestBadInputGetsAClearError(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "bad-input", "models": []string{"gpt-test", "down-model", "slow-model", "broken-model", "badcreds-model", "nope"}})
	revoked := e.createKey(map[string]any{"name": "revoked"})
	e.admin("DELETE", "/ai_gateway/keys/"+revoked.ID, nil, 200, nil)
	flipped := []byte(k.Key)
	if flipped[20] == 'a' {
		flipped[20] = 'b'
	} else {
		flipped[20] = 'a'
	}
	big := `{"model":"gpt-test","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`

	tests := []struct {
		name     string
		method   string
		path     string
		key      string
		body     string
		hdr      []string
		status   int
		code     string
		upstream bool // whether the mock must see the request
	}{
		{"no key", "POST", "/v1/chat/completions", "", chatBody("gpt-test", false), nil, 401, "invalid_api_key", false},
		{"key in the query string", "POST", "/v1/chat/completions?key=" + k.Key + "&api_key=" + k.Key, "", chatBody("gpt-test", false), nil, 401, "invalid_api_key", false},
		{"unknown key", "POST", "/v1/chat/completions", "aigw_" + strings.Repeat("0", 49), chatBody("gpt-test", false), nil, 401, "invalid_api_key", false},
		{"bad checksum", "POST", "/v1/chat/completions", string(flipped), chatBody("gpt-test", false), nil, 401, "invalid_api_key", false},
		{"not a gateway key", "POST", "/v1/chat/completions", "sk-proj-abcdef", chatBody("gpt-test", false), nil, 401, "invalid_api_key", false},
		{"revoked key", "POST", "/v1/chat/completions", revoked.Key, chatBody("gpt-test", false), nil, 401, "invalid_api_key", false},
		{"malformed JSON", "POST", "/v1/chat/completions", k.Key, `{"model":"gpt-test",`, nil, 400, "invalid_json", false},
		{"JSON array", "POST", "/v1/chat/completions", k.Key, `[1,2]`, nil, 400, "invalid_json", false},
		{"wrong type", "POST", "/v1/chat/completions", k.Key, `{"model":42}`, nil, 400, "invalid_type", false},
		{"empty body", "POST", "/v1/chat/completions", k.Key, ``, nil, 400, "invalid_json", false},
		{"missing model", "POST", "/v1/chat/completions", k.Key, `{"messages":[]}`, nil, 400, "missing_model", false},
		{"unknown model", "POST", "/v1/chat/completions", k.Key, chatBody("nope", false), nil, 404, "model_not_found", false},
		{"model not allowed", "POST", "/v1/chat/completions", k.Key, chatBody("gpt-other", false), nil, 403, "model_not_allowed", false},
		{"form content type", "POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false), []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", false},
		{"body over the limit", "POST", "/small/v1/chat/completions", k.Key, big, nil, 413, "request_too_large", false},
		{"wrong method", "GET", "/v1/chat/completions", k.Key, "", nil, 405, "method_not_allowed", false},
		{"unknown endpoint", "POST", "/v1/fine_tuning/jobs", k.Key, chatBody("gpt-test", false), nil, 404, "unknown_url", false},
		{"unreachable upstream", "POST", "/v1/chat/completions", k.Key, chatBody("down-model", false), nil, 502, "upstream_error", false},
		{"upstream timeout", "POST", "/v1/chat/completions", k.Key, chatBody("slow-model", false), nil, 504, "upstream_timeout", true},
		{"upstream 500", "POST", "/v1/chat/completions", k.Key, chatBody("broken-model", false), nil, 502, "upstream_error", true},
		{"upstream rejects provider key", "POST", "/v1/chat/completions", k.Key, chatBody("badcreds-model", false), nil, 502, "upstream_auth_failed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.mock.Reset()
			code, _, body := e.do(tt.method, tt.path, tt.key, tt.body, tt.hdr...)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			if got := errorCode(t, body); got != tt.code {
				t.Fatalf("code %q, want %q: %s", got, tt.code, body)
			}
			for _, secret := range []string{k.Key, revoked.Key, providerKey, "wrong-provider-key"} {
				if strings.Contains(string(body), secret) || strings.Contains(string(body), secret[:12]) {
					t.Fatalf("error body leaks a secret: %s", body)
				}
			}
			if n := len(e.mock.Requests()); (n > 0) != tt.upstream {
				t.Fatalf("upstream saw %d requests, want upstream=%v", n, tt.upstream)
			}
		})
	}

	// Every authenticated request is in the usage report, errors counted
	// (the wrong method and the unknown endpoint are refused before the key
	// is read).
	rep := e.usageOf("key_id="+k.ID+"&group_by=key", func(r usageReport) bool { return r.requests() >= 13 })
	if len(rep.Groups) != 1 || rep.Groups[0].Requests != 13 || rep.Groups[0].Errors != 13 {
		t.Fatalf("usage of the failed requests: %+v", rep)
	}
}

// TestKeyHeaders checks every header a client SDK may put the key in.
func TestKeyHeaders(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "headers"})
	for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"} {
		value := k.Key
		if h == "Authorization" {
			value = "Bearer " + k.Key
		}
		req, _ := http.NewRequest("GET", gatewayURL+"/v1/models", nil)
		req.Header.Set(h, value)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("key in %s: status %d", h, resp.StatusCode)
		}
	}
}

// TestStreamIsFlushedPerEvent has the upstream pause between events; each
// event must reach the client while the upstream is still pausing, not when
// the stream ends.
func TestStreamIsFlushedPerEvent(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "flush"})
	for _, path := range []string{"/v1/chat/completions", "/proxied/v1/chat/completions"} {
		t.Run(path, func(t *testing.T) {
			const pause = 250 * time.Millisecond
			req, _ := http.NewRequest("POST", gatewayURL+path, strings.NewReader(chatBody("gpt-test", true)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+k.Key)
			req.Header.Set("X-Mock-Chunk-Delay", pause.String()) // reaches the mock through ai_auth + reverse_proxy only
			client := &http.Client{Timeout: 20 * time.Second}
			if path == "/v1/chat/completions" {
				// ai_gateway does not forward X-Mock-* headers: use a
				// provider whose config sets the delay.
				e.load("\t\tprovider pausing openai_compatible {\n\t\t\tbase_url " + e.mockURL + "/v1\n\t\t\tapi_key " + providerKey + "\n\t\t\theader X-Mock-Chunk-Delay 250ms\n\t\t}\n\t\tmodel pausing-model pausing")
				req, _ = http.NewRequest("POST", gatewayURL+path, strings.NewReader(chatBody("pausing-model", true)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+k.Key)
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "" {
				t.Fatalf("status %d, Content-Length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
			}
			sc := bufio.NewScanner(resp.Body)
			var arrivals []time.Duration
			var sawDone bool
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "data: ") {
					arrivals = append(arrivals, time.Since(start))
					if line == "data: [DONE]" {
						sawDone = true
					}
					if strings.Contains(line, `"choices":[]`) {
						t.Fatalf("usage-only chunk reached a client that did not ask for it: %s", line)
					}
				}
			}
			// 8 events (role, 6 words, finish) plus [DONE], with a pause
			// between each: the stream lasts at least 7 pauses.
			if len(arrivals) < 8 || !sawDone {
				t.Fatalf("got %d events, done=%v", len(arrivals), sawDone)
			}
			last := arrivals[len(arrivals)-1]
			if last < 7*pause {
				t.Fatalf("the upstream did not pause (stream took %v)", last)
			}
			// Each event but the last arrived at least one pause before the
			// next one: it was flushed, not held until the end.
			for i := 0; i < len(arrivals)-2; i++ {
				if arrivals[i+1]-arrivals[i] < pause/2 {
					t.Fatalf("events %d and %d arrived together (%v, %v): not flushed per event", i, i+1, arrivals[i], arrivals[i+1])
				}
			}
		})
	}
}

// TestClientDisconnectMidStream cuts a stream short: the usage is still
// recorded (with status 499 and the chunks streamed so far), the upstream
// request is cancelled, and no goroutine is left behind.
var disconnectPaths = []string{"/v1/chat/completions", "/proxied/v1/chat/completions"}

func TestClientDisconnectMidStream(t *testing.T) {
	e := newEnv(t)
	e.load("\t\tprovider pausing openai_compatible {\n\t\t\tbase_url " + e.mockURL + "/v1\n\t\t\tapi_key " + providerKey + "\n\t\t\theader X-Mock-Chunk-Delay 200ms\n\t\t}\n\t\tmodel pausing-model pausing")
	k := e.createKey(map[string]any{"name": "disconnect"})
	before := runtime.NumGoroutine()

	for _, path := range disconnectPaths {
		model := "pausing-model"
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", gatewayURL+path, strings.NewReader(chatBody(model, true)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+k.Key)
		if strings.HasPrefix(path, "/proxied") {
			req.Header.Set("X-Mock-Chunk-Delay", "200ms")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(resp.Body)
		events := 0
		for events < 3 {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if strings.HasPrefix(line, "data: ") {
				events++
			}
		}
		cancel()
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	// Both requests are recorded as client-closed, charged for what was streamed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rep := e.usage("key_id=" + k.ID + "&group_by=model")
		var reqs, errs, completion int64
		for _, g := range rep.Groups {
			reqs += g.Requests
			errs += g.Errors
			completion += g.CompletionTokens
		}
		if reqs == int64(len(disconnectPaths)) && errs == reqs && completion >= 2*reqs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage after disconnects: %+v", rep)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// No goroutine left behind: the count returns to where it was.
	http.DefaultClient.CloseIdleConnections()
	for {
		n := runtime.NumGoroutine()
		if n <= before+2 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStreamClosedAfterDoneIsComplete checks that a client closing its
// connection right after a passed-through stream's [DONE], while the
// upstream has not yet ended its response (which cancels the upstream
// read), is recorded as the complete 200 it was, with the upstream's usage,
// not as a 499.
func TestStreamClosedAfterDoneIsComplete(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`,
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`,
			`[DONE]`,
		} {
			_, _ = fmt.Fprintf(w, "data: %s\n\n", ev)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the response never ends on its own
	}))
	defer upstream.Close()

	e := newEnv(t)
	e.load(fmt.Sprintf("\t\tprovider lingering openai_compatible {\n\t\t\tbase_url %s/v1\n\t\t}\n\t\tmodel lingering-model lingering\n", upstream.URL))
	k := e.createKey(map[string]any{"name": "done"})
	for range 5 {
		req, _ := http.NewRequest("POST", gatewayURL+"/v1/chat/completions",
			strings.NewReader(`{"model":"lingering-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`))
		req.Header.Set("Authorization", "Bearer "+k.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() && sc.Text() != "data: [DONE]" {
		}
		resp.Body.Close() // as SDKs do on [DONE]
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	rep := e.usageOf("group_by=model", func(r usageReport) bool { return len(r.Groups) == 1 && r.Groups[0].Requests == 5 })
	if len(rep.Groups) != 1 || rep.Groups[0].Requests != 5 || rep.Groups[0].Errors != 0 ||
		rep.Groups[0].PromptTokens != 35 || rep.Groups[0].CompletionTokens != 15 {
		t.Fatalf("usage %+v: want 5 requests, no errors, the upstream's 7+3 tokens each", rep)
	}
}
