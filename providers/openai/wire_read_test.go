package openai

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson/wirejsontest"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse/ssetest"
)

// chunkSamples are the data of every event of the stream fixtures and of
// the benchmark's stream.
func chunkSamples(tb testing.TB) [][]byte {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	out := ssetest.Data(tb, benchStream())
	for _, name := range names {
		if bytes.Contains([]byte(name), []byte(".golden.")) {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ssetest.Data(tb, b)...)
	}
	return out
}

// FuzzChunkRead: the fast chunk decoder decodes exactly what
// json.Unmarshal decodes, or leaves it to it.
func FuzzChunkRead(f *testing.F) {
	for _, s := range chunkSamples(f) {
		f.Add(s)
	}
	for _, s := range []string{
		`{"id":"x","choices":[{"index":0,"delta":{"content":null,"refusal":"no","tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"logprobs":{"content":[]},"finish_reason":null}],"usage":null}`,
		`{"choices":[],"usage":{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":2}}}`,
		`{"error":{"message":"m","type":"t","code":429}}`, `{"choices":null}`, `{"Choices":[]}`, `{"created":1.5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wirejsontest.SameAsUnmarshal(t, data, (*wireChunk).readJSON)
	})
}

// The fixtures' chunks take the fast decoder.
func TestChunkReadFastPath(t *testing.T) {
	for _, s := range chunkSamples(t) {
		if !wirejsontest.SameAsUnmarshal(t, s, (*wireChunk).readJSON) && json.Valid(s) {
			t.Errorf("the fast decoder left %s to encoding/json", s)
		}
	}
}
