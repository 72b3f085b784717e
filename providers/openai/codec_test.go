package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func reindent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return append(out.Bytes(), '\n')
}

func testdataFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	var matches []string
	for _, m := range all {
		if !strings.Contains(m, ".golden.") {
			matches = append(matches, m)
		}
	}
	if err != nil || len(matches) == 0 {
		t.Fatalf("no testdata in %s: %v", dir, err)
	}
	return matches
}

// TestRequestCodec decodes each client request to canonical form (golden),
// encodes it for an upstream (golden), and checks that the encoding decodes
// back to the same canonical request.
func TestRequestCodec(t *testing.T) {
	for _, path := range testdataFiles(t, "requests", ".json") {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			in, _ := os.ReadFile(path)
			req, err := DecodeChatRequest(in)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "requests/"+name+".golden.canonical.json", indent(t, req))
			for _, q := range []struct {
				name   string
				quirks *Quirks
			}{{"openai", nil}, {"compatible", &Quirks{MaxTokensField: "max_tokens", NoName: true, DropExtra: true}}} {
				out, err := EncodeChatRequest(req, q.quirks)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, "requests/"+name+".golden.upstream-"+q.name+".json", reindent(t, out))
				back, err := DecodeChatRequest(out)
				if err != nil {
					t.Fatalf("the encoding does not decode: %v", err)
				}
				want := *req
				if req.Stream {
					want.IncludeUsage = true // the gateway always asks a stream for usage
				}
				if q.quirks != nil { // DropExtra and NoName
					want.Extra = nil
					want.Messages = append([]providers.Message(nil), req.Messages...)
					for i := range want.Messages {
						want.Messages[i].Name = ""
					}
				}
				if a, b := indent(t, back), indent(t, &want); !bytes.Equal(a, b) {
					t.Errorf("round trip (%s) changed the request:\n got: %s\nwant: %s", q.name, a, b)
				}
			}
		})
	}
}

func TestDecodeChatRequestRejects(t *testing.T) {
	tests := []struct{ name, body, param string }{
		{"not an object", `[1]`, ""},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"no messages", `{"model":"m","messages":[]}`, "messages"},
		{"unknown role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role"},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"bad content", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "messages[0].content[0].type"},
		{"bad image", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"bad base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"bad tool_choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{"bad stop", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`, "stop"},
		{"zero max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens"},
		{"n too big", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":1000}`, "n"},
		{"custom tool", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","function":{"name":"f"}}]}`, "tools[0].type"},
		{"wrong type", `{"model":"m","messages":"hi"}`, "messages"},
	}
	for _, tt := range tests {
		_, err := DecodeChatRequest([]byte(tt.body))
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Param != tt.param || pe.Message == "" {
			t.Errorf("%s: got %v (param %q), want a 400 naming %q", tt.name, err, paramOf(pe), tt.param)
		}
	}
}

func paramOf(e *providers.Error) string {
	if e == nil {
		return ""
	}
	return e.Param
}

func TestQuirks(t *testing.T) {
	req, _ := DecodeChatRequest([]byte(`{"model":"m","n":2,"logprobs":true,"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"call_abcdefghijklmnop","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_abcdefghijklmnop","content":"r"}]}`))
	if _, err := EncodeChatRequest(req, &Quirks{NoN: true}); err == nil {
		t.Error("n=2 accepted by a host that has one choice")
	}
	req.N = 0
	out, _ := EncodeChatRequest(req, &Quirks{DropFields: []string{"logprobs"}, ToolCallIDs: func(id string) string { return id[len(id)-9:] }})
	if strings.Contains(string(out), "logprobs") || strings.Count(string(out), `"jklmnop"`) != 0 || strings.Count(string(out), `"hijklmnop"`) != 2 {
		t.Errorf("quirks not applied: %s", out)
	}
}

// TestStreamDecoder turns each upstream stream into canonical events (golden).
func TestStreamDecoder(t *testing.T) {
	for _, path := range testdataFiles(t, "streams", ".sse") {
		name := strings.TrimSuffix(filepath.Base(path), ".sse")
		t.Run(name, func(t *testing.T) {
			raw, _ := os.ReadFile(path)
			events := decodeAll(t, raw)
			var out bytes.Buffer
			for _, ev := range events {
				b, _ := json.Marshal(ev)
				out.Write(b)
				out.WriteByte('\n')
			}
			golden(t, "streams/"+name+".golden.events.jsonl", out.Bytes())

			// Encoding the events for an OpenAI client, then decoding that,
			// gives the same events back.
			var enc bytes.Buffer
			se := NewStreamEncoder(&enc, true)
			failed := false
			for _, ev := range events {
				if err := se.Encode(ev); err != nil {
					t.Fatal(err)
				}
				failed = failed || ev.Type == providers.EventError
			}
			if !failed {
				_ = se.End()
			}
			golden(t, "streams/"+name+".golden.client.sse", enc.Bytes())
			again := decodeAll(t, enc.Bytes())
			// (An error event's status is not on the wire: those streams are
			// checked by their goldens alone.)
			if a, b := indent(t, again), indent(t, events); !failed && !bytes.Equal(a, b) {
				t.Errorf("re-encoded stream decodes differently:\n got: %s\nwant: %s", a, b)
			}
		})
	}
}

func decodeAll(t *testing.T, raw []byte) []providers.Event {
	t.Helper()
	s := NewStream(io.NopCloser(bytes.NewReader(raw)))
	defer s.Close()
	var events []providers.Event
	for i := 0; ; i++ {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 10000 {
			t.Fatal("the stream does not end")
		}
		events = append(events, ev)
	}
}

