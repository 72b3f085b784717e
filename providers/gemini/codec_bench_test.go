package gemini

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
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// benchRequest is a realistic OpenAI chat request: a system prompt, a user
// turn, an assistant turn and one tool.
const benchRequest = `{"model":"gemini-2.5-flash","stream":true,"temperature":0.2,"max_tokens":1024,
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
		if _, err := encodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "response", "tool_calls.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if _, err := decodeResponse(body, "gemini-2.5-flash", 1); err != nil {
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
		events = drainBench(b, newStream(io.NopCloser(bytes.NewReader(raw)), "gemini-2.5-flash", "secret-key-123"))
	}
	b.ReportMetric(float64(events), "events/op")
}

// benchStream is a 100-event streamGenerateContent?alt=sse stream (the
// shape of testdata/stream/text.sse): 99 text chunks and a last one with
// the finish reason and usage.
func benchStream() []byte {
	var sb strings.Builder
	for i := range 99 {
		fmt.Fprintf(&sb, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":" word%d"}]}}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":%d,"totalTokenCount":%d},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`+"\r\n\r\n", i, i+1, i+121)
	}
	sb.WriteString(`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":100,"totalTokenCount":220},"modelVersion":"gemini-2.5-flash","responseId":"r1"}` + "\r\n\r\n")
	return []byte(sb.String())
}
