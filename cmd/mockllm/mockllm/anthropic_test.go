package mockllm

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func anthHeaders(key string) map[string]string {
	return map[string]string{"x-api-key": key, "anthropic-version": "2023-06-01"}
}

func TestAnthropicMessage(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	resp := do(t, ts, "POST", "/v1/messages", `{"model":"claude-x","max_tokens":100,"system":"be brief",
		"messages":[{"role":"user","content":"hello there"},{"role":"assistant","content":"hi"},
		{"role":"user","content":[{"type":"text","text":"how are you"}]}]}`, anthHeaders("k"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decode[map[string]any](t, resp.Body)
	want := map[string]any{
		"id": "msg_mock_1", "type": "message", "role": "assistant", "model": "claude-x",
		"content":     []any{map[string]any{"type": "text", "text": "mock reply to: how are you"}},
		"stop_reason": "end_turn", "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 8.0, "output_tokens": 6.0,
			"cache_creation_input_tokens": 0.0, "cache_read_input_tokens": 0.0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestAnthropicMaxTokensAndToolResult(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	got := decode[map[string]any](t, do(t, ts, "POST", "/v1/messages",
		`{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"one two three"}]}`, nil).Body)
	if got["stop_reason"] != "max_tokens" || got["content"].([]any)[0].(map[string]any)["text"] != "mock reply" {
		t.Errorf("max_tokens: %v", got)
	}
	got = decode[map[string]any](t, do(t, ts, "POST", "/v1/messages", `{"model":"m","max_tokens":50,"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"messages":[
		{"role":"user","content":"weather in Paris?"},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny, 21C"}]}]}]}`, nil).Body)
	if got["stop_reason"] != "end_turn" || got["content"].([]any)[0].(map[string]any)["text"] != "the tool said: sunny, 21C" {
		t.Errorf("tool result: %v", got)
	}
}

func TestAnthropicToolUse(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	body := `{"model":"m","max_tokens":50,"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"other","input_schema":{"type":"object"}}],
		"messages":[{"role":"user","content":"What is the Weather in Paris?"}]}`
	got := decode[map[string]any](t, do(t, ts, "POST", "/v1/messages", body, nil).Body)
	want := []any{map[string]any{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": map[string]any{"city": "Paris"}}}
	if got["stop_reason"] != "tool_use" || !reflect.DeepEqual(got["content"], want) {
		t.Errorf("got %v", got)
	}

	resp := do(t, ts, "POST", "/v1/messages", strings.Replace(body, `"max_tokens":50`, `"max_tokens":50,"stream":true`, 1), nil)
	events := readAnthEvents(t, resp.Body)
	var names []string
	var args string
	for _, e := range events {
		names = append(names, e.name)
		if d, ok := e.data["delta"].(map[string]any); ok && d["type"] == "input_json_delta" {
			args += d["partial_json"].(string)
		}
	}
	wantNames := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("events %v\nwant %v", names, wantNames)
	}
	var in map[string]string
	if err := json.Unmarshal([]byte(args), &in); err != nil || in["city"] != "Paris" {
		t.Errorf("streamed input %q", args)
	}
	if cb := events[1].data["content_block"].(map[string]any); cb["type"] != "tool_use" || cb["name"] != "get_weather" {
		t.Errorf("block start %v", cb)
	}
	if md := events[6].data; md["delta"].(map[string]any)["stop_reason"] != "tool_use" || md["usage"].(map[string]any)["output_tokens"] != 2.0 {
		t.Errorf("message_delta %v", md)
	}
}

type anthEvent struct {
	name string
	data map[string]any
}

func readAnthEvents(t *testing.T, r io.Reader) []anthEvent {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var out []anthEvent
	for _, chunk := range strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(chunk, "\ndata: ")
		if !ok || !strings.HasPrefix(name, "event: ") {
			t.Fatalf("malformed event %q", chunk)
		}
		e := anthEvent{name: strings.TrimPrefix(name, "event: ")}
		if err := json.Unmarshal([]byte(data), &e.data); err != nil {
			t.Fatalf("event data %q: %v", data, err)
		}
		if e.data["type"] != e.name {
			t.Errorf("event %s has type %v", e.name, e.data["type"])
		}
		out = append(out, e)
	}
	return out
}

func TestAnthropicStream(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	resp := do(t, ts, "POST", "/v1/messages", `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"say hi"}]}`, anthHeaders("k"))
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := readAnthEvents(t, resp.Body)
	var names []string
	var text string
	for _, e := range events {
		names = append(names, e.name)
		if d, ok := e.data["delta"].(map[string]any); ok && d["type"] == "text_delta" {
			text += d["text"].(string)
		}
	}
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
		"content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("events %v\nwant %v", names, want)
	}
	if text != "mock reply to: say hi" {
		t.Errorf("text %q", text)
	}
	u := events[0].data["message"].(map[string]any)["usage"].(map[string]any)
	if u["input_tokens"] != 2.0 {
		t.Errorf("message_start usage %v", u)
	}
	md := events[len(events)-2].data
	if md["delta"].(map[string]any)["stop_reason"] != "end_turn" || md["usage"].(map[string]any)["output_tokens"] != 5.0 {
		t.Errorf("message_delta %v", md)
	}
}

func TestAnthropicCountTokens(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	got := decode[map[string]any](t, do(t, ts, "POST", "/v1/messages/count_tokens",
		`{"model":"m","system":[{"type":"text","text":"a b"}],"messages":[{"role":"user","content":"c d e"}]}`, nil).Body)
	if got["input_tokens"] != 5.0 {
		t.Errorf("got %v", got)
	}
}

func TestAnthropicErrors(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	for _, tt := range []struct {
		name    string
		headers map[string]string
		body    string
		status  int
		typ     string
	}{
		{"bearer is not the dialect's header", map[string]string{"Authorization": "Bearer k"}, `{}`, 401, "authentication_error"},
		{"wrong key", anthHeaders("nope"), `{}`, 401, "authentication_error"},
		{"overloaded", map[string]string{"x-api-key": "k", HeaderStatus: "529"}, `{}`, 529, "overloaded_error"},
		{"rate limit", map[string]string{"x-api-key": "k", HeaderStatus: "429"}, `{}`, 429, "rate_limit_error"},
		{"server", map[string]string{"x-api-key": "k", HeaderStatus: "500"}, `{}`, 500, "api_error"},
		{"no max_tokens", anthHeaders("k"), `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"bad role", anthHeaders("k"), `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, 400, "invalid_request_error"},
		{"bad json", anthHeaders("k"), `{`, 400, "invalid_request_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, ts, "POST", "/v1/messages", tt.body, tt.headers)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			got := decode[map[string]any](t, resp.Body)
			e, _ := got["error"].(map[string]any)
			if got["type"] != "error" || e["type"] != tt.typ || e["message"] == "" {
				t.Errorf("body %v", got)
			}
			if (tt.status == 529 || tt.status == 429) && resp.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
	resp := do(t, ts, "GET", "/v1/messages", "", anthHeaders("k"))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestAnthropicFailAfter(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	req, _ := http.NewRequest("POST", ts.URL+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"a b c"}]}`))
	req.Header.Set(HeaderFailAfter, "3")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("stream not aborted: %q", b)
	}
	if strings.Contains(string(b), "message_stop") {
		t.Errorf("aborted stream has message_stop")
	}
}
