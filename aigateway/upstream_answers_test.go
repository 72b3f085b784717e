package aigateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/anthropic"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/gemini"
)

// scripted is an upstream whose every answer is the handler set last, so
// one gateway config serves a table of misbehaving upstreams.
type scripted struct {
	mu sync.Mutex
	h  http.HandlerFunc
}

func (s *scripted) set(h http.HandlerFunc) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h := s.h
	s.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	h(w, r)
}

// startScripted starts a scripted upstream and loads a gateway with one
// provider of each path's kind pointing at it: an OpenAI-format host
// (passthrough chat and embeddings), Anthropic (translated chat and
// count_tokens) and Gemini (translated embeddings).
func startScripted(t *testing.T, providerExtra string) (*env, *scripted, issued) {
	t.Helper()
	e := newEnv(t)
	up := &scripted{h: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	e.load(`		provider sopenai openai_compatible {
			base_url http://` + host + `/v1
			api_key ` + providerKey + `
` + providerExtra + `		}
		provider santhropic anthropic {
			base_url http://` + host + `/v1
			api_key ` + providerKey + `
` + providerExtra + `		}
		provider sgemini gemini {
			base_url http://` + host + `/v1beta
			api_key ` + providerKey + `
` + providerExtra + `		}
		model s-openai sopenai gpt-4o
		model s-openai-embed sopenai text-embedding-3-small
		model s-claude santhropic claude-sonnet-4-5
		model s-gemini-embed sgemini text-embedding-004`)
	return e, up, e.createKey(map[string]any{"name": "scripted"})
}

// scriptedPaths are the gateway paths a scripted upstream is reached by.
var scriptedPaths = []struct {
	name, path, body string
}{
	{"passthrough chat", "/v1/chat/completions", chatBody("s-openai", false)},
	{"passthrough stream", "/v1/chat/completions", chatBody("s-openai", true)},
	{"passthrough embeddings", "/v1/embeddings", `{"model":"s-openai-embed","input":"hello"}`},
	{"translated chat", "/v1/chat/completions", chatBody("s-claude", false)},
	{"translated stream", "/v1/chat/completions", chatBody("s-claude", true)},
	{"anthropic messages", "/v1/messages", `{"model":"s-claude","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}`},
	{"count_tokens", "/v1/messages/count_tokens", `{"model":"s-claude","messages":[{"role":"user","content":"hi"}]}`},
	{"translated embeddings", "/v1/embeddings", `{"model":"s-gemini-embed","input":"hello"}`},
}

// TestUpstreamRedirectIsUpstreamError has the upstream answer every call
// with a redirect to another host: the gateway must neither follow it (the
// provider's key would go along) nor pass it on (the client cannot follow
// it, and a 307 without Location is no answer): 502 upstream_error on every
// path, recorded as such.
func TestUpstreamRedirectIsUpstreamError(t *testing.T) {
	var stolen atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(elsewhere.Close)
	e, up, k := startScripted(t, "")
	for _, redirect := range []struct {
		name   string
		status int
		to     string
	}{
		{"307 elsewhere", http.StatusTemporaryRedirect, elsewhere.URL + "/steal"},
		{"307 without Location", http.StatusTemporaryRedirect, ""},
		{"302 elsewhere", http.StatusFound, elsewhere.URL + "/steal"},
		{"308 elsewhere", http.StatusPermanentRedirect, elsewhere.URL + "/steal"},
	} {
		up.set(func(w http.ResponseWriter, _ *http.Request) {
			if redirect.to != "" {
				w.Header().Set("Location", redirect.to)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(redirect.status)
			_, _ = io.WriteString(w, `{"error":{"message":"moved","type":"invalid_request_error"}}`)
		})
		for _, p := range scriptedPaths {
			t.Run(redirect.name+"/"+p.name, func(t *testing.T) {
				status, hdr, body := e.do("POST", p.path, k.Key, p.body)
				// 502 in the client's dialect: OpenAI's names the code,
				// Anthropic's (which has no code) says what happened.
				if status != http.StatusBadGateway || hdr.Get("Location") != "" ||
					!(strings.Contains(string(body), "upstream_error") || strings.Contains(string(body), "a redirect, which the gateway does not follow")) {
					t.Fatalf("status %d, Location %q, body %s", status, hdr.Get("Location"), body)
				}
			})
		}
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the gateway followed %d redirects to another host", n)
	}
	n := int64(4 * len(scriptedPaths))
	rep := e.usageOf("key_id="+k.ID+"&group_by=key", func(r usageReport) bool { return r.requests() >= n })
	if rep.requests() != n || rep.Groups[0].Errors != n {
		t.Fatalf("redirects not recorded as failures: %+v", rep)
	}
}

// TestPassthroughUnfinishedAnswers has an OpenAI-format upstream answer 200
// with something that is not a whole answer. Before the first byte is sent
// the client must get a 502 in its dialect; a stream, whose 200 went out
// with its first event, must end with the in-stream error event (as on the
// translated path), never with a silent stop. Each is recorded as failed;
// the whole answers alongside are not.
func TestPassthroughUnfinishedAnswers(t *testing.T) {
	e, up, k := startScripted(t, "")
	const chunk = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hel"},"finish_reason":null}]}` + "\n\n"
	const usageChunk = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}` + "\n\n"
	const answer = `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`
	answerWith := func(ct, body string, length int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ct)
			if length > 0 {
				w.Header().Set("Content-Length", itoa(length))
			}
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, body)
		}
	}
	failures := 0
	for _, tt := range []struct {
		name     string
		stream   bool
		upstream http.HandlerFunc
		ok       bool // a whole answer, passed on
	}{
		{"whole answer", false, answerWith("application/json", answer, 0), true},
		{"whole stream", true, answerWith("text/event-stream", chunk+usageChunk+"data: [DONE]\n\n", 0), true},
		{"stream without [DONE]", true, answerWith("text/event-stream", chunk+chunk, 0), false},
		{"stream with usage, without [DONE]", true, answerWith("text/event-stream", chunk+usageChunk, 0), false},
		{"empty stream", true, answerWith("text/event-stream", "", 0), false},
		{"truncated JSON", false, answerWith("application/json", answer[:len(answer)/2], 0), false},
		{"HTML page", false, answerWith("text/html", "<html><body>502 Bad Gateway</body></html>", 0), false},
		{"HTML page as JSON", false, answerWith("application/json", "<html><body>oops</body></html>", 0), false},
		{"JSON under an HTML type", false, answerWith("text/html", answer, 0), false},
		{"empty body", false, answerWith("application/json", "", 0), false},
		{"not an object", false, answerWith("application/json", `["x"]`, 0), false},
		{"connection cut mid-answer", false, answerWith("application/json", answer[:40], len(answer)), false},
		{"stream answered as HTML", true, answerWith("text/html", "<html>maintenance</html>", 0), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up.set(tt.upstream)
			if !tt.ok {
				failures++
			}
			status, hdr, body := e.do("POST", "/v1/chat/completions", k.Key, chatBody("s-openai", tt.stream))
			sse := strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream")
			switch {
			case tt.ok && tt.stream:
				if status != 200 || !strings.HasSuffix(string(body), "data: [DONE]\n\n") || strings.Contains(string(body), `"error"`) {
					t.Fatalf("a whole stream was not passed on: %d %s", status, body)
				}
			case tt.ok:
				// Byte for byte, but for the model, which names the public
				// model the client asked for.
				if want := strings.Replace(answer, `"model":"gpt-4o"`, `"model":"s-openai"`, 1); status != 200 || string(body) != want {
					t.Fatalf("a whole answer was not passed on: %d %s", status, body)
				}
			case sse:
				// The 200 went out with the stream: the error ends it.
				if status != 200 || strings.Contains(string(body), "[DONE]") ||
					!strings.HasSuffix(string(body), "\n\n") || !strings.Contains(string(body[strings.LastIndex(string(body), "data: "):]), `"upstream_error"`) {
					t.Fatalf("an unfinished stream did not end with the error event: %d %s", status, body)
				}
			default:
				if status != http.StatusBadGateway || errorCode(t, body) != "upstream_error" {
					t.Fatalf("status %d, body %s", status, body)
				}
			}
		})
	}
	rep := e.usageOf("key_id="+k.ID+"&group_by=key", func(r usageReport) bool { return r.requests() >= 13 })
	if rep.requests() != 13 || rep.Groups[0].Errors != int64(failures) {
		t.Fatalf("want %d failures recorded of 13: %+v", failures, rep)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
