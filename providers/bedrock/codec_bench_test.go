package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/providertest"
)

func BenchmarkEncodeRequest(b *testing.B) {
	req := providertest.BenchRequest(b, "anthropic.claude-3-5-sonnet-20240620-v1:0")
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
		events = providertest.Drain(b, newStream(io.NopCloser(bytes.NewReader(raw)), "anthropic.claude-3-5-sonnet-20240620-v1:0", "req-1"))
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
