package anthropic

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
const benchRequest = `{"model":"claude-sonnet-4-5","stream":true,"temperature":0.2,"max_tokens":1024,
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
		w, err := encodeRequest(req, providers.DefaultMaxTokens)
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
		if _, err := decodeResponse(body); err != nil {
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
		events = drainBench(b, newStream(io.NopCloser(bytes.NewReader(raw))))
	}
	b.ReportMetric(float64(events), "events/op")
}

// benchStream is a 100-event Messages stream (the shape of
// testdata/stream_text_tool.sse): message_start, content_block_start, ping,
// 94 text deltas, content_block_stop, message_delta and message_stop.
func benchStream() []byte {
	var sb strings.Builder
	ev := func(name, data string) { sb.WriteString("event: " + name + "\ndata: " + data + "\n\n") }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":120,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	ev("ping", `{"type":"ping"}`)
	for i := range 94 {
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word%d"}}`, i))
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":95}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return []byte(sb.String())
}
