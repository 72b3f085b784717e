package aigateway_test

import (
	"context"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
)

func init() {
	caddy.RegisterModule(eventRecorder{})
}

// recorded holds the events the test handler saw.
var recorded struct {
	sync.Mutex
	events []caddy.Event
}

// eventRecorder is an events handler for this test binary only: it keeps
// every event it is given, the way a user's handler would hook them.
type eventRecorder struct{}

func (eventRecorder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "events.handlers.aigw_test_recorder", New: func() caddy.Module { return new(eventRecorder) }}
}

func (*eventRecorder) Handle(_ context.Context, e caddy.Event) error {
	recorded.Lock()
	defer recorded.Unlock()
	recorded.events = append(recorded.events, e)
	return nil
}

func (*eventRecorder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	return nil
}

var _ caddyevents.Handler = (*eventRecorder)(nil)

// TestRejectionEvents subscribes a handler to the gateway's rejection event
// in the Caddyfile and checks it fires with the reason and scope.
func TestRejectionEvents(t *testing.T) {
	e := newEnv(t)
	recorded.Lock()
	recorded.events = nil
	recorded.Unlock()
	e.tc.InitServer(replaceOnce(t, e.config(""), "\tai_gateway {\n", "\tevents {\n\t\ton ai_gateway_rejected aigw_test_recorder\n\t}\n\tai_gateway {\n"), "caddyfile")
	k := e.createKey(map[string]any{"name": "events", "limits": map[string]any{"rpm": 1}})
	e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false))
	if code, _, _ := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false)); code != 429 {
		t.Fatalf("second request: %d", code)
	}
	e.do("POST", "/v1/chat/completions", "aigw_not_a_key", chatBody("gpt-test", false))

	recorded.Lock()
	defer recorded.Unlock()
	reasons := map[string]string{}
	for _, ev := range recorded.events {
		if ev.Name() != "ai_gateway_rejected" {
			continue
		}
		reason, _ := ev.Data["reason"].(string)
		scope, _ := ev.Data["scope"].(string)
		reasons[reason] = scope
	}
	if reasons["rate_limit_exceeded"] != "key:"+k.ID {
		t.Fatalf("rate limit event: %v", reasons)
	}
	if _, ok := reasons["invalid_api_key"]; !ok {
		t.Fatalf("auth failure event: %v", reasons)
	}
}