func TestStreamEncoderWithoutUsage(t *testing.T) {
	var b bytes.Buffer
	e := NewStreamEncoder(&b, false)
	for _, ev := range []providers.Event{
		{Type: providers.EventStart, ID: "x", Model: "m", Created: 1},
		{Type: providers.EventText, Text: "hi"},
		{Type: providers.EventFinish, FinishReason: providers.FinishStop},
		{Type: providers.EventUsage, Usage: &providers.Usage{PromptTokens: 1, CompletionTokens: 1}},
	} {
		_ = e.Encode(ev)
	}
	_ = e.End()
	s := b.String()
	if strings.Contains(s, `"usage"`) || strings.Contains(s, `"choices":[]`) || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("a client that did not ask for usage got it, or no [DONE]:\n%s", s)
	}
	if strings.Count(s, `"role":"assistant"`) != 1 {
		t.Fatalf("the role must come once, first:\n%s", s)
	}
}

// TestResponseCodec decodes upstream answers (golden) and encodes them back.
func TestResponseCodec(t *testing.T) {
	for _, path := range testdataFiles(t, "responses", ".json") {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			raw, _ := os.ReadFile(path)
			resp, err := DecodeChatResponse(raw)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "responses/"+name+".golden.canonical.json", indent(t, resp))
			out, err := EncodeChatResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "responses/"+name+".golden.client.json", reindent(t, out))
			back, _ := DecodeChatResponse(out)
			if a, b := indent(t, back), indent(t, resp); !bytes.Equal(a, b) {
				t.Errorf("round trip:\n got: %s\nwant: %s", a, b)
			}
		})
	}
}

func TestEmbeddingCodec(t *testing.T) {
	req, format, err := DecodeEmbeddingRequest([]byte(`{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":8}`))
	if err != nil || format != "base64" || len(req.Inputs) != 2 || *req.Dimensions != 8 {
		t.Fatalf("%+v %q %v", req, format, err)
	}
	for _, bad := range []string{`{"model":"e","input":[1,2]}`, `{"model":"e","input":""}`, `{"model":"e","input":[]}`, `{"input":"x"}`, `{"model":"e","input":"x","encoding_format":"hex"}`} {
		if _, _, err := DecodeEmbeddingRequest([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	resp := &providers.EmbeddingResponse{Model: "e", Vectors: [][]float32{{1, -2.5}}, Usage: providers.Usage{PromptTokens: 3}}
	for _, f := range []string{"float", "base64"} {
		out := EncodeEmbeddingResponse(resp, f)
		var w wireEmbeddingResponse
		if err := json.Unmarshal(out, &w); err != nil || len(w.Data) != 1 {
			t.Fatalf("%s: %s", f, out)
		}
		v, err := decodeVector(w.Data[0].Embedding)
		if err != nil || len(v) != 2 || v[0] != 1 || v[1] != -2.5 || w.Usage.PromptTokens != 3 {
			t.Fatalf("%s: %v %v", f, v, err)
		}
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, p := range []string{"full", "minimal", "tool_choice_modes"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "requests", p+".json"))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeChatRequest(body)
		if err != nil {
			var pe *providers.Error
			if !errors.As(err, &pe) || pe.Status != 400 {
				t.Fatalf("garbage must be a 400, got %v", err)
			}
			return
		}
		if _, err := EncodeChatRequest(req, nil); err != nil {
			t.Fatalf("a decoded request does not encode: %v", err)
		}
	})
}

func FuzzStreamDecoder(f *testing.F) {
	for _, p := range []string{"text_usage", "parallel_tools", "midstream_error"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "streams", p+".sse"))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := NewStream(io.NopCloser(bytes.NewReader(raw)))
		for i := 0; i <= len(raw)+2; i++ {
			if _, err := s.Next(); err != nil {
				return
			}
		}
		t.Fatal("more events than input bytes: the decoder does not end")
	})
}

// FuzzDecodeChatRequestReference: DecodeChatRequest, fast decoder and all,
// decodes any body exactly as the encoding/json decoder it replaced:
// the same canonical request, or the same error.
func FuzzDecodeChatRequestReference(f *testing.F) {
	for _, p := range []string{"full", "minimal", "tool_choice_modes"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "requests", p+".json"))
		f.Add(b)
	}
	f.Add([]byte(benchRequest))
	for _, s := range []string{
		`null`, `[1]`, `"x"`, `{}`, `{"model":"m","messages":[{"role":"user","content":"x"}],"Model":"n"}`,
		`{"model":"m","model":"n","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"m","messages":[{"role":"user","content":null,"content":"y"}],"\u006dodel":"n"}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]}],"logprobs":true,"top_logprobs":2,"metadata":{"a":"b"}}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":" "}}]}],"n":null,"seed":1e2}`,
		`{"model":"m","messages":[{"role":"user","content":5}],"temperature":"hot"}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b"],"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}}}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":9223372036854775807,"ſtream":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := DecodeChatRequest(body)
		want, wantErr := decodeChatRequestJSON(body)
		if !reflect.DeepEqual(err, wantErr) {
			t.Fatalf("%s:\nerror %#v\nwant  %#v", body, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", body, indent(t, got), indent(t, want))
		}
	})
}

// The benchmark's request and the fixtures take the fast decoder.
func TestDecodeChatRequestFastPath(t *testing.T) {
	bodies := [][]byte{[]byte(benchRequest)}
	for _, p := range []string{"full", "minimal", "tool_choice_modes"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "requests", p+".json"))
		bodies = append(bodies, b)
	}
	for _, body := range bodies {
		var in requestIn
		var r wirejson.Reader
		r.Reset(body)
		in.readJSON(&r)
		if !r.End() {
			t.Errorf("the fast decoder left %s to encoding/json", body)
		}
	}
}
