package mockllm

import (
	"strings"
	"testing"
)

func TestOpenAIToolCalls(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`

	// A question about the weather, with tools offered: a call.
	resp := decode[chatCompletion](t, do(t, ts, "POST", "/v1/chat/completions",
		`{"model":"m",`+tools+`,"messages":[{"role":"user","content":"What is the weather?"}]}`, nil).Body)
	c := resp.Choices[0]
	if c.FinishReason != "tool_calls" || c.Message.Content != nil || len(c.Message.ToolCalls) != 1 ||
		c.Message.ToolCalls[0].Function.Name != "get_weather" || c.Message.ToolCalls[0].Function.Arguments != mockToolArgs {
		t.Fatalf("tool call answer: %+v", c)
	}

	// The tool's result: text quoting it.
	resp = decode[chatCompletion](t, do(t, ts, "POST", "/v1/chat/completions", `{"model":"m",`+tools+`,"messages":[
		{"role":"user","content":"What is the weather?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_mock_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"call_mock_1","content":"sunny and warm"}]}`, nil).Body)
	if got := *resp.Choices[0].Message.Content; got != "the tool said: sunny and warm" {
		t.Fatalf("after the tool: %q", got)
	}

	// Streamed: the call, then the arguments in two pieces.
	r := do(t, ts, "POST", "/v1/chat/completions", `{"model":"m","stream":true,`+tools+`,"messages":[{"role":"user","content":"weather in Paris?"}]}`, nil)
	events, err := readEvents(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(events, "\n")
	if strings.Count(all, `"arguments"`) != 3 || !strings.Contains(all, `"id":"call_mock_1"`) || !strings.Contains(all, `"finish_reason":"tool_calls"`) {
		t.Fatalf("streamed tool call:\n%s", all)
	}
}
