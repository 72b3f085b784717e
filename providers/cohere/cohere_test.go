package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func init() {
	now = func() time.Time { return time.Unix(1700000000, 0) }
}

func ptr[T any](v T) *T { return &v }

func text(s string) []providers.Part { return []providers.Part{{Type: providers.PartText, Text: s}} }

// golden compares got (marshalled to JSON) with testdata/name semantically,
// or rewrites the file under -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	goldenBytes(t, name, append(b, '\n'), func(want []byte) bool { return jsonEqual(t, want, b) })
}

func goldenBytes(t *testing.T, name string, got []byte, equal func(want []byte) bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !equal(want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("golden: %v", err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("got: %v", err)
	}
	return reflect.DeepEqual(x, y)
}

var weatherTool = providers.Tool{Name: "get_weather", Description: "Weather of a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func TestEncodeChat(t *testing.T) {
	for _, tt := range []struct {
		name   string
		req    providers.ChatRequest
		stream bool
	}{
		{"basic", providers.ChatRequest{Model: "command-a-03-2025", Messages: []providers.Message{
			{Role: providers.RoleUser, Parts: text("hello")},
		}}, false},
		{"params", providers.ChatRequest{Model: "command-a-03-2025", Messages: []providers.Message{
			{Role: providers.RoleUser, Parts: text("hi"), Name: "bob"},
		}, MaxTokens: ptr[int64](100), Temperature: ptr(0.3), TopP: ptr(0.9), FrequencyPenalty: ptr(0.1), PresencePenalty: ptr(0.2),
			Stop: []string{"END", "STOP"}, Seed: ptr[int64](42), User: "u-1", ReasoningEffort: "low", ParallelToolCalls: ptr(false),
			IncludeUsage: true, Extra: map[string]json.RawMessage{"logit_bias": json.RawMessage(`{}`)}}, true},
		// Several system messages, anywhere, keep their place; empty text
		// parts and empty messages are dropped.
		{"systems_multiturn", providers.ChatRequest{Model: "m", Messages: []providers.Message{
			{Role: providers.RoleSystem, Parts: text("be brief")},
			{Role: providers.RoleUser, Parts: []providers.Part{{Type: providers.PartText, Text: ""}, {Type: providers.PartText, Text: "one"}}},
			{Role: providers.RoleAssistant, Parts: text("first answer")},
			{Role: providers.RoleSystem, Parts: text("now be formal")},
			{Role: providers.RoleAssistant},
			{Role: providers.RoleUser, Parts: []providers.Part{{Type: providers.PartText, Text: "two"}, {Type: providers.PartText, Text: "three"}}},
		}}, false},
		// Parallel tool calls and their results; the assistant's text goes
		// in tool_plan; bad arguments become {}.
		{"tools_roundtrip", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool, {Name: "now"}},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceRequired},
			Messages: []providers.Message{
				{Role: providers.RoleUser, Parts: text("weather in Paris and the time?")},
				{Role: providers.RoleAssistant, Parts: text("I will look both up."), ToolCalls: []providers.ToolCall{
					{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "call_b", Name: "now", Arguments: ``},
				}},
				{Role: providers.RoleTool, ToolCallID: "call_a", Parts: text("sunny")},
				{Role: providers.RoleTool, ToolCallID: "call_b", Parts: text("noon")},
			}}, false},
		{"tool_choice_none_strict", providers.ChatRequest{Model: "m", Tools: []providers.Tool{{Name: "f", Strict: ptr(true),
			Parameters: json.RawMessage(`null`)}}, ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceNone},
			Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}}, false},
		{"tool_choice_auto_json_object", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceAuto}, ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONObject},
			Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}}, false},
		{"json_schema", providers.ChatRequest{Model: "m", ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONSchema, Name: "answer",
			Schema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}}}`), Strict: ptr(true)},
			Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}}, false},
		{"response_format_text", providers.ChatRequest{Model: "m", ResponseFormat: &providers.ResponseFormat{Type: providers.FormatText},
			Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}}, false},
		{"images", providers.ChatRequest{Model: "command-a-vision", Messages: []providers.Message{
			{Role: providers.RoleUser, Parts: []providers.Part{
				{Type: providers.PartText, Text: "compare"},
				{Type: providers.PartImage, Image: &providers.Image{URL: "https://example.com/a.png", Detail: "low"}},
				{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/png", Data: []byte("\x89PNG")}},
			}},
		}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeChat(&tt.req, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "request_"+tt.name+".json", got)
		})
	}
}

func TestEncodeChatRejects(t *testing.T) {
	user := []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}
	for _, tt := range []struct {
		name  string
		req   providers.ChatRequest
		param string
	}{
		{"n", providers.ChatRequest{Model: "m", N: 2, Messages: user}, "n"},
		{"named_tool", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool}, Messages: user,
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: "get_weather"}}, "tool_choice"},
		{"no_messages", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser}}}, "messages"},
		{"image_without_data", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser,
			Parts: []providers.Part{{Type: providers.PartImage, Image: &providers.Image{}}}}}}, "messages[0].content"},
		{"bad_role", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: "robot", Parts: text("x")}}}, "messages[0].role"},
		{"bad_format", providers.ChatRequest{Model: "m", Messages: user, ResponseFormat: &providers.ResponseFormat{Type: "yaml"}}, "response_format"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeChat(&tt.req, false)
			var e *providers.Error
			if !errors.As(err, &e) || e.Status != 400 || e.Param != tt.param || e.Message == "" {
				t.Fatalf("got %#v, want a 400 on %s", err, tt.param)
			}
		})
	}
}

func TestDecodeChat(t *testing.T) {
	for _, name := range []string{"text", "tool_calls", "max_tokens", "billed_units_only", "stop_sequence", "thinking", "tool_calls_no_ids"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "response_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeChat(body, "command-a-03-2025")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "response_"+name+".golden.json", got)
		})
	}
}

func TestDecodeChatFailures(t *testing.T) {
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"id":"x","finish_reason":"ERROR","message":{"role":"assistant","content":[]}}`, 502},
		{`{"id":"x","finish_reason":"TIMEOUT","message":{"role":"assistant","content":[]}}`, 504},
		{`not json`, 502},
		{`{}`, 502},
	} {
		_, err := decodeChat([]byte(tt.body), "m")
		var e *providers.Error
		if !errors.As(err, &e) || e.Status != tt.status || e.Type != "server_error" {
			t.Errorf("%s: got %v, want a %d server_error", tt.body, err, tt.status)
		}
	}
}

