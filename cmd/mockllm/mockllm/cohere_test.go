package mockllm

import (
	"bufio"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func cohereAuth(key string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key}
}

func TestCohereChat(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	resp := do(t, ts, "POST", "/v2/chat", `{"model":"command-a","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there"}]}]}`, cohereAuth("k"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	type answer struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Role    string `json:"role"`
			Content []struct{ Type, Text string }
		} `json:"message"`
		Usage struct {
			Tokens struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			} `json:"tokens"`
		} `json:"usage"`
	}
	got := decode[answer](t, resp.Body)
	if got.FinishReason != "COMPLETE" || got.Message.Role != "assistant" || len(got.Message.Content) != 1 ||
		got.Message.Content[0].Text != "mock reply to: hello there" || got.Usage.Tokens.InputTokens != 4 || got.Usage.Tokens.OutputTokens != 5 {
		t.Fatalf("answer %+v", got)
	}

	resp = do(t, ts, "POST", "/v2/chat", `{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a b c"}]}`, cohereAuth("k"))
	if m := decode[map[string]any](t, resp.Body); m["finish_reason"] != "MAX_TOKENS" {
		t.Fatalf("max_tokens: %v", m)
	}
}

// cohereEvents reads an SSE response into (event name, data) pairs,
// checking that each data's type repeats the event name.
func cohereEvents(t *testing.T, resp *http.Response) (names []string, data []map[string]any) {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var m map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
				t.Fatal(err)
			}
			if m["type"] != name {
				t.Fatalf("event %q carries type %v", name, m["type"])
			}
			names, data = append(names, name), append(data, m)
		}
	}
	return names, data
}

func TestCohereStream(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	resp := do(t, ts, "POST", "/v2/chat", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi you"}]}`, cohereAuth("k"))
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	names, data := cohereEvents(t, resp)
	want := []string{"message-start", "content-start", "content-delta", "content-delta", "content-delta", "content-delta", "content-delta", "content-end", "message-end"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("events %v", names)
	}
	var text string
	for _, d := range data[2:7] {
		text += d["delta"].(map[string]any)["message"].(map[string]any)["content"].(map[string]any)["text"].(string)
	}
	end := data[len(data)-1]["delta"].(map[string]any)
	if text != "mock reply to: hi you" || end["finish_reason"] != "COMPLETE" || end["usage"] == nil {
		t.Fatalf("text %q end %v", text, end)
	}
}

func TestCohereTools(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	resp := do(t, ts, "POST", "/v2/chat", `{"model":"m","stream":true,`+tools+`,"messages":[{"role":"user","content":"Weather in Paris?"}]}`, nil)
	names, data := cohereEvents(t, resp)
	want := []string{"message-start", "tool-plan-delta", "tool-plan-delta", "tool-call-start", "tool-call-delta", "tool-call-delta", "tool-call-end", "message-end"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("events %v", names)
	}
	var args string
	for _, d := range data[4:6] {
		args += d["delta"].(map[string]any)["message"].(map[string]any)["tool_calls"].(map[string]any)["function"].(map[string]any)["arguments"].(string)
	}
	var parsed map[string]string
	if err := json.Unmarshal([]byte(args), &parsed); err != nil || parsed["city"] != "Paris" {
		t.Fatalf("arguments %q", args)
	}
	if fr := data[7]["delta"].(map[string]any)["finish_reason"]; fr != "TOOL_CALL" {
		t.Fatalf("finish %v", fr)
	}

	resp = do(t, ts, "POST", "/v2/chat", `{"model":"m",`+tools+`,"messages":[{"role":"user","content":"weather?"},
		{"role":"assistant","tool_plan":"x","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
		{"role":"tool","tool_call_id":"c1","content":"rainy"}]}`, nil)
	m := decode[map[string]any](t, resp.Body)
	content := m["message"].(map[string]any)["content"].([]any)[0].(map[string]any)
	if content["text"] != "the tool said: rainy" || m["finish_reason"] != "COMPLETE" {
		t.Fatalf("after the tool: %v", m)
	}
}

func TestCohereEmbed(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	resp := do(t, ts, "POST", "/v2/embed", `{"model":"embed-v4.0","texts":["a b","c"],"input_type":"search_document","embedding_types":["float"]}`, cohereAuth("k"))
	var got struct {
		Embeddings struct{ Float [][]float32 } `json:"embeddings"`
		Meta       struct {
			BilledUnits struct {
				InputTokens int `json:"input_tokens"`
			} `json:"billed_units"`
		} `json:"meta"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Embeddings.Float) != 2 || !reflect.DeepEqual(got.Embeddings.Float[1], Embed("c")) || got.Meta.BilledUnits.InputTokens != 3 {
		t.Fatalf("embed %+v", got)
	}
	resp = do(t, ts, "POST", "/v2/embed", `{"model":"embed-v4.0","texts":["a"]}`, cohereAuth("k"))
	if resp.StatusCode != 400 {
		t.Fatalf("missing input_type: %d", resp.StatusCode)
	}
}

func TestCohereErrors(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	for _, tt := range []struct {
		headers map[string]string
		status  int
	}{
		{nil, 401},
		{map[string]string{"Authorization": "k"}, 401},
		{map[string]string{"Authorization": "Bearer k", HeaderStatus: "429"}, 429},
		{map[string]string{"Authorization": "Bearer k", HeaderStatus: "500"}, 500},
	} {
		resp := do(t, ts, "POST", "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, tt.headers)
		m := decode[map[string]any](t, resp.Body)
		if resp.StatusCode != tt.status || m["message"] == "" || m["message"] == nil {
			t.Errorf("%v: %d %v", tt.headers, resp.StatusCode, m)
		}
	}
	resp := do(t, ts, "POST", "/v2/chat", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, cohereAuth("k"))
	if resp.StatusCode != 400 {
		t.Fatalf("bad role: %d", resp.StatusCode)
	}
}
