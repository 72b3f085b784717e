package cohere

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/providertest"
)

func BenchmarkEncodeRequest(b *testing.B) {
	req := providertest.BenchRequest(b, "command-r-plus")
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
		events = providertest.Drain(b, newStream(io.NopCloser(bytes.NewReader(raw)), "command-r-plus"))
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
