package aigateway

import (
	"bytes"
	"strings"
	"testing"
)

// TestAppendModelRewritten checks the model rewrite of an answer's bytes:
// only the top-level "model" member's string value changes, and nothing
// at all when there is nothing to change or the JSON is not valid.
func TestAppendModelRewritten(t *testing.T) {
	const public = `"gpt-public"`
	tests := []struct {
		name, in, want string // want "" for "left as it is"
	}{
		{"chat answer", `{"id":"c1","object":"chat.completion","model":"llama3.1:8b","choices":[]}`,
			`{"id":"c1","object":"chat.completion","model":"gpt-public","choices":[]}`},
		{"model last, after nested data", `{"data":[{"embedding":[0.1],"model":"nested"}],"model":"nomic","usage":{}}`,
			`{"data":[{"embedding":[0.1],"model":"nested"}],"model":"gpt-public","usage":{}}`},
		{"spaces around the member", `{ "model" : "up" , "x":1 }`, `{ "model" : "gpt-public" , "x":1 }`},
		{"duplicate members both replaced", `{"model":"a","model":"b"}`, `{"model":"gpt-public","model":"gpt-public"}`},
		{"escaped upstream name", `{"model":"a\"b"}`, `{"model":"gpt-public"}`},
		{"already the public name", `{"model":"gpt-public"}`, ""},
		{"no model", `{"id":"x","choices":[]}`, ""},
		{"model only nested", `{"x":{"model":"up"}}`, ""},
		{"model only in a string", `{"content":"\"model\":\"up\""}`, ""},
		{"model not a string", `{"model":null}`, ""},
		{"invalid JSON", `{"model":"up",`, ""},
		{"not an object", `["model","up"]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := appendModelRewritten([]byte("prefix:"), []byte("ab"+tt.in), 2, []byte(public))
			switch {
			case tt.want == "" && ok:
				t.Fatalf("rewrote %s into %s", tt.in, got)
			case tt.want != "" && (!ok || string(got) != "prefix:ab"+tt.want):
				t.Fatalf("got %q %v, want %q", got, ok, "prefix:ab"+tt.want)
			}
		})
	}
}

// TestMetersRewriteModel runs passed-through streams through the meter
// with a model to put in, in every split of the bytes a network could
// produce: the client gets the public name in each chunk, usage is still
// metered, and a nil model leaves every byte alone. (JSON answers are held
// whole and rewritten by relayJSON; TestAnswersNameThePublicModel covers
// them.)
func TestMetersRewriteModel(t *testing.T) {
	chunk := func(model, rest string) string {
		return `data: {"id":"c","object":"chat.completion.chunk","model":"` + model + `",` + rest
	}
	up := sse(chunk("llama3.1:8b", `"choices":[{"index":0,"delta":{"content":"hi"}}]}`),
		chunk("llama3.1:8b", `"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}`), chunkDone)
	public := sse(chunk("llama3.1", `"choices":[{"index":0,"delta":{"content":"hi"}}]}`),
		chunk("llama3.1", `"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}`), chunkDone)
	tests := []struct {
		name, in  string
		model     []byte
		want      string
		wantUsage usage
	}{
		{"stream", up, []byte(`"llama3.1"`), public, usage{PromptTokens: 3, CompletionTokens: 4}},
		{"stream, no model to put in", up, nil, up, usage{PromptTokens: 3, CompletionTokens: 4}},
		{"stream without a final blank line", strings.TrimSuffix(up, "\n\n"), []byte(`"llama3.1"`),
			strings.TrimSuffix(public, "\n\n"), usage{PromptTokens: 3, CompletionTokens: 4}},
	}
	for _, tt := range tests {
		for _, split := range []int{1, 3, 16, 1 << 20} {
			var out bytes.Buffer
			m := &sseMeter{dst: &out, flush: func() error { return nil }, model: tt.model}
			in := []byte(tt.in)
			for len(in) > 0 {
				n := min(split, len(in))
				if _, err := m.Write(in[:n]); err != nil {
					t.Fatalf("%s/split %d: %v", tt.name, split, err)
				}
				in = in[n:]
			}
			u, ok, err := m.finish()
			if err != nil || !ok || u != tt.wantUsage || out.String() != tt.want {
				t.Fatalf("%s/split %d:\n got %q usage %+v %v %v\nwant %q", tt.name, split, out.String(), u, ok, err, tt.want)
			}
		}
	}
}

// BenchmarkSSEModelRewrite times the rewrite of one typical chunk, the
// cost the passthrough adds per streamed token when the names differ.
func BenchmarkSSEModelRewrite(b *testing.B) {
	ev := []byte(`data: {"id":"chatcmpl-0123456789","object":"chat.completion.chunk","created":1700000000,"model":"llama3.1:8b","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"hello"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	m := &sseMeter{model: []byte(`"llama3.1"`)}
	ds, de := eventDataAt(ev[:len(ev)-2])
	b.ReportAllocs()
	for b.Loop() {
		if out := m.rewriteModel(ev, ds, de); len(out) == len(ev) {
			b.Fatal("not rewritten")
		}
	}
}