// event is an Event as written in the golden JSON-lines files.
type event struct {
	Type         string           `json:"type"`
	Text         string           `json:"text,omitempty"`
	ToolIndex    int              `json:"tool_index,omitempty"`
	ToolID       string           `json:"tool_id,omitempty"`
	ToolName     string           `json:"tool_name,omitempty"`
	FinishReason string           `json:"finish_reason,omitempty"`
	ID           string           `json:"id,omitempty"`
	Model        string           `json:"model,omitempty"`
	Created      int64            `json:"created,omitempty"`
	Usage        *providers.Usage `json:"usage,omitempty"`
	Err          *providers.Error `json:"error,omitempty"`
}

var typeNames = map[providers.EventType]string{
	providers.EventStart: "start", providers.EventText: "text", providers.EventToolCall: "tool_call",
	providers.EventToolArgs: "tool_args", providers.EventFinish: "finish", providers.EventUsage: "usage", providers.EventError: "error",
}

// drain reads a stream to its end, failing on a protocol violation: an
// event after EventError, or more events than the input could produce.
func drain(t testing.TB, s providers.Stream, limit int) []event {
	t.Helper()
	var out []event
	for i := 0; ; i++ {
		ev, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if i > limit {
			t.Fatalf("more than %d events: the stream does not end", limit)
		}
		if len(out) > 0 && out[len(out)-1].Type == "error" {
			t.Fatalf("event after EventError: %+v", ev)
		}
		if i == 0 && ev.Type != providers.EventStart {
			t.Fatalf("first event %v, want EventStart", ev.Type)
		}
		out = append(out, event{Type: typeNames[ev.Type], Text: ev.Text, ToolIndex: ev.ToolIndex, ToolID: ev.ToolID,
			ToolName: ev.ToolName, FinishReason: string(ev.FinishReason), ID: ev.ID, Model: ev.Model, Created: ev.Created, Usage: ev.Usage, Err: ev.Err})
	}
}

