package mockllm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, r io.Reader) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		t.Fatalf("decoding response: %v", err)
	}
	return v
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkError asserts an OpenAI-style error response.
func checkError(t *testing.T, resp *http.Response, status int, typ string, code any) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	body := decode[map[string]map[string]any](t, resp.Body)
	e, ok := body["error"]
	if !ok {
		t.Fatalf("no error object in %v", body)
	}
	if got, want := keys(e), []string{"code", "message", "param", "type"}; !reflect.DeepEqual(got, want) {
		t.Errorf("error keys = %v, want %v", got, want)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("empty error message")
	}
	if e["type"] != typ {
		t.Errorf("error type = %v, want %v", e["type"], typ)
	}
	if e["code"] != code {
		t.Errorf("error code = %v, want %v", e["code"], code)
	}
}

func TestChatCompletion(t *testing.T) {
	long := strings.Repeat("x", 250)
	tests := []struct {
		name        string
		body        string
		wantContent string
		wantFinish  string
		wantPrompt  int
		wantChoices int
	}{
		{
			name:        "string content",
			body:        `{"model":"mock-gpt","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there,  world"}]}`,
			wantContent: "mock reply to: Hello there, world",
			wantFinish:  "stop",
			wantPrompt:  6,
			wantChoices: 1,
		},
		{
			name:        "last user message wins",
			body:        `{"model":"m","messages":[{"role":"user","content":"first one"},{"role":"assistant","content":"ok"},{"role":"user","content":"second"},{"role":"assistant","content":null,"tool_calls":[]}]}`,
			wantContent: "mock reply to: second",
			wantFinish:  "stop",
			wantPrompt:  4,
			wantChoices: 1,
		},
		{
			name:        "array of parts",
			body:        `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"describe"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"this image"}]}]}`,
			wantContent: "mock reply to: describe this image",
			wantFinish:  "stop",
			wantPrompt:  3,
			wantChoices: 1,
		},
		{
			name:        "max_tokens truncates",
			body:        `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"one two three"}]}`,
			wantContent: "mock reply to: one",
			wantFinish:  "length",
			wantPrompt:  3,
			wantChoices: 1,
		},
		{
			name:        "max_completion_tokens wins",
			body:        `{"model":"m","max_tokens":2,"max_completion_tokens":5,"messages":[{"role":"user","content":"one two three"}]}`,
			wantContent: "mock reply to: one two",
			wantFinish:  "length",
			wantPrompt:  3,
			wantChoices: 1,
		},
		{
			name:        "max_tokens larger than reply",
			body:        `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			wantContent: "mock reply to: hi",
			wantFinish:  "stop",
			wantPrompt:  1,
			wantChoices: 1,
		},
		{
			name:        "long message truncated to 200 chars",
			body:        `{"model":"m","messages":[{"role":"user","content":"` + long + `"}]}`,
			wantContent: "mock reply to: " + long[:200],
			wantFinish:  "stop",
			wantPrompt:  1,
			wantChoices: 1,
		},
		{
			name:        "no user message, empty prompt counts 1",
			body:        `{"model":"m","messages":[{"role":"system","content":""}]}`,
			wantContent: "mock reply to:",
			wantFinish:  "stop",
			wantPrompt:  1,
			wantChoices: 1,
		},
		{
			name:        "n choices",
			body:        `{"model":"m","n":3,"messages":[{"role":"user","content":"a b"}]}`,
			wantContent: "mock reply to: a b",
			wantFinish:  "stop",
			wantPrompt:  2,
			wantChoices: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, Options{})
			resp := do(t, ts, "POST", "/v1/chat/completions", tt.body, nil)
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status = %d: %s", resp.StatusCode, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			raw := decode[map[string]any](t, resp.Body)
			if got, want := keys(raw), []string{"choices", "created", "id", "model", "object", "system_fingerprint", "usage"}; !reflect.DeepEqual(got, want) {
				t.Errorf("keys = %v, want %v", got, want)
			}
			if id, _ := raw["id"].(string); !strings.HasPrefix(id, "chatcmpl-mock-") {
				t.Errorf("id = %q", id)
			}
			if raw["object"] != "chat.completion" {
				t.Errorf("object = %v", raw["object"])
			}
			if created, _ := raw["created"].(float64); created < 1e9 {
				t.Errorf("created = %v", raw["created"])
			}
			var req struct{ Model string }
			_ = json.Unmarshal([]byte(tt.body), &req)
			if raw["model"] != req.Model {
				t.Errorf("model = %v, want %v", raw["model"], req.Model)
			}

			choices := raw["choices"].([]any)
			if len(choices) != tt.wantChoices {
				t.Fatalf("len(choices) = %d, want %d", len(choices), tt.wantChoices)
			}
			for i, c := range choices {
				c := c.(map[string]any)
				if got, want := keys(c), []string{"finish_reason", "index", "logprobs", "message"}; !reflect.DeepEqual(got, want) {
					t.Errorf("choice keys = %v, want %v", got, want)
				}
				if c["index"] != float64(i) || c["logprobs"] != nil || c["finish_reason"] != tt.wantFinish {
					t.Errorf("choice %d = %v", i, c)
				}
				wantMsg := map[string]any{"role": "assistant", "content": tt.wantContent, "refusal": nil}
				if !reflect.DeepEqual(c["message"], wantMsg) {
					t.Errorf("message = %v, want %v", c["message"], wantMsg)
				}
			}

			completion := len(strings.Fields(tt.wantContent)) * tt.wantChoices
			wantUsage := map[string]any{
				"prompt_tokens":             float64(tt.wantPrompt),
				"completion_tokens":         float64(completion),
				"total_tokens":              float64(tt.wantPrompt + completion),
				"prompt_tokens_details":     map[string]any{"cached_tokens": 0.0},
				"completion_tokens_details": map[string]any{"reasoning_tokens": 0.0},
			}
			if !reflect.DeepEqual(raw["usage"], wantUsage) {
				t.Errorf("usage = %v, want %v", raw["usage"], wantUsage)
			}
		})
	}
}

func TestChatCompletionIDsAreSequential(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	body := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	a := decode[chatCompletion](t, do(t, ts, "POST", "/v1/chat/completions", body, nil).Body)
	b := decode[chatCompletion](t, do(t, ts, "POST", "/v1/chat/completions", body, nil).Body)
	if a.ID != "chatcmpl-mock-1" || b.ID != "chatcmpl-mock-2" {
		t.Errorf("ids = %q, %q", a.ID, b.ID)
	}
	if !reflect.DeepEqual(a.Choices[0].Message, b.Choices[0].Message) || a.Usage != b.Usage {
		t.Errorf("replies differ for the same request: %+v vs %+v", a, b)
	}
}

// readEvents reads SSE "data:" payloads until EOF or an error.
func readEvents(r io.Reader) ([]string, error) {
	var events []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return events, errors.New("unexpected SSE line: " + line)
		}
		events = append(events, data)
	}
	return events, sc.Err()
}

func TestChatCompletionStreaming(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		includeUsage bool
		wantWords    []string
		wantFinish   string
		wantPrompt   int
	}{
		{
			name:       "without usage",
			body:       `{"model":"mock-gpt","stream":true,"messages":[{"role":"user","content":"hello streaming world"}]}`,
			wantWords:  []string{"mock ", "reply ", "to: ", "hello ", "streaming ", "world"},
			wantFinish: "stop",
			wantPrompt: 3,
		},
		{
			name:         "include_usage",
			body:         `{"model":"mock-gpt","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"sys prompt"},{"role":"user","content":"hello"}]}`,
			includeUsage: true,
			wantWords:    []string{"mock ", "reply ", "to: ", "hello"},
			wantFinish:   "stop",
			wantPrompt:   3,
		},
		{
			name:         "max_tokens",
			body:         `{"model":"mock-gpt","stream":true,"max_tokens":2,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`,
			includeUsage: true,
			wantWords:    []string{"mock ", "reply"},
			wantFinish:   "length",
			wantPrompt:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, Options{ChunkDelay: time.Millisecond})
			resp := do(t, ts, "POST", "/v1/chat/completions", tt.body, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			events, err := readEvents(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			// role + words + finish [+ usage] + [DONE]
			want := 1 + len(tt.wantWords) + 1 + 1
			if tt.includeUsage {
				want++
			}
			if len(events) != want {
				t.Fatalf("got %d events, want %d: %q", len(events), want, events)
			}
			if events[len(events)-1] != "[DONE]" {
				t.Errorf("last event = %q, want [DONE]", events[len(events)-1])
			}

			var id string
			var content strings.Builder
			for i, ev := range events[:len(events)-1] {
				var raw map[string]any
				if err := json.Unmarshal([]byte(ev), &raw); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if raw["object"] != "chat.completion.chunk" || raw["model"] != "mock-gpt" || raw["system_fingerprint"] != SystemFingerprint {
					t.Errorf("event %d header fields: %v", i, raw)
				}
				if i == 0 {
					id, _ = raw["id"].(string)
					if !strings.HasPrefix(id, "chatcmpl-mock-") {
						t.Errorf("id = %q", id)
					}
				} else if raw["id"] != id {
					t.Errorf("event %d id = %v, want %v", i, raw["id"], id)
				}
				usage, hasUsage := raw["usage"]
				choices := raw["choices"].([]any)

				isUsageChunk := tt.includeUsage && i == len(events)-2
				if isUsageChunk {
					if len(choices) != 0 {
						t.Errorf("usage chunk choices = %v, want []", choices)
					}
					completion := len(tt.wantWords)
					wantUsage := map[string]any{
						"prompt_tokens":             float64(tt.wantPrompt),
						"completion_tokens":         float64(completion),
						"total_tokens":              float64(tt.wantPrompt + completion),
						"prompt_tokens_details":     map[string]any{"cached_tokens": 0.0},
						"completion_tokens_details": map[string]any{"reasoning_tokens": 0.0},
					}
					if !reflect.DeepEqual(usage, wantUsage) {
						t.Errorf("usage = %v, want %v", usage, wantUsage)
					}
					continue
				}
				if tt.includeUsage && (!hasUsage || usage != nil) {
					t.Errorf("event %d: usage = %v (present %t), want null", i, usage, hasUsage)
				}
				if !tt.includeUsage && hasUsage {
					t.Errorf("event %d: usage present without include_usage", i)
				}
				if len(choices) != 1 {
					t.Fatalf("event %d: %d choices", i, len(choices))
				}
				c := choices[0].(map[string]any)
				delta := c["delta"].(map[string]any)
				if c["index"] != 0.0 || c["logprobs"] != nil {
					t.Errorf("event %d choice = %v", i, c)
				}
				switch {
				case i == 0:
					if !reflect.DeepEqual(delta, map[string]any{"role": "assistant", "content": ""}) || c["finish_reason"] != nil {
						t.Errorf("first chunk = %v", c)
					}
				case i <= len(tt.wantWords):
					want := map[string]any{"content": tt.wantWords[i-1]}
					if !reflect.DeepEqual(delta, want) || c["finish_reason"] != nil {
						t.Errorf("content chunk %d = %v, want delta %v", i, c, want)
					}
					content.WriteString(delta["content"].(string))
				default:
					if len(delta) != 0 || c["finish_reason"] != tt.wantFinish {
						t.Errorf("finish chunk = %v", c)
					}
				}
			}
			if got, want := content.String(), strings.Join(tt.wantWords, ""); got != want {
				t.Errorf("streamed content = %q, want %q", got, want)
			}
		})
	}
}

func TestStreamingMatchesNonStreaming(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	msgs := `"messages":[{"role":"user","content":"  spaced\tout\n text "}]`
	full := decode[chatCompletion](t, do(t, ts, "POST", "/v1/chat/completions", `{"model":"m",`+msgs+`}`, nil).Body)
	events, err := readEvents(do(t, ts, "POST", "/v1/chat/completions", `{"model":"m","stream":true,`+msgs+`}`, nil).Body)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, ev := range events[:len(events)-1] {
		var c chatChunk
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil {
			got.WriteString(*c.Choices[0].Delta.Content)
		}
	}
	if got.String() != *full.Choices[0].Message.Content {
		t.Errorf("streamed %q, non-streamed %q", got.String(), *full.Choices[0].Message.Content)
	}
}

// embeddingsReply decodes a /v1/embeddings response with either encoding.
type embeddingsReply struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string         `json:"model"`
	Usage map[string]int `json:"usage"`
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		wantKeys   []string // hash keys, to compare vectors against embed()
		wantTokens int
	}{
		{"string", `"hello world"`, []string{"s:hello world"}, 2},
		{"array of strings", `["a","b c d"]`, []string{"s:a", "s:b c d"}, 4},
		{"token array", `[1,2,3]`, []string{"t:1,2,3"}, 3},
		{"array of token arrays", `[[1,2],[3]]`, []string{"t:1,2", "t:3"}, 3},
	}
	for _, tt := range tests {
		for _, format := range []string{"", "float", "base64"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				_, ts := newTestServer(t, Options{})
				body := `{"model":"mock-embedding","input":` + tt.input
				if format != "" {
					body += `,"encoding_format":"` + format + `"`
				}
				resp := do(t, ts, "POST", "/v1/embeddings", body+"}", nil)
				if resp.StatusCode != http.StatusOK {
					b, _ := io.ReadAll(resp.Body)
					t.Fatalf("status = %d: %s", resp.StatusCode, b)
				}
				got := decode[embeddingsReply](t, resp.Body)
				if got.Object != "list" || got.Model != "mock-embedding" {
					t.Errorf("object/model = %q/%q", got.Object, got.Model)
				}
				if want := map[string]int{"prompt_tokens": tt.wantTokens, "total_tokens": tt.wantTokens}; !reflect.DeepEqual(got.Usage, want) {
					t.Errorf("usage = %v, want %v", got.Usage, want)
				}
				if len(got.Data) != len(tt.wantKeys) {
					t.Fatalf("len(data) = %d, want %d", len(got.Data), len(tt.wantKeys))
				}
				for i, d := range got.Data {
					if d.Object != "embedding" || d.Index != i {
						t.Errorf("data[%d] = %+v", i, d)
					}
					var vec []float32
					if format == "base64" {
						var s string
						if err := json.Unmarshal(d.Embedding, &s); err != nil {
							t.Fatalf("base64 embedding is not a string: %s", d.Embedding)
						}
						b, err := base64.StdEncoding.DecodeString(s)
						if err != nil || len(b) != 4*EmbeddingDimensions {
							t.Fatalf("bad base64 embedding %q: %v", s, err)
						}
						for j := 0; j < len(b); j += 4 {
							vec = append(vec, math.Float32frombits(binary.LittleEndian.Uint32(b[j:])))
						}
					} else if err := json.Unmarshal(d.Embedding, &vec); err != nil {
						t.Fatalf("float embedding: %v", err)
					}
					if want := embed([]byte(tt.wantKeys[i])); !reflect.DeepEqual(vec, want) {
						t.Errorf("data[%d] vector = %v, want %v", i, vec, want)
					}
					var norm float64
					for _, f := range vec {
						norm += float64(f) * float64(f)
					}
					if math.Abs(norm-1) > 1e-5 {
						t.Errorf("vector norm² = %v, want 1", norm)
					}
				}
			})
		}
	}
}

