package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func init() { now = func() int64 { return 1700000000 } }

// golden compares got (JSON) with testdata/name semantically, or rewrites
// the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var buf bytes.Buffer
		if err := json.Indent(&buf, got, "", "  "); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		buf.WriteByte('\n')
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %s: %v", name, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s differs\n got: %s\nwant: %s", name, got, want)
	}
}

// goldenText compares got with testdata/name byte for byte.
func goldenText(t *testing.T, name string, got []byte) {
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
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs\n got: %s\nwant: %s", name, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func text(role providers.Role, s string) providers.Message {
	return providers.Message{Role: role, Parts: []providers.Part{{Type: providers.PartText, Text: s}}}
}

var weatherTool = providers.Tool{Name: "get_weather", Description: "Weather of a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

// requestCases are canonical requests and the golden Messages bodies they
// become.
var requestCases = []struct {
	name string
	req  providers.ChatRequest
}{
	{"full", providers.ChatRequest{
		Model: "claude-sonnet-4-5",
		Messages: []providers.Message{
			text(providers.RoleSystem, "You are terse."),
			text(providers.RoleUser, "Weather in Paris and Rome? "),
			{Role: providers.RoleUser, Parts: []providers.Part{
				{Type: providers.PartText, Text: ""}, // dropped: empty text is rejected
				{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/png", Data: []byte("\x89PNG")}},
				{Type: providers.PartImage, Image: &providers.Image{URL: "https://example.com/a.jpg", Detail: "high"}},
				{Type: providers.PartImage, Image: &providers.Image{URL: "data:image/gif;base64,R0lG"}},
			}},
			text(providers.RoleSystem, "Second system message, mid-conversation."),
			{Role: providers.RoleAssistant, Parts: []providers.Part{{Type: providers.PartText, Text: "Checking."}}, ToolCalls: []providers.ToolCall{
				{ID: "call_1", Name: "get_weather", Arguments: `{"city": "Paris"}`},
				{ID: "call_2", Name: "get_weather", Arguments: `not json`},
			}},
			{Role: providers.RoleTool, ToolCallID: "call_1", Parts: []providers.Part{{Type: providers.PartText, Text: "sunny"}}},
			{Role: providers.RoleTool, ToolCallID: "call_2", Parts: []providers.Part{{Type: providers.PartText, Text: "rain"}}},
			text(providers.RoleUser, "Thanks. Summarise."),
			{Role: providers.RoleAssistant}, // nothing at all: dropped
			text(providers.RoleAssistant, "Paris is"),
			text(providers.RoleAssistant, " sunny"),
		},
		Tools:             []providers.Tool{weatherTool, {Name: "now", Strict: ptr(true)}, {Name: "untyped", Parameters: json.RawMessage(`{"properties":{}}`)}},
		ToolChoice:        &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: "get_weather"},
		ParallelToolCalls: ptr(false),
		ResponseFormat:    &providers.ResponseFormat{Type: providers.FormatJSONSchema, Name: "w", Schema: json.RawMessage(`{"type":"object","properties":{"t":{"type":"string"}},"required":["t"],"additionalProperties":false}`)},
		MaxTokens:         ptr[int64](300),
		Temperature:       ptr(1.7),
		TopP:              ptr(0.9),
		FrequencyPenalty:  ptr(0.5),
		Stop:              []string{"END", "STOP"},
		Seed:              ptr[int64](7),
		User:              "user-42",
		Stream:            true,
		ReasoningEffort:   "high",
		Extra:             map[string]json.RawMessage{"logprobs": json.RawMessage("true")},
	}},
	{"defaults", providers.ChatRequest{
		Model:             "claude-haiku-4-5",
		Messages:          []providers.Message{text(providers.RoleUser, "hi")},
		Tools:             []providers.Tool{weatherTool},
		ToolChoice:        &providers.ToolChoice{Mode: providers.ToolChoiceRequired},
		TopP:              ptr(0.5),
		Temperature:       nil,
		ParallelToolCalls: ptr(false),
		N:                 1,
	}},
	{"json_object_tool_none", providers.ChatRequest{
		Model: "m",
		Messages: []providers.Message{
			text(providers.RoleUser, "what is the weather"),
			{Role: providers.RoleAssistant, ToolCalls: []providers.ToolCall{{ID: "toolu_9", Name: "get_weather", Arguments: ""}}},
			{Role: providers.RoleTool, ToolCallID: "toolu_9", Parts: []providers.Part{
				{Type: providers.PartText, Text: "see"},
				{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/jpeg", Data: []byte{0xff, 0xd8}}},
			}},
			{Role: providers.RoleTool, ToolCallID: "toolu_9"},
		},
		Tools:          []providers.Tool{weatherTool},
		ToolChoice:     &providers.ToolChoice{Mode: providers.ToolChoiceNone},
		ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONObject},
		Temperature:    ptr(-1.0),
	}},
	{"tool_choice_without_tools", providers.ChatRequest{
		Model:          "m",
		Messages:       []providers.Message{text(providers.RoleSystem, "  "), text(providers.RoleUser, "x")},
		ToolChoice:     &providers.ToolChoice{Mode: providers.ToolChoiceAuto},
		ResponseFormat: &providers.ResponseFormat{Type: providers.FormatText},
	}},
}

func TestEncodeRequest(t *testing.T) {
	for _, tt := range requestCases {
		t.Run(tt.name, func(t *testing.T) {
			w, err := encodeRequest(&tt.req, 1024)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "request_"+tt.name+".json", b)
		})
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	user := []providers.Message{text(providers.RoleUser, "hi")}
	for _, tt := range []struct {
		name  string
		req   providers.ChatRequest
		param string
		msg   string
	}{
		{"n", providers.ChatRequest{Model: "m", Messages: user, N: 2}, "n", "single choice"},
		{"orphan tool result", providers.ChatRequest{Model: "m", Messages: []providers.Message{text(providers.RoleUser, "x"),
			{Role: providers.RoleTool, ToolCallID: "call_x", Parts: []providers.Part{{Type: providers.PartText, Text: "r"}}}}}, "messages[1].tool_call_id", "call_x"},
		{"image type", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/tiff", Data: []byte{1}}}}}}}, "messages[0].content[0]", "image/tiff"},
		{"bad data url", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartImage, Image: &providers.Image{URL: "data:image/png,plain"}}}}}}, "messages[0].content[0]", "base64"},
		{"ftp image", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartImage, Image: &providers.Image{URL: "ftp://x/y.png"}}}}}}, "messages[0].content[0]", "http(s)"},
		{"role", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: "narrator"}}}, "messages[0].role", "narrator"},
		{"only system", providers.ChatRequest{Model: "m", Messages: []providers.Message{text(providers.RoleSystem, "s")}}, "messages", "no user"},
		{"max tokens", providers.ChatRequest{Model: "m", Messages: user, MaxTokens: ptr[int64](0)}, "max_tokens", "at least 1"},
		{"schema", providers.ChatRequest{Model: "m", Messages: user, Tools: []providers.Tool{{Name: "t", Parameters: json.RawMessage(`[1]`)}}}, "tools[0].function.parameters", "JSON Schema"},
		{"named choice", providers.ChatRequest{Model: "m", Messages: user, Tools: []providers.Tool{weatherTool}, ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceFunction}}, "tool_choice", "name"},
		{"json schema without schema", providers.ChatRequest{Model: "m", Messages: user, ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONSchema}}, "response_format", "schema"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeRequest(&tt.req, 10)
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Status != 400 || pe.Param != tt.param || !strings.Contains(pe.Message, tt.msg) {
				t.Errorf("got %#v, want a 400 on %s mentioning %q", err, tt.param, tt.msg)
			}
		})
	}
}

