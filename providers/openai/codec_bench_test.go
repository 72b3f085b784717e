package openai

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// benchRequest is a realistic chat request: a system prompt, a user turn,
// an assistant turn and one tool.
const benchRequest = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"max_tokens":1024,
"messages":[
 {"role":"system","content":"You are a helpful assistant. Answer briefly and call tools when they help."},
 {"role":"user","content":"What is the weather in Paris today, and should I take an umbrella for a walk this afternoon?"},
 {"role":"assistant","content":"Let me check the forecast for Paris."}],
"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city",
 "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}}]}`

func BenchmarkDecodeChatRequest(b *testing.B) {
	body := []byte(benchRequest)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if _, err := DecodeChatRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := DecodeChatRequest([]byte(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := EncodeChatRequest(req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "responses", "tools.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if _, err := DecodeChatResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStream is a 100-event OpenAI stream: the role chunk, 97 content
// chunks, the finish chunk and the usage chunk, then [DONE] (as in
// testdata/streams/text_usage.sse).
func benchStream() []byte {
	const head = `data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_f9f4fb6dbf","choices":[`
	var sb strings.Builder
	sb.WriteString(head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for i := range 97 {
		fmt.Fprintf(&sb, head+`{"index":0,"delta":{"content":" word%d"},"logprobs":null,"finish_reason":null}],"usage":null}`+"\n\n", i)
	}
	sb.WriteString(head + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	sb.WriteString(head + `],"usage":{"prompt_tokens":120,"completion_tokens":97,"total_tokens":217,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n")
	sb.WriteString("data: [DONE]\n\n")
	return []byte(sb.String())
}

// BenchmarkStreamDecode decodes a 100-event upstream stream into canonical
// events through NewStream.
func BenchmarkStreamDecode(b *testing.B) {
	raw := benchStream()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	events := 0
	for range b.N {
		s := NewStream(io.NopCloser(bytes.NewReader(raw)))
		events = 0
		for {
			ev, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || ev.Type == providers.EventError {
				b.Fatalf("event %d: %v %+v", events, err, ev.Err)
			}
			events++
		}
		_ = s.Close()
	}
	b.ReportMetric(float64(events), "events/op")
}

// BenchmarkStreamEncode writes 100 canonical events as OpenAI chunks, as
// the gateway writes them to a client that asked for usage.
func BenchmarkStreamEncode(b *testing.B) {
	evs := []providers.Event{{Type: providers.EventStart, ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Model: "gpt-4o-2024-08-06", Created: 1741570283}}
	for i := range 97 {
		evs = append(evs, providers.Event{Type: providers.EventText, Text: fmt.Sprintf(" word%d", i)})
	}
	evs = append(evs,
		providers.Event{Type: providers.EventFinish, FinishReason: providers.FinishStop},
		providers.Event{Type: providers.EventUsage, Usage: &providers.Usage{PromptTokens: 120, CompletionTokens: 97, CachedTokens: 64}})
	b.ReportAllocs()
	for range b.N {
		e := NewStreamEncoder(io.Discard, true)
		for _, ev := range evs {
			if err := e.Encode(ev); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.End(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs)), "events/op")
}

// benchResponse is a canonical answer as an upstream gives it: a paragraph
// of text (with the escapes model output has), a tool call and usage.
var benchResponse = &providers.ChatResponse{
	ID: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", Model: "gpt-4o-2024-08-06", Created: 1741570283,
	Choices: []providers.Choice{{Message: providers.Message{Role: providers.RoleAssistant,
		Parts:     []providers.Part{{Type: providers.PartText, Text: strings.Repeat("The forecast for Paris says \"light rain\" this afternoon,\nso take an umbrella. ", 6)}},
		ToolCalls: []providers.ToolCall{{ID: "call_abc123", Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`}}},
		FinishReason: providers.FinishToolCalls}},
	Usage: providers.Usage{PromptTokens: 120, CompletionTokens: 97, CachedTokens: 64},
}

// BenchmarkEncodeResponse renders a canonical answer as the client's
// chat.completion body.
func BenchmarkEncodeResponse(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := EncodeChatResponse(benchResponse); err != nil {
			b.Fatal(err)
		}
	}
}
