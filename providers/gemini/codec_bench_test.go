package gemini

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/providertest"
)

func BenchmarkEncodeRequest(b *testing.B) {
	req := providertest.BenchRequest(b, "gemini-2.5-flash")
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
		events = providertest.Drain(b, newStream(io.NopCloser(bytes.NewReader(raw)), "gemini-2.5-flash", "secret-key-123"))
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
