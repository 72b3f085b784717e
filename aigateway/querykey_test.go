package aigateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestKeyInQueryStringIsRefused sends a key in the query string, to each
// dialect and to ai_auth: a 401 in the dialect's shape that says query keys
// are not accepted and names the dialect's header, never echoing the key,
// even when a good key is in the header too (the URL is in logs already,
// and ai_auth would hand the query on to the backend). A missing key's
// answer names the dialect's header as well.
func TestKeyInQueryStringIsRefused(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "query"})
	const (
		openaiHeader    = "'Authorization: Bearer <key>'"
		anthropicHeader = "'x-api-key: <key>'"
		inQuery         = "API keys in the query string are not accepted"
	)
	chat, messages := chatBody("gpt-test", false), `{"model":"gpt-test","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		anthropic                bool
		want                     string
	}{
		{"openai key=", "POST", "/v1/chat/completions?key=" + k.Key, chat, nil, false, inQuery},
		{"openai api_key=", "POST", "/v1/chat/completions?api_key=" + k.Key, chat, nil, false, inQuery},
		{"openai api-key=", "POST", "/v1/embeddings?api-key=" + k.Key, `{"model":"embed-test","input":"x"}`, nil, false, inQuery},
		{"openai apikey=", "GET", "/v1/models?apikey=" + k.Key, "", nil, false, inQuery},
		{"openai access_token=", "GET", "/v1/models?access_token=" + k.Key, "", nil, false, inQuery},
		{"openai API_KEY= with a good header", "POST", "/v1/chat/completions?API_KEY=" + k.Key, chat, []string{"Authorization", "Bearer " + k.Key}, false, inQuery},
		{"anthropic key=", "POST", "/v1/messages?key=" + k.Key, messages, nil, true, inQuery},
		{"anthropic x-api-key=", "POST", "/v1/messages?x-api-key=" + k.Key, messages, nil, true, inQuery},
		{"anthropic count_tokens api_key=", "POST", "/v1/messages/count_tokens?api_key=" + k.Key, messages, nil, true, inQuery},
		{"anthropic with a good header", "POST", "/v1/messages?apiKey=" + k.Key, messages, []string{"X-Api-Key", k.Key}, true, inQuery},
		{"ai_auth key=", "POST", "/proxied/v1/chat/completions?key=" + k.Key, chatBody("mock-gpt", false), nil, false, inQuery},
		{"ai_auth token= with a good header", "POST", "/proxied/v1/chat/completions?token=" + k.Key, chatBody("mock-gpt", false), []string{"Authorization", "Bearer " + k.Key}, false, inQuery},
		{"openai missing key", "POST", "/v1/chat/completions", chat, nil, false, "missing API key: send it as " + openaiHeader},
		{"anthropic missing key", "POST", "/v1/messages", messages, nil, true, "missing API key: send it as " + anthropicHeader},
		{"anthropic empty query key is a missing key", "POST", "/v1/messages?key=", messages, nil, true, "missing API key: send it as " + anthropicHeader},
	}
	e.mock.Reset()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, body := e.do(c.method, c.path, "", c.body, c.hdr...)
			if code != http.StatusUnauthorized || strings.Contains(string(body), k.Key) || strings.Contains(string(body), k.Key[len(k.Key)-12:]) {
				t.Fatalf("%d %s", code, body)
			}
			msg := ""
			if c.anthropic {
				var a struct {
					Type  string `json:"type"`
					Error struct {
						Type    string `json:"type"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &a); err != nil || a.Type != "error" || a.Error.Type != "authentication_error" {
					t.Fatalf("not an Anthropic authentication error: %s", body)
				}
				msg = a.Error.Message
			} else {
				if code := errorCode(t, body); code != "invalid_api_key" {
					t.Fatalf("code %q: %s", code, body)
				}
				var o struct {
					Error struct {
						Message string `json:"message"`
					} `json:"error"`
				}
				_ = json.Unmarshal(body, &o)
				msg = o.Error.Message
			}
			header := openaiHeader
			if c.anthropic {
				header = anthropicHeader
			}
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, header) {
				t.Fatalf("message %q, want %q and %s", msg, c.want, header)
			}
		})
	}
	if n := len(e.mock.Requests()); n != 0 {
		t.Fatalf("%d refused requests reached the upstream", n)
	}

	// Other query parameters are no keys: Azure's SDK sends api-version.
	for _, q := range []url.Values{{"api-version": {"2024-10-21"}}, {"keys": {"x"}}, {"monkey": {"x"}}} {
		if code, _, body := e.do("GET", "/v1/models?"+q.Encode(), k.Key, ""); code != http.StatusOK {
			t.Fatalf("?%s: %d %s", q.Encode(), code, body)
		}
	}
}