// canonicalJSON renders a canonical value for goldens (the types have no
// JSON tags, so Go field names appear).
func canonicalJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeResponse(t *testing.T) {
	for _, name := range []string{"text", "tool_use", "max_tokens", "refusal", "context_window"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "response_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := decodeResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "response_"+name+".golden.json", canonicalJSON(t, resp))
		})
	}
	for _, bad := range []string{``, `[]`, `{"type":"error","error":{"type":"api_error","message":"x"}}`, `{"type":"message","content":"nope"}`} {
		if _, err := decodeResponse([]byte(bad)); err == nil {
			t.Errorf("decodeResponse(%q): no error", bad)
		}
	}
}

// readAll drains a stream into JSON lines, one per event.
func readAll(t testing.TB, s providers.Stream) []byte {
	t.Helper()
	var out bytes.Buffer
	for i := 0; ; i++ {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if i > 10000 {
			t.Fatal("the stream does not end")
		}
		b, _ := json.Marshal(ev)
		out.Write(b)
		out.WriteByte('\n')
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("Next after the end: %v", err)
	}
	return out.Bytes()
}

func TestStreamDecode(t *testing.T) {
	files, _ := filepath.Glob("testdata/stream_*.sse")
	if len(files) < 5 {
		t.Fatalf("only %d stream fixtures", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sse")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := newStream(io.NopCloser(bytes.NewReader(body)))
			got := readAll(t, s)
			if err := s.Close(); err != nil || s.Close() != nil {
				t.Errorf("Close: %v", err)
			}
			goldenText(t, name+".golden.jsonl", got)
		})
	}
}

