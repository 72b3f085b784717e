package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// captured is the last request an upstream stand-in received.
type captured struct {
	path, query string
	header      http.Header
	body        map[string]any
}

func captureServer(t *testing.T) (*httptest.Server, *captured) {
	t.Helper()
	c := &captured{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.path, c.query, c.header, c.body = r.URL.Path, r.URL.RawQuery, r.Header.Clone(), nil
		_ = json.Unmarshal(b, &c.body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

const toolHistory = `{"model":"m","seed":7,"logprobs":true,"metadata":{"a":"b"},"max_completion_tokens":50,"tool_choice":"required",
"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
"messages":[{"role":"user","name":"ann","content":"x"},
{"role":"assistant","tool_calls":[{"id":"call_abcdefghijklmnop","type":"function","function":{"name":"f","arguments":"{}"}}]},
{"role":"tool","tool_call_id":"call_abcdefghijklmnop","content":"r"}]}`

func TestPresets(t *testing.T) {
	srv, got := captureServer(t)
	req, err := DecodeChatRequest([]byte(toolHistory))
	if err != nil {
		t.Fatal(err)
	}
	provision := func(name string) *Preset {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		t.Cleanup(cancel)
		p := &Preset{name: name, Config: Config{Upstream: providers.Upstream{BaseURL: srv.URL + "/v1", APIKey: "k"}}}
		if err := p.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Mistral: only documented fields, its names, 9-character ids.
	if _, err := provision("mistral").Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b := got.body
	if b["random_seed"] != float64(7) || b["seed"] != nil || b["tool_choice"] != "any" || b["max_tokens"] != float64(50) ||
		b["max_completion_tokens"] != nil || b["logprobs"] != nil || b["metadata"] != nil {
		t.Errorf("mistral body: %v", b)
	}
	msgs := b["messages"].([]any)
	if _, named := msgs[0].(map[string]any)["name"]; named {
		t.Errorf("mistral got a message name: %v", msgs[0])
	}
	id := msgs[1].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)["id"].(string)
	if !regexp.MustCompile(`^[a-zA-Z0-9]{9}$`).MatchString(id) || msgs[2].(map[string]any)["tool_call_id"] != id {
		t.Errorf("mistral tool-call ids: %q and %v", id, msgs[2])
	}
	if provision("mistral").PassesThrough() {
		t.Error("mistral must be translated, never passed through")
	}

	// Groq: the fields it rejects are dropped, others kept.
	if _, err := provision("groq").Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got.body["logprobs"] != nil || got.body["metadata"] == nil || got.body["seed"] != float64(7) {
		t.Errorf("groq body: %v", got.body)
	}
	two := *req
	two.N = 2
	if _, err := provision("groq").Chat(context.Background(), &two); err == nil {
		t.Error("groq accepted n=2")
	}

	// A preset's default base URL applies when none is configured.
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	for name, ps := range presets {
		p := &Preset{name: name}
		if err := p.Provision(ctx); err != nil || p.URL != ps.baseURL {
			t.Errorf("%s: %v, base %q", name, err, p.URL)
		}
		if info := p.CaddyModule(); string(info.ID) != "ai_gateway.providers."+name {
			t.Errorf("%s registered as %s", name, info.ID)
		}
	}
}

func TestAzure(t *testing.T) {
	srv, got := captureServer(t)
	req, _ := DecodeChatRequest([]byte(`{"model":"my-deployment","messages":[{"role":"user","content":"x"}]}`))
	for _, tt := range []struct {
		version, path, query string
	}{
		{"", "/openai/v1/chat/completions", ""},
		{"2024-10-21", "/openai/deployments/my-deployment/chat/completions", "api-version=2024-10-21"},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		a := &Azure{APIVersion: tt.version, Config: Config{Upstream: providers.Upstream{BaseURL: srv.URL, APIKey: "azure-key"}}}
		if err := a.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Chat(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		resp, err := a.Send(context.Background(), &providers.Call{Operation: providers.OpChatCompletions, Model: "my-deployment", Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got.path != tt.path || got.query != tt.query || got.header.Get("Api-Key") != "azure-key" || got.header.Get("Authorization") != "" {
			t.Errorf("version %q: %s?%s api-key %q authorization %q", tt.version, got.path, got.query, got.header.Get("Api-Key"), got.header.Get("Authorization"))
		}
		cancel()
	}
	if err := (&Azure{}).Provision(caddy.Context{}); err == nil || !strings.Contains(err.Error(), "base_url") {
		t.Errorf("azure without base_url: %v", err)
	}
}
