package gemini

import (
	"errors"
	"os"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func seed(f *testing.F, dir, ext string) {
	for _, p := range inputs(f, dir, ext) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeResponse: no panic; an answer or a *providers.Error, and a
// non-JSON body is always an error.
func FuzzDecodeResponse(f *testing.F) {
	seed(f, "response", ".json")
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeResponse(b, "m", 1)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *providers.Error", err)
			}
			return
		}
		if len(resp.Choices) == 0 {
			t.Fatal("an answer without choices")
		}
		if b[0] != '{' && b[0] != ' ' && b[0] != '\t' && b[0] != '\n' && b[0] != '\r' {
			t.Fatalf("non-JSON body %q decoded", b)
		}
	})
}

// FuzzStream: no panic, no hang (the stream ends within a bound set by the
// input's size), an error event only last, and a stream without a finish
// for every choice ends in an error.
func FuzzStream(f *testing.F) {
	seed(f, "stream", ".sse")
	f.Add([]byte("data: garbage\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newTestStream(b)
		defer s.Close()
		evs := drain(t, s, 16*len(b)+8)
		checkOrder(t, evs)
		if len(evs) == 0 {
			t.Fatal("a stream ended with no event at all (want at least an error)")
		}
		last := evs[len(evs)-1]
		if last.Type != providers.EventError && last.Type != providers.EventUsage && last.Type != providers.EventFinish {
			t.Fatalf("stream ended on %v without error", last.Type)
		}
	})
}

// FuzzNormalizeSchema: client schemas are untrusted; no panic and no
// runaway work, whatever they hold.
func FuzzNormalizeSchema(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"allOf":[{"type":"string"}],"enum":["x",null]}}}`))
	f.Add([]byte(`{"anyOf":[{"type":["string","null"]},{"oneOf":[{"const":"c"}]}],"items":{"$ref":"#"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = toolParameters(b)
		_, _ = responseSchema(b)
	})
}
