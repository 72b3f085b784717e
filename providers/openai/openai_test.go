package openai

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func provisioned(t *testing.T, c Config) *Compatible {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	p := &Compatible{Config: c}
	if err := p.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p
}

func TestSendBuildsTheUpstreamRequest(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r.Clone(context.Background()), string(b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	t.Setenv("TEST_UPSTREAM_KEY", "sk-from-env")
	p := provisioned(t, Config{Upstream: providers.Upstream{
		BaseURL: srv.URL + "/v1/",
		APIKey:  "{env.TEST_UPSTREAM_KEY}",
		Headers: http.Header{"X-Org": {"acme"}},
	}})
	for _, tt := range []struct {
		op     providers.Operation
		stream bool
		path   string
		accept string
	}{
		{providers.OpChatCompletions, false, "/v1/chat/completions", "application/json"},
		{providers.OpChatCompletions, true, "/v1/chat/completions", "text/event-stream"},
		{providers.OpEmbeddings, false, "/v1/embeddings", "application/json"},
	} {
		resp, err := p.Send(context.Background(), &providers.Call{
			Operation: tt.op, Body: []byte(`{"model":"m"}`), Stream: tt.stream,
			Header: http.Header{"Openai-Beta": {"assistants=v2"}, "Authorization": {"Bearer must-be-replaced"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case got.URL.Path != tt.path:
			t.Errorf("path %q, want %q", got.URL.Path, tt.path)
		case got.Header.Get("Authorization") != "Bearer sk-from-env":
			t.Errorf("Authorization %q: the env placeholder was not expanded, or the caller's value won", got.Header.Get("Authorization"))
		case got.Header.Get("X-Org") != "acme" || got.Header.Get("Openai-Beta") != "assistants=v2":
			t.Errorf("headers not passed: %v", got.Header)
		case got.Header.Get("Accept") != tt.accept || got.Header.Get("Content-Type") != "application/json":
			t.Errorf("Accept %q Content-Type %q", got.Header.Get("Accept"), got.Header.Get("Content-Type"))
		case body != `{"model":"m"}`:
			t.Errorf("body %q", body)
		}
	}
}

// A redirect must not be followed: it would carry the provider key to
// whatever host the upstream names.
func TestSendDoesNotFollowRedirects(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed; key sent: %q", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	p := provisioned(t, Config{Upstream: providers.Upstream{BaseURL: srv.URL, APIKey: "secret"}})
	resp, err := p.Send(context.Background(), &providers.Call{Operation: providers.OpChatCompletions, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	p := provisioned(t, Config{Upstream: providers.Upstream{BaseURL: slow.URL, Timeout: caddy.Duration(100 * time.Millisecond)}})
	_, err := p.Send(context.Background(), &providers.Call{Operation: providers.OpChatCompletions, Body: []byte(`{}`)})
	if !providers.IsTimeout(err) {
		t.Fatalf("slow upstream: %v, want a timeout", err)
	}
	p = provisioned(t, Config{Upstream: providers.Upstream{BaseURL: "http://127.0.0.1:1"}})
	_, err = p.Send(context.Background(), &providers.Call{Operation: providers.OpChatCompletions, Body: []byte(`{}`)})
	if err == nil || providers.IsTimeout(err) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("closed port: %v", err)
	}
}