func TestEmbedDeterministic(t *testing.T) {
	a, b, c := Embed("same"), Embed("same"), Embed("different")
	if len(a) != EmbeddingDimensions || !reflect.DeepEqual(a, b) {
		t.Errorf("Embed not deterministic: %v vs %v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("different inputs gave the same vector")
	}
}

func TestEmbeddingsInvalid(t *testing.T) {
	for _, body := range []string{
		`{"model":"e"}`,
		`{"model":"e","input":""}`,
		`{"model":"e","input":[]}`,
		`{"model":"e","input":[{"x":1}]}`,
		`{"model":"e","input":"x","encoding_format":"hex"}`,
		`{"input":"x"}`,
	} {
		t.Run(body, func(t *testing.T) {
			_, ts := newTestServer(t, Options{})
			checkError(t, do(t, ts, "POST", "/v1/embeddings", body, nil), http.StatusBadRequest, "invalid_request_error", nil)
		})
	}
}

func TestModels(t *testing.T) {
	_, ts := newTestServer(t, Options{Models: []string{"a", "b"}})
	got := decode[map[string]any](t, do(t, ts, "GET", "/v1/models", "", nil).Body)
	want := map[string]any{"object": "list", "data": []any{
		map[string]any{"id": "a", "object": "model", "created": float64(ModelsCreated), "owned_by": "mockllm"},
		map[string]any{"id": "b", "object": "model", "created": float64(ModelsCreated), "owned_by": "mockllm"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("models = %v, want %v", got, want)
	}
	m := decode[model](t, do(t, ts, "GET", "/v1/models/b", "", nil).Body)
	if m != newModel("b") {
		t.Errorf("model = %+v", m)
	}
	checkError(t, do(t, ts, "GET", "/v1/models/zzz", "", nil), http.StatusNotFound, "invalid_request_error", "model_not_found")

	_, ts = newTestServer(t, Options{})
	list := decode[struct{ Data []model }](t, do(t, ts, "GET", "/v1/models", "", nil).Body)
	if len(list.Data) != len(DefaultModels) || list.Data[0].ID != "mock-gpt" {
		t.Errorf("default models = %+v", list.Data)
	}
}

func TestAuth(t *testing.T) {
	const key = "sk-provider-key-123"
	chat := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		auth       string
		wantStatus int
	}{
		{"missing", "POST", "/v1/chat/completions", chat, "", 401},
		{"wrong key", "POST", "/v1/chat/completions", chat, "Bearer sk-client-key", 401},
		{"not bearer", "POST", "/v1/chat/completions", chat, key, 401},
		{"right key", "POST", "/v1/chat/completions", chat, "Bearer " + key, 200},
		{"models needs key", "GET", "/v1/models", "", "", 401},
		{"embeddings with key", "POST", "/v1/embeddings", `{"model":"e","input":"x"}`, "Bearer " + key, 200},
		{"healthz is open", "GET", "/healthz", "", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, Options{APIKey: key})
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			resp := do(t, ts, tt.method, tt.path, tt.body, h)
			if tt.wantStatus == 401 {
				checkError(t, resp, 401, "invalid_request_error", "invalid_api_key")
				return
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestMockStatus(t *testing.T) {
	tests := []struct {
		header   string
		status   int
		wantType string
		wantCode any
	}{
		{"500", 500, "server_error", nil},
		{"503", 503, "server_error", nil},
		{"429", 429, "requests", "rate_limit_exceeded"},
		{"400", 400, "invalid_request_error", nil},
		{"200", 400, "invalid_request_error", nil}, // not an error status: rejected
		{"abc", 400, "invalid_request_error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			_, ts := newTestServer(t, Options{})
			for _, stream := range []string{"false", "true"} {
				resp := do(t, ts, "POST", "/v1/chat/completions",
					`{"model":"m","stream":`+stream+`,"messages":[{"role":"user","content":"hi"}]}`,
					map[string]string{HeaderStatus: tt.header})
				checkError(t, resp, tt.status, tt.wantType, tt.wantCode)
			}
		})
	}
}

func TestMockDelays(t *testing.T) {
	_, ts := newTestServer(t, Options{ChunkDelay: time.Hour})
	start := time.Now()
	resp := do(t, ts, "GET", "/v1/models", "", map[string]string{HeaderDelay: "50ms"})
	if resp.StatusCode != 200 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("status %d after %v, want 200 after >= 50ms", resp.StatusCode, time.Since(start))
	}

	// X-Mock-Chunk-Delay overrides the hour-long ChunkDelay; 8 events → 7 pauses.
	start = time.Now()
	resp = do(t, ts, "POST", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b"}]}`,
		map[string]string{HeaderChunkDelay: "10"})
	events, err := readEvents(resp.Body)
	if err != nil || len(events) != 8 {
		t.Fatalf("events = %q, err = %v", events, err)
	}
	if d := time.Since(start); d < 70*time.Millisecond || d > 10*time.Second {
		t.Errorf("stream took %v, want >= 70ms", d)
	}

	checkError(t, do(t, ts, "GET", "/v1/models", "", map[string]string{HeaderDelay: "soon"}), 400, "invalid_request_error", nil)
}

func TestClientCancelStopsStream(t *testing.T) {
	s := New(Options{ChunkDelay: time.Hour})
	returned := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line = %q, %v", line, err)
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not return after the client went away")
	}
}

func TestFailAfter(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	for _, n := range []int{0, 1, 3} {
		resp := do(t, ts, "POST", "/v1/chat/completions",
			`{"model":"m","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`,
			map[string]string{HeaderFailAfter: string(rune('0' + n))})
		if resp.StatusCode != 200 {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		events, err := readEvents(resp.Body)
		if err == nil {
			t.Errorf("fail-after %d: stream ended cleanly, want an abrupt error", n)
		}
		if len(events) != n {
			t.Errorf("fail-after %d: got %d events: %q", n, len(events), events)
		}
	}

	// Non-streaming: the connection is dropped before any response.
	req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set(HeaderFailAfter, "0")
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("non-streaming fail-after: got status %d, want a transport error", resp.StatusCode)
	}

	checkError(t, do(t, ts, "POST", "/v1/chat/completions", `{}`, map[string]string{HeaderFailAfter: "-1"}), 400, "invalid_request_error", nil)
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		param  string
	}{
		{"malformed chat JSON", "/v1/chat/completions", `{"model":`, 400, ""},
		{"chat not an object", "/v1/chat/completions", `[1,2]`, 400, ""},
		{"malformed embeddings JSON", "/v1/embeddings", `{nope}`, 400, ""},
		{"missing model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"no messages", "/v1/chat/completions", `{"model":"m","messages":[]}`, 400, "messages"},
		{"bad content", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":42}]}`, 400, "messages[0].content"},
		{"bad n", "/v1/chat/completions", `{"model":"m","n":0,"messages":[{"role":"user","content":"x"}]}`, 400, "n"},
		{"bad max_tokens", "/v1/chat/completions", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, 400, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, Options{})
			resp := do(t, ts, "POST", tt.path, tt.body, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body = io.NopCloser(bytes.NewReader(b))
			checkError(t, resp, tt.status, "invalid_request_error", nil)
			var e apiError
			_ = json.Unmarshal(b, &e)
			if got := ""; e.Error.Param != nil {
				got = *e.Error.Param
				if got != tt.param {
					t.Errorf("param = %q, want %q", got, tt.param)
				}
			} else if tt.param != "" {
				t.Errorf("param = null, want %q", tt.param)
			}
		})
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	checkError(t, do(t, ts, "POST", "/v1/completions-nope", "{}", nil), 404, "invalid_request_error", "unknown_url")
	checkError(t, do(t, ts, "GET", "/", "", nil), 404, "invalid_request_error", "unknown_url")
	resp := do(t, ts, "GET", "/v1/chat/completions", "", nil)
	if resp.Header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", resp.Header.Get("Allow"))
	}
	checkError(t, resp, 405, "invalid_request_error", "method_not_allowed")
}

func TestRecording(t *testing.T) {
	s, ts := newTestServer(t, Options{APIKey: "sk-provider"})
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	do(t, ts, "POST", "/v1/chat/completions?x=1", body, map[string]string{"Authorization": "Bearer sk-provider", "X-Custom": "v"})
	do(t, ts, "GET", "/v1/models", "", map[string]string{"Authorization": "Bearer sk-client"})

	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/chat/completions" || r.RawQuery != "x=1" || string(r.Body) != body {
		t.Errorf("recorded %+v", r)
	}
	if r.Header.Get("Authorization") != "Bearer sk-provider" || r.Header.Get("X-Custom") != "v" {
		t.Errorf("recorded headers %v", r.Header)
	}
	if reqs[1].Header.Get("Authorization") != "Bearer sk-client" || reqs[1].Method != "GET" {
		t.Errorf("rejected request recorded as %+v", reqs[1])
	}

	// The returned slice is a copy.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("Authorization", "changed")
	if again := s.Requests(); again[0].Body[0] != '{' || again[0].Header.Get("Authorization") != "Bearer sk-provider" {
		t.Errorf("Requests did not return a copy")
	}

	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("after Reset: %d requests", n)
	}
}

