package anthropic

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson/wirejsontest"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse/ssetest"
)

// wireSamples are the JSON values the fast decoders meet in the fixtures:
// answers, the data of stream events, and their deltas.
func wireSamples(tb testing.TB) (answers, events, deltas [][]byte) {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join("testdata", "response_*.json"))
	for _, name := range names {
		if bytes.Contains([]byte(name), []byte(".golden.")) {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		answers = append(answers, b)
	}
	streams, _ := filepath.Glob(filepath.Join("testdata", "stream_*.sse"))
	for _, name := range streams {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		for _, data := range ssetest.Data(tb, b) {
			events = append(events, data)
			var d struct{ Delta json.RawMessage }
			if json.Unmarshal(data, &d) == nil && len(d.Delta) > 0 {
				deltas = append(deltas, d.Delta)
			}
		}
	}
	return answers, events, deltas
}

// FuzzWireRead: the fast decoders of answers, stream events and deltas
// decode exactly what json.Unmarshal decodes, or leave it to it.
func FuzzWireRead(f *testing.F) {
	answers, events, deltas := wireSamples(f)
	for _, s := range append(append(answers, events...), deltas...) {
		f.Add(s)
	}
	for _, s := range []string{
		`{"type":"message","content":[{"type":"tool_use","input":null}]}`,
		`{"type":"message","content":null,"usage":null,"stop_reason":null}`,
		`{"type":"message","content":[],"usage":{"input_tokens":null}}`,
		`{"type":"message","Type":"x"}`,
		`{"type":"message","type":"message"}`,
		`{"id":"a\u00e9\ud83d\ude00\n","model":"\ud800"}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"image","source":{"type":"url","url":"u"}}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		`{"index":1.5}`, `{"index":-0}`, `{"index":1e2}`, `{"usage":{"output_tokens":99999999999999999999}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wirejsontest.SameAsUnmarshal(t, data, (*wireResponse).readJSON)
		wirejsontest.SameAsUnmarshal(t, data, (*streamEvent).readJSON)
		wirejsontest.SameAsUnmarshal(t, data, (*streamDelta).readJSON)
	})
}

// The fast decoders take the fixtures (those that are valid JSON): the
// fallback is for oddities.
func TestWireReadFastPath(t *testing.T) {
	answers, events, deltas := wireSamples(t)
	check := func(s []byte, ok bool) {
		if !ok && json.Valid(s) {
			t.Errorf("the fast decoder left %s to encoding/json", s)
		}
	}
	for _, s := range answers {
		check(s, wirejsontest.SameAsUnmarshal(t, s, (*wireResponse).readJSON))
	}
	for _, s := range events {
		check(s, wirejsontest.SameAsUnmarshal(t, s, (*streamEvent).readJSON))
	}
	for _, s := range deltas {
		check(s, wirejsontest.SameAsUnmarshal(t, s, (*streamDelta).readJSON))
	}
	if len(answers) < 5 || len(events) < 20 || len(deltas) < 10 {
		t.Fatalf("too few samples: %d %d %d", len(answers), len(events), len(deltas))
	}
}