func jsonLines(t *testing.T, evs []event) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var streamCases = []string{"text", "tool_calls", "tool_no_args", "thinking", "max_tokens", "error_finish", "truncated", "garbage", "error_event", "comments_crlf"}

func TestStream(t *testing.T) {
	for _, name := range streamCases {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "stream_"+name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			s := newStream(io.NopCloser(bytes.NewReader(in)), "command-a-03-2025")
			got := jsonLines(t, drain(t, s, 10000))
			goldenBytes(t, "stream_"+name+".golden.jsonl", got, func(want []byte) bool { return bytes.Equal(want, got) })
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// oneByte delivers its input a byte per Read, so that every event spans
// many reads.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestStreamAcrossReads(t *testing.T) {
	in, err := os.ReadFile("testdata/stream_tool_calls.sse")
	if err != nil {
		t.Fatal(err)
	}
	whole := drain(t, newStream(io.NopCloser(bytes.NewReader(in)), "m"), 1000)
	split := drain(t, newStream(io.NopCloser(oneByte{bytes.NewReader(in)}), "m"), 1000)
	if !reflect.DeepEqual(whole, split) {
		t.Fatalf("byte-by-byte reads changed the events:\n%v\n%v", whole, split)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
		retryAfter int
	}{
		{400, nil, `{"id":"1","message":"invalid request: model 'x' not found"}`, 400, "invalid_request_error", "invalid request: model 'x' not found", 0},
		{401, nil, `{"message":"invalid api token sk-secret"}`, 502, "server_error", "the upstream provider rejected the gateway's credentials", 0},
		{402, nil, `{"message":"please add a payment method"}`, 402, "insufficient_quota", "please add a payment method", 0},
		{404, nil, `{"message":"model not found"}`, 404, "not_found_error", "model not found", 0},
		{429, http.Header{"Retry-After": {"7"}}, `{"message":"You are using a Trial key, which is limited to 10 API calls / minute."}`, 429, "rate_limit_error", "You are using a Trial key, which is limited to 10 API calls / minute.", 7},
		{500, nil, `{"message":"internal server error"}`, 502, "server_error", "internal server error", 0},
		{503, nil, `not json`, 503, "overloaded_error", "the upstream provider answered HTTP 503", 0},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			p := provisioned(t, srv.URL, "sk-secret")
			_, err := p.Chat(context.Background(), &providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}})
			var e *providers.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v", err)
			}
			if e.Status != tt.wantStatus || e.Type != tt.wantType || e.Message != tt.wantMsg || e.RetryAfter != tt.retryAfter {
				t.Errorf("got %+v", e)
			}
			if strings.Contains(e.Message, "sk-secret") {
				t.Error("the key leaked into the error")
			}
			_, err = p.ChatStream(context.Background(), &providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}})
			if !errors.As(err, &e) || e.Status != tt.wantStatus {
				t.Errorf("stream: got %v", err)
			}
		})
	}
}

