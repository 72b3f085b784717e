package anthropic

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func TestInboundDecodeChat(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "inbound_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := Inbound{}.DecodeChat(body)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inbound_request.golden.json", canonicalJSON(t, req))

	// A minimal request: string system and content, no max_tokens.
	req, err = Inbound{}.DecodeChat([]byte(`{"model":"m","system":"sys","messages":[{"role":"user","content":"hi"}],"tool_choice":{"type":"any"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != providers.RoleSystem || req.Messages[0].Text() != "sys" ||
		req.Messages[1].Text() != "hi" || req.MaxTokens != nil || req.ToolChoice.Mode != providers.ToolChoiceRequired || req.ParallelToolCalls != nil {
		t.Errorf("minimal: %+v", req)
	}
}

func TestInboundDecodeErrors(t *testing.T) {
	for _, tt := range []struct {
		body, param, msg string
	}{
		{`{`, "", "not a valid"},
		{`{"messages":[{"role":"user","content":"x"}]}`, "model", "model"},
		{`{"model":"m","messages":[]}`, "messages", "at least one"},
		{`{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, "max_tokens", "at least 1"},
		{`{"model":"m","temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, "temperature", "between 0 and 1"},
		{`{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages.0.role", "user or assistant"},
		{`{"model":"m","messages":[{"role":"user","content":7}]}`, "messages.0.content", "string or an array"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}`, "messages.0.content.0.type", "document"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!"}}]}]}`, "messages.0.content.0.source.data", "base64"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages.0.content.0.source.type", "file"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}`, "messages.0.content.0", "assistant"},
		{`{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"a"}]}]}`, "messages.0.content.0", "user messages"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result"}]}]}`, "messages.0.content.0", "tool_use_id"},
		{`{"model":"m","system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}`, "system.0.type", "text"},
		{`{"model":"m","system":5,"messages":[{"role":"user","content":"x"}]}`, "system", "string or an array"},
		{`{"model":"m","tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}`, "tools.0.type", "server tool"},
		{`{"model":"m","tool_choice":{"type":"maybe"},"messages":[{"role":"user","content":"x"}]}`, "tool_choice.type", "maybe"},
		{`{"model":"m","tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"x"}]}`, "tool_choice.name", "name"},
		{`{"model":"m","output_config":{"format":{"type":"xml"}},"messages":[{"role":"user","content":"x"}]}`, "output_config.format", "json_schema"},
	} {
		_, err := Inbound{}.DecodeChat([]byte(tt.body))
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Param != tt.param || !strings.Contains(pe.Message, tt.msg) {
			t.Errorf("%s: got %#v, want 400 on %q mentioning %q", tt.body, err, tt.param, tt.msg)
		}
	}
}

func TestInboundCountTokens(t *testing.T) {
	req, err := Inbound{}.DecodeCountTokens([]byte(`{"model":"m","system":"s","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"t","input_schema":{"type":"object"}}]}`))
	if err != nil || req.Model != "m" || len(req.Messages) != 2 || len(req.Tools) != 1 {
		t.Fatalf("%+v %v", req, err)
	}
	if _, err := (Inbound{}).DecodeCountTokens([]byte(`{"messages":[]}`)); err == nil {
		t.Error("no error without a model")
	}
	if got := string(Inbound{}.EncodeCountTokens(42)); got != `{"input_tokens":42}` {
		t.Errorf("EncodeCountTokens: %s", got)
	}
}

func TestInboundEncodeChat(t *testing.T) {
	for _, tt := range []struct {
		name string
		resp providers.ChatResponse
	}{
		{"tool_use", providers.ChatResponse{ID: "chatcmpl-abc", Model: "gpt-4o", Created: 1,
			Choices: []providers.Choice{{Message: providers.Message{Role: providers.RoleAssistant,
				Parts: []providers.Part{{Type: providers.PartText, Text: "Let me "}, {Type: providers.PartText, Text: "check."}},
				ToolCalls: []providers.ToolCall{
					{ID: "call_1", Name: "get_weather", Arguments: `{"city": "Paris"}`},
					{ID: "", Name: "now", Arguments: ``},
					{ID: "call_3", Name: "broken", Arguments: `{"a":`},
				}}, FinishReason: providers.FinishToolCalls}},
			Usage: providers.Usage{PromptTokens: 2100, CompletionTokens: 40, CachedTokens: 2000, CacheWriteTokens: 50, ReasoningTokens: 10}}},
		{"length", providers.ChatResponse{ID: "msg_keep", Model: "m",
			Choices: []providers.Choice{{Message: text(providers.RoleAssistant, "Once upon"), FinishReason: providers.FinishLength}},
			Usage:   providers.Usage{PromptTokens: 5, CompletionTokens: 2}}},
		{"content_filter_empty", providers.ChatResponse{ID: "x", Model: "m",
			Choices: []providers.Choice{{Message: providers.Message{Role: providers.RoleAssistant}, FinishReason: providers.FinishContentFilter}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Inbound{}.EncodeChat(&tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "inbound_response_"+tt.name+".json", b)
		})
	}
}

func TestInboundEncodeError(t *testing.T) {
	for _, tt := range []struct {
		e    providers.Error
		want string
	}{
		{providers.Error{Status: 400, Type: "invalid_request_error", Message: "bad"}, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`},
		{providers.Error{Status: 401, Type: "authentication_error", Message: "key"}, `{"type":"error","error":{"type":"authentication_error","message":"key"}}`},
		{providers.Error{Status: 403, Message: "no"}, `{"type":"error","error":{"type":"permission_error","message":"no"}}`},
		{providers.Error{Status: 404, Type: "not_found_error", Code: "model_not_found", Message: "m"}, `{"type":"error","error":{"type":"not_found_error","message":"m"}}`},
		{providers.Error{Status: 413, Type: "invalid_request_error", Code: "request_too_large", Message: "big"}, `{"type":"error","error":{"type":"request_too_large","message":"big"}}`},
		{providers.Error{Status: 429, Type: "insufficient_quota", Message: "q"}, `{"type":"error","error":{"type":"rate_limit_error","message":"q"}}`},
		{providers.Error{Status: 429, Type: "rate_limit_error", Message: "r"}, `{"type":"error","error":{"type":"rate_limit_error","message":"r"}}`},
		{providers.Error{Status: 502, Type: "server_error", Message: "s"}, `{"type":"error","error":{"type":"api_error","message":"s"}}`},
		{providers.Error{Status: 503, Type: "overloaded_error", Message: "o"}, `{"type":"error","error":{"type":"overloaded_error","message":"o"}}`},
		{providers.Error{Status: 529, Message: "o"}, `{"type":"error","error":{"type":"overloaded_error","message":"o"}}`},
		{providers.Error{Status: 504, Message: "t"}, `{"type":"error","error":{"type":"api_error","message":"t"}}`},
	} {
		b, ct := Inbound{}.EncodeError(&tt.e)
		if string(b) != tt.want || ct != "application/json" {
			t.Errorf("%+v: %s %s", tt.e, b, ct)
		}
	}
}

// streamCases are canonical event sequences and the SSE text they become.
var streamCases = []struct {
	name   string
	events []providers.Event
	end    bool
}{
	{"text_tools", []providers.Event{
		{Type: providers.EventStart, ID: "chatcmpl-1", Model: "gpt-4o", Created: 1},
		{Type: providers.EventText, Text: ""},
		{Type: providers.EventText, Text: "Let me"},
		{Type: providers.EventText, Text: " check."},
		{Type: providers.EventToolCall, ToolIndex: 0, ToolID: "call_a", ToolName: "get_weather"},
		{Type: providers.EventToolArgs, ToolIndex: 0, Text: `{"city":`},
		{Type: providers.EventToolArgs, ToolIndex: 0, Text: `"Paris"}`},
		{Type: providers.EventToolCall, ToolIndex: 1, ToolID: "call_b", ToolName: "now"},
		{Type: providers.EventToolArgs, ToolIndex: 1, Text: `{}`},
		{Type: providers.EventFinish, FinishReason: providers.FinishToolCalls},
		{Type: providers.EventUsage, Usage: &providers.Usage{PromptTokens: 120, CompletionTokens: 40, CachedTokens: 100}},
	}, true},
	{"text_then_tool_then_text_no_usage", []providers.Event{
		{Type: providers.EventStart, ID: "msg_x", Model: "m"},
		{Type: providers.EventText, Text: "a"},
		{Type: providers.EventToolCall, ToolIndex: 0, ToolID: "t", ToolName: "f"},
		{Type: providers.EventText, Text: "b"},
		{Type: providers.EventText, Text: "c", Choice: 1}, // other choices are dropped
		{Type: providers.EventFinish, FinishReason: providers.FinishLength},
	}, true},
	{"error", []providers.Event{
		{Type: providers.EventStart, ID: "msg_e", Model: "m"},
		{Type: providers.EventText, Text: "Partial"},
		{Type: providers.EventError, Err: &providers.Error{Status: 503, Type: "overloaded_error", Message: "Overloaded"}},
	}, true},
	{"usage_before_finish", []providers.Event{
		{Type: providers.EventStart, ID: "msg_u", Model: "m"},
		{Type: providers.EventText, Text: "hi"},
		{Type: providers.EventUsage, Usage: &providers.Usage{PromptTokens: 3, CompletionTokens: 1}},
		{Type: providers.EventFinish, FinishReason: providers.FinishStop},
	}, true},
	{"empty", nil, true},
}

func encodeEvents(t testing.TB, events []providers.Event, end bool) []byte {
	var buf bytes.Buffer
	enc := Inbound{}.NewStreamEncoder(&buf, false)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if end {
		if err := enc.End(); err != nil {
			t.Fatal(err)
		}
		// End and Encode after the end write nothing more.
		n := buf.Len()
		_ = enc.End()
		_ = enc.Encode(providers.Event{Type: providers.EventText, Text: "late"})
		if buf.Len() != n {
			t.Errorf("wrote after the end: %q", buf.Bytes()[n:])
		}
	}
	return buf.Bytes()
}

func TestStreamEncoder(t *testing.T) {
	for _, tt := range streamCases {
		t.Run(tt.name, func(t *testing.T) {
			goldenText(t, "encode_"+tt.name+".sse", encodeEvents(t, tt.events, tt.end))
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("client gone") }

func TestStreamEncoderWriteError(t *testing.T) {
	enc := Inbound{}.NewStreamEncoder(failWriter{}, true)
	if err := enc.Encode(providers.Event{Type: providers.EventStart}); err == nil {
		t.Error("no error from a failing writer")
	}
	if err := enc.End(); err == nil {
		t.Error("End: no error from a failing writer")
	}
}

// The handler serves these with http.StatusText-like statuses; check the
// status is left to the caller.
func TestInboundErrorKeepsStatus(t *testing.T) {
	e := &providers.Error{Status: http.StatusServiceUnavailable, Type: "overloaded_error", Message: "x"}
	_, _ = Inbound{}.EncodeError(e)
	if e.Status != 503 {
		t.Error("EncodeError changed the status")
	}
}
