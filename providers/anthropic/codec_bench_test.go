package anthropic

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/providertest"
)

func BenchmarkEncodeRequest(b *testing.B) {
	req := providertest.BenchRequest(b, "claude-sonnet-4-5")
	b.ReportAllocs()
	for range b.N {
		w, err := encodeRequest(req, providers.DefaultMaxTokens)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.marshal(); err != nil {
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

// BenchmarkStreamDecode decodes a 100-event and a 10,000-event upstream
// stream into canonical events through the package's stream; allocs/event
// must not grow with the stream's length.
func BenchmarkStreamDecode(b *testing.B) {
	for _, deltas := range []int{94, 9994} {
		raw := benchStreamN(deltas)
		b.Run(fmt.Sprintf("events=%d", deltas+6), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			events := 0
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for range b.N {
				events = providertest.Drain(b, newStream(io.NopCloser(bytes.NewReader(raw))))
			}
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(events), "events/op")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N)/float64(events), "allocs/event")
		})
	}
}

// benchStreamN is a Messages stream of deltas+6 events (the shape of
// testdata/stream_text_tool.sse): message_start, content_block_start, ping,
// the text deltas, content_block_stop, message_delta and message_stop.
func benchStreamN(deltas int) []byte {
	var sb strings.Builder
	ev := func(name, data string) { sb.WriteString("event: " + name + "\ndata: " + data + "\n\n") }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":120,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	ev("ping", `{"type":"ping"}`)
	for i := range deltas {
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" word%d"}}`, i))
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(deltas+1)+`}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return []byte(sb.String())
}
