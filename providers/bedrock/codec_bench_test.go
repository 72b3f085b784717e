package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// benchRequest is a realistic OpenAI chat request: a system prompt, a user
// turn, an assistant turn and one tool.
const benchRequest = `{"model":"anthropic.claude-3-5-sonnet-20240620-v1:0","stream":true,"temperature":0.2,"max_tokens":1024,
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
		w, err := encodeChat(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(w); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "response_tool_use.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if _, err := decodeChat(body, "anthropic.claude-3-5-sonnet-20240620-v1:0", "req-1"); err != nil {
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
		events = drainBench(b, newStream(io.NopCloser(bytes.NewReader(raw)), "anthropic.claude-3-5-sonnet-20240620-v1:0", "req-1"))
	}
	b.ReportMetric(float64(events), "events/op")
}

// benchStream is a 100-event ConverseStream body in AWS event-stream
// frames (the shape of testdata/stream_text.frames.jsonl): messageStart,
// 96 text deltas, contentBlockStop, messageStop and metadata.
func benchStream() []byte {
	var out []byte
	ev := func(name, payload string) {
		out = append(out, mockllm.BedrockEventFrame(name, json.RawMessage(payload))...)
	}
	ev("messageStart", `{"p":"abcdefghijk","role":"assistant"}`)
	for i := range 96 {
		ev("contentBlockDelta", fmt.Sprintf(`{"contentBlockIndex":0,"delta":{"text":" word%d"},"p":"abcdefghijklmnop"}`, i))
	}
	ev("contentBlockStop", `{"contentBlockIndex":0,"p":"ab"}`)
	ev("messageStop", `{"stopReason":"end_turn","p":"abcdefgh"}`)
	ev("metadata", `{"usage":{"inputTokens":120,"outputTokens":96,"totalTokens":1416,"cacheReadInputTokens":1000,"cacheWriteInputTokens":200},"metrics":{"latencyMs":412},"p":"abc"}`)
	return out
}
