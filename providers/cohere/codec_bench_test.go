package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// benchRequest is a realistic OpenAI chat request: a system prompt, a user
// turn, an assistant turn and one tool.
const benchRequest = `{"model":"command-r-plus","stream":true,"temperature":0.2,"max_tokens":1024,
"messages":[
 {"role":"system","content":"You are a helpful assistant. Answer briefly and call tools when they help."},
 {"role":"user","content":"What is the weather in Paris today, and should I take an umbrella for a walk this afternoon?"},
 {"role":"assistant","content":"Let me check the forecast for Paris."}],
"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city",
 "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}}}]}`

func benchDecodedRequest(b *testing.B) *providers.ChatRequest {
	req, err := openai.DecodeChatRequest([]byte(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	return req
}

// drainBench reads s to its end and returns the number of events; an
// EventError fails the benchmark.
func drainBench(b *testing.B, s providers.Stream) int {
	n := 0
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || ev.Type == providers.EventError {
			b.Fatalf("event %d: %v %+v", n, err, ev.Err)
		}
		n++
	}
	_ = s.Close()
	return n
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := benchDecodedRequest(b)
	b.ReportAllocs()
	for range b.N {
		w, err := encodeChat(req, true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "response_tool_calls.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if _, err := decodeChat(body, "command-r-plus"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecode decodes a 100-event upstream stream into canonical
// events through the package's stream.
func BenchmarkStreamDecode(b *testing.B) {
	raw := benchStream()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	events := 0
	for range b.N {
		events = drainBench(b, newStream(io.NopCloser(bytes.NewReader(raw)), "command-r-plus"))
	}
	b.ReportMetric(float64(events), "events/op")
}

// benchStream is a 100-event v2 chat stream (the shape of
// testdata/stream_text.sse): message-start, content-start, 96 content
// deltas, content-end and message-end.
func benchStream() []byte {
	var sb strings.Builder
	ev := func(name, data string) { sb.WriteString("event: " + name + "\ndata: " + data + "\n\n") }
	ev("message-start", `{"id":"29f14a5a-11de-4cae-9800-25e4747408ea","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}`)
	ev("content-start", `{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}`)
	for i := range 96 {
		ev("content-delta", fmt.Sprintf(`{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" word%d"}}}}`, i))
	}
	ev("content-end", `{"type":"content-end","index":0}`)
	ev("message-end", `{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":120,"output_tokens":96},"tokens":{"input_tokens":180,"output_tokens":96}}}}`)
	return []byte(sb.String())
}
