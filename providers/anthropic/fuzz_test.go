package anthropic

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func seed(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeResponse: no panic; an answer either decodes or errors.
func FuzzDecodeResponse(f *testing.F) {
	seed(f, "response_*.json")
	f.Add([]byte(`{"type":"message","content":[{"type":"tool_use","input":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := decodeResponse(body)
		if err == nil && (resp == nil || len(resp.Choices) != 1) {
			t.Fatalf("no error and no choice: %+v", resp)
		}
	})
}

// FuzzStream: no panic, no hang; the events end in io.EOF within the
// input, the last one before it being usage or an error.
func FuzzStream(f *testing.F) {
	seed(f, "stream_*.sse")
	f.Fuzz(func(t *testing.T, body []byte) {
		s := newStream(io.NopCloser(bytes.NewReader(body)))
		defer s.Close()
		var last providers.Event
		for i := 0; ; i++ {
			ev, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if i > len(body)+10 {
				t.Fatal("more events than input")
			}
			if ev.Type == providers.EventError && ev.Err == nil {
				t.Fatal("EventError without an error")
			}
			last = ev
		}
		if last.Type != providers.EventUsage && last.Type != providers.EventError {
			t.Fatalf("the stream ended on %+v", last)
		}
	})
}

// FuzzInbound: decoding never panics, errors are 400s, and what decodes
// re-encodes upstream or fails with a 400.
func FuzzInbound(f *testing.F) {
	seed(f, "inbound_request.json")
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Inbound{}.DecodeChat(body)
		if err != nil {
			if pe, ok := err.(*providers.Error); !ok || pe.Status != 400 {
				t.Fatalf("error %#v is not a 400", err)
			}
			return
		}
		if _, err := encodeRequest(req, 100); err != nil {
			if pe, ok := err.(*providers.Error); !ok || pe.Status != 400 {
				t.Fatalf("encode error %#v is not a 400", err)
			}
		}
	})
}