func provisioned(t *testing.T, base, key string) *Cohere {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	p := &Cohere{Upstream: providers.Upstream{BaseURL: base, APIKey: key}}
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`cohere {
		base_url https://proxy.example/v2
		api_key {env.COHERE_API_KEY}
		header X-Client-Name gateway
		timeout 30s
	}`)
	var p Cohere
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if p.BaseURL != "https://proxy.example/v2" || p.APIKey != "{env.COHERE_API_KEY}" || p.Headers.Get("X-Client-Name") != "gateway" || time.Duration(p.Timeout) != 30*time.Second {
		t.Fatalf("parsed %+v", p.Upstream)
	}
	if err := new(Cohere).UnmarshalCaddyfile(caddyfile.NewTestDispenser("cohere {\n region x\n}")); err == nil {
		t.Fatal("an unknown option was accepted")
	}
	t.Setenv("COHERE_TEST_KEY", "from-env")
	q := provisioned(t, "", "{env.COHERE_TEST_KEY}")
	if q.URL != DefaultBaseURL || q.Key != "from-env" {
		t.Fatalf("provisioned %q %q", q.URL, q.Key)
	}
}

// TestEndToEnd runs the provider against the bundled mock's Cohere dialect.
func TestEndToEnd(t *testing.T) {
	mock := mockllm.New(mockllm.Options{APIKey: "k"})
	srv := httptest.NewServer(mock)
	defer srv.Close()
	p := provisioned(t, srv.URL+"/v2", "k")
	ctx := context.Background()
	user := func(s string) providers.Message { return providers.Message{Role: providers.RoleUser, Parts: text(s)} }

	resp, err := p.Chat(ctx, &providers.ChatRequest{Model: "command-a", Messages: []providers.Message{
		{Role: providers.RoleSystem, Parts: text("be nice")}, user("hello there")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "mock reply to: hello there" || resp.Choices[0].FinishReason != providers.FinishStop ||
		resp.Usage.PromptTokens != 4 || resp.Usage.CompletionTokens != 5 {
		t.Fatalf("chat: %+v", resp)
	}
	reqs := mock.Requests()
	if got := reqs[len(reqs)-1]; got.Path != "/v2/chat" || got.Header.Get("Authorization") != "Bearer k" {
		t.Fatalf("the mock saw %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
	}

	// Streamed text, cut by max_tokens.
	s, err := p.ChatStream(ctx, &providers.ChatRequest{Model: "command-a", MaxTokens: ptr[int64](4), Messages: []providers.Message{user("one two three")}})
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s, 100)
	_ = s.Close()
	var sb strings.Builder
	for _, ev := range evs {
		sb.WriteString(ev.Text)
	}
	last := evs[len(evs)-1]
	if sb.String() != "mock reply to: one" || evs[len(evs)-2].FinishReason != "length" || last.Type != "usage" || last.Usage.CompletionTokens != 4 {
		t.Fatalf("stream: %+v", evs)
	}

	// A tool call, streamed, then its result.
	tools := []providers.Tool{weatherTool}
	s, err = p.ChatStream(ctx, &providers.ChatRequest{Model: "command-a", Tools: tools, Messages: []providers.Message{user("what is the weather?")}})
	if err != nil {
		t.Fatal(err)
	}
	evs = drain(t, s, 100)
	_ = s.Close()
	var call providers.ToolCall
	pieces := 0
	for _, ev := range evs {
		switch ev.Type {
		case "tool_call":
			call.ID, call.Name = ev.ToolID, ev.ToolName
		case "tool_args":
			call.Arguments += ev.Text
			pieces++
		}
	}
	if call.Name != "get_weather" || call.ID == "" || pieces < 2 || evs[len(evs)-2].FinishReason != "tool_calls" {
		t.Fatalf("tool stream: %+v", evs)
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil || args["city"] != "Paris" {
		t.Fatalf("arguments %q", call.Arguments)
	}
	resp, err = p.Chat(ctx, &providers.ChatRequest{Model: "command-a", Tools: tools, Messages: []providers.Message{
		user("what is the weather?"),
		{Role: providers.RoleAssistant, ToolCalls: []providers.ToolCall{call}},
		{Role: providers.RoleTool, ToolCallID: call.ID, Parts: text("sunny, 21C")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "the tool said: sunny, 21C" {
		t.Fatalf("after the tool: %q", got)
	}
	// Non-streamed tool call.
	resp, err = p.Chat(ctx, &providers.ChatRequest{Model: "command-a", Tools: tools, Messages: []providers.Message{user("weather please")}})
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Choices[0]; c.FinishReason != providers.FinishToolCalls || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Arguments != `{"city": "Paris"}` {
		t.Fatalf("tool call: %+v", c)
	}

	emb, err := p.Embed(ctx, &providers.EmbeddingRequest{Model: "embed-v4.0", Inputs: []string{"a b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Vectors) != 2 || !reflect.DeepEqual(emb.Vectors[0], mockllm.Embed("a b")) || emb.Usage.PromptTokens != 3 {
		t.Fatalf("embed: %+v", emb)
	}
	reqs = mock.Requests()
	var sent embedRequest
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil || sent.InputType != "search_document" || !reflect.DeepEqual(sent.EmbeddingTypes, []string{"float"}) {
		t.Fatalf("embed request %s", reqs[len(reqs)-1].Body)
	}

	// The mock rejects a wrong key; the gateway reports its own fault.
	bad := provisioned(t, srv.URL+"/v2", "wrong")
	if _, err := bad.Chat(ctx, &providers.ChatRequest{Model: "m", Messages: []providers.Message{user("x")}}); !isStatus(err, 502) {
		t.Fatalf("wrong key: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *providers.Error
	return errors.As(err, &e) && e.Status == status
}

// A connection cut mid-stream, and a mid-stream failure, end in EventError.
func TestEndToEndFailures(t *testing.T) {
	srv := httptest.NewServer(mockllm.New(mockllm.Options{APIKey: "k"}))
	defer srv.Close()
	p := provisioned(t, srv.URL+"/v2", "k")
	p.HeaderVals.Set(mockllm.HeaderFailAfter, "3")
	s, err := p.ChatStream(context.Background(), &providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("a b c d e")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := drain(t, s, 100)
	if last := evs[len(evs)-1]; last.Type != "error" || last.Err.Status != 502 {
		t.Fatalf("events %+v", evs)
	}
	p.HeaderVals.Del(mockllm.HeaderFailAfter)
	p.HeaderVals.Set(mockllm.HeaderStatus, "429")
	if _, err := p.ChatStream(context.Background(), &providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}}); !isStatus(err, 429) {
		t.Fatalf("429: %v", err)
	}
}

func FuzzDecodeChat(f *testing.F) {
	files, _ := filepath.Glob("testdata/response_*.json")
	for _, name := range files {
		if strings.HasSuffix(name, ".golden.json") {
			continue
		}
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte(`{"message":{"tool_calls":[{}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeChat(b, "m")
		if err == nil && len(resp.Choices) != 1 {
			t.Fatal("a decoded answer must have one choice")
		}
		var e *providers.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error of type %T", err)
		}
	})
}

func FuzzStream(f *testing.F) {
	for _, name := range streamCases {
		b, _ := os.ReadFile(filepath.Join("testdata", "stream_"+name+".sse"))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStream(io.NopCloser(bytes.NewReader(b)), "m")
		// Every event needs at least a few input bytes (or is one of the
		// few synthesized ones), so the count is bounded by the input.
		evs := drain(t, s, 2*len(b)+8)
		if len(evs) == 0 {
			t.Fatal("no events: an empty or broken stream must end in EventError")
		}
		last := evs[len(evs)-1]
		if last.Type != "error" && last.Type != "finish" && last.Type != "usage" {
			t.Fatalf("the stream ended on %q without a finish or an error", last.Type)
		}
	})
}