func TestReadError(t *testing.T) {
	for _, tt := range []struct {
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
		retry      int
	}{
		{400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}`, 400, "invalid_request_error", "max_tokens: field required", 0},
		{401, nil, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-abc"}}`, 502, "server_error", "credentials", 0},
		{404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}`, 404, "not_found_error", "claude-9", 0},
		{413, nil, `{"type":"error","error":{"type":"request_too_large","message":"too big"}}`, 413, "invalid_request_error", "too big", 0},
		{429, http.Header{"Retry-After": {"7"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, 429, "rate_limit_error", "slow down", 7},
		{529, http.Header{"Retry-After": {"3"}}, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 503, "overloaded_error", "Overloaded", 3},
		{500, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 503, "overloaded_error", "Overloaded", 0},
		{500, nil, `{"type":"error","error":{"type":"api_error","message":"boom"}}`, 502, "server_error", "boom", 0},
		{502, nil, `<html>bad gateway</html>`, 502, "server_error", "HTTP 502", 0},
	} {
		resp := &http.Response{StatusCode: tt.status, Header: tt.header, Body: io.NopCloser(strings.NewReader(tt.body))}
		if resp.Header == nil {
			resp.Header = http.Header{}
		}
		e := readError(resp)
		if e.Status != tt.wantStatus || e.Type != tt.wantType || !strings.Contains(e.Message, tt.wantMsg) || e.RetryAfter != tt.retry {
			t.Errorf("%d %s: got %+v", tt.status, tt.body, e)
		}
		if strings.Contains(e.Message, "sk-ant") {
			t.Errorf("credential leaked: %q", e.Message)
		}
	}
}

func TestCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`anthropic {
		base_url https://proxy.example.com/v1
		api_key {env.ANTHROPIC_API_KEY}
		header anthropic-beta prompt-caching
		timeout 30s
		version 2024-01-01
		max_tokens 2048
	}`)
	var p Anthropic
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if p.BaseURL != "https://proxy.example.com/v1" || p.APIKey != "{env.ANTHROPIC_API_KEY}" || p.Version != "2024-01-01" ||
		p.MaxTokens != 2048 || p.Headers.Get("anthropic-beta") != "prompt-caching" {
		t.Errorf("parsed %+v", p)
	}
	for _, bad := range []string{"anthropic {\n max_tokens 0\n}", "anthropic {\n max_tokens\n}", "anthropic {\n version\n}", "anthropic {\n nope 1\n}", "anthropic extra"} {
		var p Anthropic
		if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func provisioned(t *testing.T, p *Anthropic) *Anthropic {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p
}

func TestProvisionDefaults(t *testing.T) {
	p := provisioned(t, &Anthropic{})
	if p.URL != DefaultBaseURL || p.Version != DefaultVersion || p.MaxTokens != providers.DefaultMaxTokens {
		t.Errorf("defaults: %q %q %d", p.URL, p.Version, p.MaxTokens)
	}
}

// TestEndToEnd runs the provider against the bundled mock's Anthropic
// dialect.
func TestEndToEnd(t *testing.T) {
	mock := mockllm.New(mockllm.Options{APIKey: "k"})
	srv := httptest.NewServer(mock)
	defer srv.Close()
	p := provisioned(t, &Anthropic{Upstream: providers.Upstream{BaseURL: srv.URL + "/v1", APIKey: "k", Headers: http.Header{"X-Extra": {"1"}}}})
	ctx := context.Background()

	req := &providers.ChatRequest{Model: "claude-test", Messages: []providers.Message{
		text(providers.RoleSystem, "be nice"), text(providers.RoleUser, "hello there")}}
	resp, err := p.Chat(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "mock reply to: hello there" || resp.Choices[0].FinishReason != providers.FinishStop ||
		resp.Usage.PromptTokens != 4 || resp.Usage.CompletionTokens != 5 || !strings.HasPrefix(resp.ID, "msg_mock_") || resp.Model != "claude-test" {
		t.Errorf("Chat: %+v", resp)
	}
	recs := mock.Requests()
	last := recs[len(recs)-1]
	if last.Path != "/v1/messages" || last.Header.Get("x-api-key") != "k" || last.Header.Get("anthropic-version") != DefaultVersion ||
		last.Header.Get("X-Extra") != "1" || last.Header.Get("Authorization") != "" {
		t.Errorf("upstream request: %s %v", last.Path, last.Header)
	}
	var sent map[string]any
	_ = json.Unmarshal(last.Body, &sent)
	if sent["max_tokens"] != float64(providers.DefaultMaxTokens) || sent["stream"] != nil {
		t.Errorf("sent %s", last.Body)
	}

	// A streamed answer, word by word.
	req.Stream = true
	s, err := p.ChatStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var types []providers.EventType
	var content string
	var usage *providers.Usage
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
		content += ev.Text
		if ev.Usage != nil {
			usage = ev.Usage
		}
	}
	_ = s.Close()
	want := []providers.EventType{providers.EventStart, providers.EventText, providers.EventText, providers.EventText, providers.EventText, providers.EventText, providers.EventFinish, providers.EventUsage}
	if !reflect.DeepEqual(types, want) || content != "mock reply to: hello there" || usage == nil || *usage != (providers.Usage{PromptTokens: 4, CompletionTokens: 5}) {
		t.Errorf("stream: %v %q %+v", types, content, usage)
	}

	// Tool calls, then the tool's answer.
	treq := &providers.ChatRequest{Model: "claude-test", Tools: []providers.Tool{weatherTool},
		Messages: []providers.Message{text(providers.RoleUser, "weather in Paris?")}}
	resp, err = p.Chat(ctx, treq)
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Choices[0].Message.ToolCalls
	if len(tc) != 1 || tc[0].Name != "get_weather" || tc[0].Arguments != `{"city":"Paris"}` || resp.Choices[0].FinishReason != providers.FinishToolCalls {
		t.Fatalf("tool call: %+v", resp.Choices[0])
	}
	treq.Stream = true
	s, err = p.ChatStream(ctx, treq)
	if err != nil {
		t.Fatal(err)
	}
	var args string
	var sawCall bool
	var finish providers.FinishReason
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		switch ev.Type {
		case providers.EventToolCall:
			sawCall = ev.ToolName == "get_weather" && ev.ToolIndex == 0 && strings.HasPrefix(ev.ToolID, "toolu_")
		case providers.EventToolArgs:
			args += ev.Text
		case providers.EventFinish:
			finish = ev.FinishReason
		case providers.EventError:
			t.Fatal(ev.Err)
		}
	}
	_ = s.Close()
	if !sawCall || args != `{"city": "Paris"}` || finish != providers.FinishToolCalls {
		t.Errorf("streamed tool call: %v %q %s", sawCall, args, finish)
	}
	treq.Stream = false
	treq.Messages = append(treq.Messages, resp.Choices[0].Message,
		providers.Message{Role: providers.RoleTool, ToolCallID: tc[0].ID, Parts: []providers.Part{{Type: providers.PartText, Text: "sunny"}}})
	resp, err = p.Chat(ctx, treq)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "the tool said: sunny" {
		t.Errorf("after the tool: %q", got)
	}

	n, err := p.CountTokens(ctx, req)
	if err != nil || n != 4 {
		t.Errorf("CountTokens: %d %v", n, err)
	}
	if last := mock.Requests()[len(mock.Requests())-1]; last.Path != "/v1/messages/count_tokens" || bytes.Contains(last.Body, []byte("max_tokens")) {
		t.Errorf("count_tokens request: %s %s", last.Path, last.Body)
	}

	// Errors in Anthropic's shape become canonical errors.
	p.Headers = nil
	p.HeaderVals = http.Header{mockllm.HeaderStatus: {"529"}}
	_, err = p.Chat(ctx, req)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Status != 503 || pe.Type != "overloaded_error" || pe.RetryAfter != 1 {
		t.Errorf("529: %#v", err)
	}
	if _, err := p.ChatStream(ctx, req); !errors.As(err, &pe) || pe.Status != 503 {
		t.Errorf("529 stream: %#v", err)
	}
	p.HeaderVals = http.Header{mockllm.HeaderFailAfter: {"3"}}
	s, err = p.ChatStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var lastEv providers.Event
	for {
		ev, err := s.Next()
		if err == io.EOF {
			break
		}
		lastEv = ev
	}
	_ = s.Close()
	if lastEv.Type != providers.EventError || lastEv.Err == nil {
		t.Errorf("a cut stream ends with %+v, want EventError", lastEv)
	}
	p.HeaderVals = nil
	p.Key = "wrong"
	if _, err := p.CountTokens(ctx, req); !errors.As(err, &pe) || pe.Status != 502 || strings.Contains(pe.Message, "wrong") {
		t.Errorf("bad key: %#v", err)
	}
}
