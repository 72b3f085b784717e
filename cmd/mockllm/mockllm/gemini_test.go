package mockllm

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func geminiKey(key string) map[string]string { return map[string]string{"x-goog-api-key": key} }

// readGeminiSSE reads a Gemini stream: data events until EOF.
func readGeminiSSE(t *testing.T, r io.Reader) []geminiResponse {
	t.Helper()
	var out []geminiResponse
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			if line != "" {
				t.Fatalf("unexpected line %q", line)
			}
			continue
		}
		if data == "[DONE]" {
			t.Fatal("Gemini streams have no [DONE]")
		}
		var c geminiResponse
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		out = append(out, c)
	}
	return out
}

func TestGeminiGenerateContent(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	body := `{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hello  world"}]}],"generationConfig":{"candidateCount":2}}`
	resp := do(t, ts, "POST", "/v1beta/models/gemini-x:generateContent", body, geminiKey("k"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := decode[geminiResponse](t, resp.Body)
	if len(got.Candidates) != 2 || got.Candidates[1].Index != 1 || got.Candidates[0].FinishReason != "STOP" ||
		got.Candidates[0].Content.Role != "model" || got.Candidates[0].Content.Parts[0].Text != "mock reply to: hello world" {
		t.Fatalf("response = %+v", got)
	}
	if u := got.UsageMetadata; u.PromptTokenCount != 4 || u.CandidatesTokenCount != 10 || u.TotalTokenCount != 14 || got.ModelVersion != "gemini-x" {
		t.Errorf("usage/model = %+v %q", u, got.ModelVersion)
	}

	// maxOutputTokens cuts the reply.
	resp = do(t, ts, "POST", "/v1beta/models/gemini-x:generateContent", `{"contents":[{"role":"user","parts":[{"text":"a b c"}]}],"generationConfig":{"maxOutputTokens":2}}`, geminiKey("k"))
	got = decode[geminiResponse](t, resp.Body)
	if got.Candidates[0].FinishReason != "MAX_TOKENS" || got.Candidates[0].Content.Parts[0].Text != "mock reply" {
		t.Errorf("limited = %+v", got)
	}
}

func TestGeminiToolCalls(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	tools := `"tools":[{"functionDeclarations":[{"name":"get_weather"},{"name":"other"}]}]`
	body := `{"contents":[{"role":"user","parts":[{"text":"What's the Weather in Paris?"}]}],` + tools + `}`
	got := decode[geminiResponse](t, do(t, ts, "POST", "/v1beta/models/g:generateContent", body, geminiKey("k")).Body)
	fc := got.Candidates[0].Content.Parts[0].FunctionCall
	if fc == nil || fc.Name != "get_weather" || fc.Args["city"] != "Paris" || got.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("response = %+v", got)
	}

	// Streamed: the call whole in one chunk, with the finish.
	resp := do(t, ts, "POST", "/v1beta/models/g:streamGenerateContent?alt=sse", body, geminiKey("k"))
	chunks := readGeminiSSE(t, resp.Body)
	if len(chunks) != 1 || chunks[0].Candidates[0].Content.Parts[0].FunctionCall == nil || chunks[0].Candidates[0].FinishReason != "STOP" {
		t.Fatalf("chunks = %+v", chunks)
	}

	// A tool result is echoed.
	body = `{"contents":[{"role":"user","parts":[{"text":"weather?"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}}]}],` + tools + `}`
	got = decode[geminiResponse](t, do(t, ts, "POST", "/v1beta/models/g:generateContent", body, geminiKey("k")).Body)
	if txt := got.Candidates[0].Content.Parts[0].Text; txt != "the tool said: 18C" {
		t.Errorf("tool result reply = %q", txt)
	}
	body = strings.Replace(body, `{"result":"18C"}`, `{"temp":18}`, 1)
	got = decode[geminiResponse](t, do(t, ts, "POST", "/v1beta/models/g:generateContent", body, geminiKey("k")).Body)
	if txt := got.Candidates[0].Content.Parts[0].Text; txt != `the tool said: {"temp":18}` {
		t.Errorf("object tool result reply = %q", txt)
	}

	// Without tools, "weather" is just text.
	got = decode[geminiResponse](t, do(t, ts, "POST", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"weather"}]}]}`, geminiKey("k")).Body)
	if got.Candidates[0].Content.Parts[0].Text != "mock reply to: weather" {
		t.Errorf("no tools = %+v", got)
	}
}

func TestGeminiStream(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	body := `{"contents":[{"role":"user","parts":[{"text":"one two"}]}]}`
	resp := do(t, ts, "POST", "/v1beta/models/g:streamGenerateContent?alt=sse", body, geminiKey("k"))
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	chunks := readGeminiSSE(t, resp.Body)
	if len(chunks) != 5 {
		t.Fatalf("%d chunks, want 5 (one per word)", len(chunks))
	}
	var sb strings.Builder
	prev := 0
	for i, c := range chunks {
		sb.WriteString(c.Candidates[0].Content.Parts[0].Text)
		u := c.UsageMetadata
		if u.PromptTokenCount != 2 || u.CandidatesTokenCount != i+1 || u.CandidatesTokenCount < prev {
			t.Errorf("chunk %d usage %+v: want cumulative", i, u)
		}
		prev = u.CandidatesTokenCount
		if (c.Candidates[0].FinishReason != "") != (i == len(chunks)-1) {
			t.Errorf("chunk %d finish %q", i, c.Candidates[0].FinishReason)
		}
	}
	if sb.String() != "mock reply to: one two" {
		t.Errorf("text %q", sb.String())
	}

	// Without alt=sse: one JSON array, as Gemini does.
	resp = do(t, ts, "POST", "/v1beta/models/g:streamGenerateContent", body, geminiKey("k"))
	arr := decode[[]geminiResponse](t, resp.Body)
	if len(arr) != 5 {
		t.Errorf("array of %d", len(arr))
	}

	// n = 2: one chunk per candidate per word, usage running over both.
	resp = do(t, ts, "POST", "/v1beta/models/g:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":2}}`, geminiKey("k"))
	chunks = readGeminiSSE(t, resp.Body)
	if len(chunks) != 8 || chunks[7].UsageMetadata.CandidatesTokenCount != 8 || chunks[1].Candidates[0].Index != 1 || chunks[2].UsageMetadata.CandidatesTokenCount != 3 {
		t.Errorf("n=2 chunks = %+v", chunks)
	}
}

