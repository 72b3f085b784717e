package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

// chunkSamples are the data of every event of the stream fixtures and of
// the benchmark's stream.
func chunkSamples(tb testing.TB) [][]byte {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	raws := [][]byte{benchStream()}
	for _, name := range names {
		if bytes.Contains([]byte(name), []byte(".golden.")) {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		raws = append(raws, b)
	}
	var out [][]byte
	for _, raw := range raws {
		r := sse.NewReader(bytes.NewReader(raw))
		for {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, bytes.Clone(ev.Data))
		}
	}
	return out
}

// sameAsUnmarshal checks that the fast decoder, when it succeeds on data,
// decodes what json.Unmarshal decodes, and reports whether it succeeded.
func sameAsUnmarshal(t *testing.T, data []byte) bool {
	t.Helper()
	var r wirejson.Reader
	r.Reset(data)
	var got, want wireChunk
	got.readJSON(&r)
	err := json.Unmarshal(data, &want)
	if !r.End() {
		return false
	}
	if err != nil {
		t.Fatalf("the fast decoder accepted %q, which json.Unmarshal rejects: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast decoder: %#v\njson.Unmarshal: %#v", data, got, want)
	}
	return true
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
		sameAsUnmarshal(t, data)
	})
}

// The fixtures' chunks take the fast decoder.
func TestChunkReadFastPath(t *testing.T) {
	for _, s := range chunkSamples(t) {
		if !sameAsUnmarshal(t, s) && json.Valid(s) {
			t.Errorf("the fast decoder left %s to encoding/json", s)
		}
	}
}
