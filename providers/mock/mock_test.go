package mock

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestMockStartsOnFirstRequest provisions the mock as `caddy validate`
// does and checks that nothing is served until a request is sent, that the
// request is answered, and that Cleanup stops the mock for good.
func TestMockStartsOnFirstRequest(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mod, err := ctx.LoadModuleByID("ai_gateway.providers.mock", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	m := mod.(*Mock)
	if m.srv.running() {
		t.Fatal("provisioning started the mock; `caddy validate` must start nothing")
	}
	send := func() (string, error) {
		resp, err := m.Send(context.Background(), &providers.Call{Operation: providers.OpChatCompletions,
			Model: "any", Body: []byte(`{"model":"any","messages":[{"role":"user","content":"hi"}]}`)})
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := send()
	if err != nil || !strings.Contains(body, "mock reply to: hi") {
		t.Fatalf("first request: %v %s", err, body)
	}
	if !m.srv.running() {
		t.Fatal("the mock answered without running")
	}
	if err := m.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if m.srv.running() {
		t.Fatal("Cleanup left the mock running")
	}
	if _, err := send(); err == nil {
		t.Fatal("a request after Cleanup was answered")
	}
}

// TestMockRefusesUpstreamOptions: the mock has no upstream, so base_url
// and api_key are errors (JSON and Caddyfile alike), not silently ignored.
func TestMockRefusesUpstreamOptions(t *testing.T) {
	for _, raw := range []string{`{"base_url":"http://localhost:1/v1"}`, `{"api_key":"sk-x"}`} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		_, err := ctx.LoadModuleByID("ai_gateway.providers.mock", json.RawMessage(raw))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "not options of the mock provider") {
			t.Errorf("%s: %v", raw, err)
		}
	}
	var m Mock
	d := caddyfile.NewTestDispenser("mock {\n\theader X-Mock-Chunk-Delay 10ms\n\ttimeout 30s\n}")
	if err := m.UnmarshalCaddyfile(d); err != nil || m.Headers.Get("X-Mock-Chunk-Delay") != "10ms" {
		t.Fatalf("header and timeout: %v %v", err, m.Headers)
	}
	m = Mock{}
	d = caddyfile.NewTestDispenser("mock {\n\tapi_key sk-x\n}")
	if err := m.UnmarshalCaddyfile(d); err == nil || !strings.Contains(err.Error(), "not options of the mock provider") {
		t.Fatalf("api_key: %v", err)
	}
}