func TestGeminiErrorsAndAuth(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	check := func(resp *http.Response, status int, rpc string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Errorf("status %d, want %d", resp.StatusCode, status)
		}
		e := decode[geminiErrorBody](t, resp.Body)
		if e.Error.Code != status || e.Error.Status != rpc || e.Error.Message == "" {
			t.Errorf("error body %+v", e)
		}
	}
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent", body, nil), 401, "UNAUTHENTICATED")
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent", body, map[string]string{"Authorization": "Bearer k"}), 401, "UNAUTHENTICATED")
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent?key=k", body, nil), 401, "UNAUTHENTICATED")
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent", body, map[string]string{"x-goog-api-key": "k", HeaderStatus: "429"}), 429, "RESOURCE_EXHAUSTED")
	check(do(t, ts, "POST", "/v1beta/models/g:streamGenerateContent?alt=sse", body, map[string]string{"x-goog-api-key": "k", HeaderStatus: "503"}), 503, "UNAVAILABLE")
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent", `{"contents":[]}`, geminiKey("k")), 400, "INVALID_ARGUMENT")
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"user","parts":[{"text":"b"}]}]}`, geminiKey("k")), 400, "INVALID_ARGUMENT")
	check(do(t, ts, "POST", "/v1beta/models/g:generateContent", `{"contents":[{"role":"assistant","parts":[{"text":"a"}]}]}`, geminiKey("k")), 400, "INVALID_ARGUMENT")
	check(do(t, ts, "GET", "/v1beta/models/g:generateContent", "", geminiKey("k")), 405, "FAILED_PRECONDITION")

	// The OpenAI dialect is untouched.
	resp := do(t, ts, "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"Authorization": "Bearer k"})
	if resp.StatusCode != 200 {
		t.Errorf("OpenAI chat status %d", resp.StatusCode)
	}
}

func TestGeminiFailAfter(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	req, _ := http.NewRequest("POST", ts.URL+"/v1beta/models/g:streamGenerateContent?alt=sse", strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"a b c d"}]}]}`))
	req.Header.Set("x-goog-api-key", "k")
	req.Header.Set(HeaderFailAfter, "2")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("stream ended cleanly: %s", b)
	}
	if n := strings.Count(string(b), "data: "); n != 2 {
		t.Errorf("%d events before the abort, want 2", n)
	}
}

func TestGeminiEmbeddings(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "k"})
	resp := do(t, ts, "POST", "/v1beta/models/text-embedding-004:embedContent", `{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello"}]}}`, geminiKey("k"))
	one := decode[struct {
		Embedding geminiEmbedding `json:"embedding"`
	}](t, resp.Body)
	if len(one.Embedding.Values) != EmbeddingDimensions || one.Embedding.Values[0] != Embed("hello")[0] {
		t.Errorf("embedContent = %+v", one)
	}
	resp = do(t, ts, "POST", "/v1beta/models/e:batchEmbedContents", `{"requests":[{"model":"models/e","content":{"parts":[{"text":"a"}]},"outputDimensionality":3},{"model":"models/e","content":{"parts":[{"text":"b"}]}}]}`, geminiKey("k"))
	batch := decode[struct {
		Embeddings []geminiEmbedding `json:"embeddings"`
	}](t, resp.Body)
	if len(batch.Embeddings) != 2 || len(batch.Embeddings[0].Values) != 3 || len(batch.Embeddings[1].Values) != EmbeddingDimensions || batch.Embeddings[1].Values[0] != Embed("b")[0] {
		t.Errorf("batch = %+v", batch)
	}
	resp = do(t, ts, "POST", "/v1beta/models/e:batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"a"}]}}]}`, geminiKey("k"))
	if resp.StatusCode != 400 {
		t.Errorf("model mismatch status %d", resp.StatusCode)
	}
	resp = do(t, ts, "POST", "/v1beta/models/e:embedContent", `{"content":{"parts":[]}}`, geminiKey("k"))
	if resp.StatusCode != 400 {
		t.Errorf("empty content status %d", resp.StatusCode)
	}
}
