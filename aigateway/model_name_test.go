package aigateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway"
)

// TestAnswersNameThePublicModel sends requests for models published under
// another name than the upstream's, in each dialect, passed through and
// translated, JSON and streamed: every answer must name the public model
// (the upstream's name nowhere in the body) and carry the upstream's in
// the X-AI-Gateway-Upstream-Model header.
func TestAnswersNameThePublicModel(t *testing.T) {
	e := newEnv(t)
	e.loadTranslated()
	k := e.createKey(map[string]any{"name": "model-names"})
	const chat = `{"model":%q,"stream":%s,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name, path, public, upstream, body string
		stream                             bool
	}{
		{"chat passthrough JSON", "/v1/chat/completions", "gpt-test", "mock-gpt", "", false},
		{"chat passthrough stream", "/v1/chat/completions", "gpt-test", "mock-gpt", "", true},
		{"chat passthrough stream with usage", "/v1/chat/completions", "gpt-test", "mock-gpt",
			`{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
		{"embeddings passthrough", "/v1/embeddings", "embed-test", "mock-embedding", `{"model":"embed-test","input":["a","b"]}`, false},
		{"chat to an Anthropic upstream JSON", "/v1/chat/completions", "claude-test", "claude-sonnet-4-5", "", false},
		{"chat to an Anthropic upstream stream", "/v1/chat/completions", "claude-test", "claude-sonnet-4-5", "", true},
		{"embeddings translated (Cohere)", "/v1/embeddings", "cohere-embed", "embed-english-v3.0", `{"model":"cohere-embed","input":"a"}`, false},
		{"messages from an OpenAI upstream JSON", "/v1/messages", "gpt-test", "mock-gpt", "", false},
		{"messages from an OpenAI upstream stream", "/v1/messages", "gpt-test", "mock-gpt", "", true},
		{"messages to an Anthropic upstream stream", "/v1/messages", "claude-test", "claude-sonnet-4-5", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == "" {
				stream := "false"
				if tt.stream {
					stream = "true"
				}
				body = fmt.Sprintf(chat, tt.public, stream)
				if tt.path == "/v1/messages" {
					body = strings.Replace(body, `"stream"`, `"max_tokens":100,"stream"`, 1)
				}
			}
			code, hdr, got := e.do("POST", tt.path, k.Key, body)
			if code != 200 {
				t.Fatalf("%d %s", code, got)
			}
			if h := hdr.Values(aigateway.UpstreamModelHeader); len(h) != 1 || h[0] != tt.upstream {
				t.Errorf("%s: %q, want %q", aigateway.UpstreamModelHeader, h, tt.upstream)
			}
			if bytes.Contains(got, []byte(tt.upstream)) {
				t.Errorf("the answer names the upstream model %q:\n%s", tt.upstream, got)
			}
			var docs [][]byte
			if tt.stream {
				for _, line := range strings.Split(string(got), "\n") {
					if data, ok := strings.CutPrefix(line, "data:"); ok && strings.HasPrefix(strings.TrimSpace(data), "{") {
						docs = append(docs, []byte(strings.TrimSpace(data)))
					}
				}
			} else {
				docs = [][]byte{got}
			}
			named := 0
			for _, doc := range docs {
				var v struct {
					Model   *string `json:"model"`
					Message *struct {
						Model string `json:"model"`
					} `json:"message"`
				}
				if err := json.Unmarshal(doc, &v); err != nil {
					t.Fatalf("%v: %s", err, doc)
				}
				for _, m := range []*string{v.Model, func() *string {
					if v.Message == nil {
						return nil
					}
					return &v.Message.Model
				}()} {
					if m == nil {
						continue
					}
					named++
					if *m != tt.public {
						t.Errorf("model %q, want %q in %s", *m, tt.public, doc)
					}
				}
			}
			if named == 0 || (tt.stream && tt.path == "/v1/chat/completions" && named != len(docs)) {
				t.Errorf("%d of %d documents name a model:\n%s", named, len(docs), got)
			}
		})
	}
}