func TestMaxRecorded(t *testing.T) {
	s, ts := newTestServer(t, Options{MaxRecorded: 2})
	for _, p := range []string{"/a", "/b", "/c"} {
		do(t, ts, "GET", p, "", nil)
	}
	var paths []string
	for _, r := range s.Requests() {
		paths = append(paths, r.Path)
	}
	if !reflect.DeepEqual(paths, []string{"/b", "/c"}) {
		t.Errorf("paths = %v", paths)
	}

	s, ts = newTestServer(t, Options{MaxRecorded: -1})
	do(t, ts, "GET", "/v1/models", "", nil)
	if n := len(s.Requests()); n != 0 {
		t.Errorf("recording disabled but got %d", n)
	}
}

func TestTruncateRunes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"héllo", 2, "hé"},
		{"héllo", 5, "héllo"},
		{"héllo", 9, "héllo"},
		{"日本語", 1, "日"},
	} {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func BenchmarkChatCompletion(b *testing.B) {
	s := New(Options{MaxRecorded: -1})
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"benchmark me please"}]}`)
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body)))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkChatCompletionStream(b *testing.B) {
	s := New(Options{MaxRecorded: -1})
	body := []byte(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"benchmark me please"}]}`)
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("POST", "/v1/chat/completions", bytes.NewReader(body)))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
