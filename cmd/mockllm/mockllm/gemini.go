package mockllm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Gemini dialect (Generative Language API, v1beta):
//
//   - POST /v1beta/models/{model}:generateContent
//   - POST /v1beta/models/{model}:streamGenerateContent — with ?alt=sse, one
//     SSE event per word of the reply, each a whole GenerateContentResponse
//     with cumulative usageMetadata, the last with finishReason; no end
//     sentinel. Without alt=sse, the same chunks as one JSON array, as
//     Gemini does.
//   - POST /v1beta/models/{model}:embedContent and :batchEmbedContents: the
//     same vectors as /v1/embeddings (EmbeddingDimensions long, cut to
//     outputDimensionality when smaller).
//
// The key is read from x-goog-api-key. Replies follow the OpenAI mock's
// rules (reply text, word-count tokens, maxOutputTokens → MAX_TOKENS,
// candidateCount choices); in addition, when the request declares functions
// and the last user turn says "weather", the answer calls the first one
// with {"city":"Paris"}, and when the last turn is a functionResponse the
// answer is "the tool said: <result>". Errors have Google's shape
// {"error":{"code","message","status"}}.

const geminiPrefix = "/v1beta/models/"

var geminiMethods = []string{":generateContent", ":streamGenerateContent", ":embedContent", ":batchEmbedContents"}

func init() {
	registerDialect(Dialect{
		Name: "gemini",
		Match: func(path string) bool {
			if !strings.HasPrefix(path, geminiPrefix) {
				return false
			}
			for _, m := range geminiMethods {
				if strings.HasSuffix(path, m) {
					return true
				}
			}
			return false
		},
		Authorized: func(r *http.Request, key string) bool { return headerKeyIs(r, "x-goog-api-key", key) },
		WriteError: writeGeminiError,
		Serve:      (*Server).serveGemini,
	})
}

// geminiStatus is the google.rpc status Google reports with an HTTP code.
func geminiStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

type geminiErrorBody struct {
	Error geminiErrorInner `json:"error"`
}

type geminiErrorInner struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func writeGeminiError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, geminiErrorBody{Error: geminiErrorInner{Code: status, Message: message, Status: geminiStatus(status)}})
}

type geminiPart struct {
	Text             string               `json:"text,omitempty"`
	FunctionCall     *geminiFunctionCall  `json:"functionCall,omitempty"`
	FunctionResponse *geminiFunctionReply `json:"functionResponse,omitempty"`
}

type geminiFunctionCall struct {
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
}

type geminiFunctionReply struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	GenerationConfig struct {
		MaxOutputTokens *int `json:"maxOutputTokens"`
		CandidateCount  *int `json:"candidateCount"`
	} `json:"generationConfig"`
}

type geminiCandidate struct {
	Content      geminiContent `json:"content"`
	FinishReason string        `json:"finishReason,omitempty"`
	Index        int           `json:"index"`
}

type geminiUsage struct {
	PromptTokenCount     int `json:"promptTokenCount"`
	CandidatesTokenCount int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount      int `json:"totalTokenCount"`
}

type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata geminiUsage       `json:"usageMetadata"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

// geminiPlan is the deterministic outcome of a generateContent request:
// either words of text or one function call.
type geminiPlan struct {
	words  []string
	call   *geminiFunctionCall
	finish string
	n      int
	prompt int
}

func (p *geminiPlan) completionTokens(words int) int {
	if p.call != nil {
		return 3 // the name and one argument: a fixed, plausible count
	}
	return words
}

func (s *Server) serveGemini(w http.ResponseWriter, r *http.Request, body []byte, seq uint64, k knobs) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeGeminiError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	model, method, _ := strings.Cut(strings.TrimPrefix(path, geminiPrefix), ":")
	if model == "" || strings.Contains(model, "/") {
		writeGeminiError(w, http.StatusNotFound, "mockllm: invalid model name in "+path)
		return
	}
	switch method {
	case "embedContent", "batchEmbedContents":
		s.geminiEmbed(w, model, method, body, k)
		return
	}
	var req geminiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeGeminiError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return
	}
	plan, msg := planGemini(&req)
	if msg != "" {
		writeGeminiError(w, http.StatusBadRequest, msg)
		return
	}
	id := "mock-" + strconv.FormatUint(seq, 10)
	chunks := plan.chunks(model, id)
	if method == "generateContent" {
		if k.failAfter >= 0 {
			abort()
		}
		writeJSON(w, http.StatusOK, plan.whole(model, id))
		return
	}
	if r.URL.Query().Get("alt") != "sse" {
		if k.failAfter >= 0 {
			abort()
		}
		writeJSON(w, http.StatusOK, chunks)
		return
	}
	delay := s.opts.ChunkDelay
	if k.hasChunk {
		delay = k.chunkDelay
	}
	s.geminiStream(w, r, chunks, delay, k.failAfter)
}

// planGemini validates req and derives the answer; a non-empty message
// means the request is invalid.
func planGemini(req *geminiRequest) (geminiPlan, string) {
	var p geminiPlan
	if len(req.Contents) == 0 {
		return p, "* GenerateContentRequest.contents: contents is not specified"
	}
	p.n = 1
	if c := req.GenerationConfig.CandidateCount; c != nil {
		if *c < 1 || *c > 8 {
			return p, "* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8"
		}
		p.n = *c
	}
	limit := 0
	if m := req.GenerationConfig.MaxOutputTokens; m != nil {
		if *m < 1 {
			return p, "* GenerateContentRequest.generation_config.max_output_tokens: must be positive"
		}
		limit = *m
	}
	words := 0
	if req.SystemInstruction != nil {
		words += len(strings.Fields(geminiText(req.SystemInstruction.Parts)))
	}
	lastUser := ""
	for i, c := range req.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return p, fmt.Sprintf("* GenerateContentRequest.contents[%d].role: Please use a valid role: user, model.", i)
		}
		if len(c.Parts) == 0 {
			return p, fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		if i > 0 && c.Role == req.Contents[i-1].Role {
			return p, fmt.Sprintf("* GenerateContentRequest.contents[%d]: roles must alternate between user and model", i)
		}
		t := geminiText(c.Parts)
		words += len(strings.Fields(t))
		if c.Role != "model" && t != "" {
			lastUser = t
		}
	}
	p.prompt = max(words, 1)
	p.finish = "STOP"

	last := req.Contents[len(req.Contents)-1]
	// The last turn is a tool result when it ends with a functionResponse
	// (of several, the last is echoed).
	result := last.Parts[len(last.Parts)-1].FunctionResponse
	switch {
	case last.Role != "model" && result != nil:
		p.words = strings.Fields("the tool said: " + truncate(functionResultText(result.Response), maxEchoChars))
	case len(req.Tools) > 0 && len(req.Tools[0].FunctionDeclarations) > 0 &&
		strings.Contains(strings.ToLower(lastUser), "weather"):
		p.call = &geminiFunctionCall{Name: req.Tools[0].FunctionDeclarations[0].Name, Args: map[string]any{"city": "Paris"}}
	default:
		p.words = strings.Fields(replyPrefix + truncate(lastUser, maxEchoChars))
	}
	if limit > 0 && len(p.words) > limit {
		p.words, p.finish = p.words[:limit], "MAX_TOKENS"
	}
	return p, ""
}

// geminiText joins the text parts with spaces.
func geminiText(parts []geminiPart) string {
	var texts []string
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " ")
}

// functionResultText is the text of a functionResponse.response: the
// string under "result", "content" or "output" when that is all it holds,
// else its JSON.
func functionResultText(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil && len(m) == 1 {
		for _, k := range []string{"result", "content", "output"} {
			var s string
			if v, ok := m[k]; ok && json.Unmarshal(v, &s) == nil {
				return s
			}
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

func (p *geminiPlan) usage(words int) geminiUsage {
	c := p.completionTokens(words) * p.n
	return geminiUsage{PromptTokenCount: p.prompt, CandidatesTokenCount: c, TotalTokenCount: p.prompt + c}
}

func (p *geminiPlan) parts(words []string) []geminiPart {
	if p.call != nil {
		return []geminiPart{{FunctionCall: p.call}}
	}
	return []geminiPart{{Text: strings.Join(words, " ")}}
}

// whole is the non-streamed answer.
func (p *geminiPlan) whole(model, id string) geminiResponse {
	resp := geminiResponse{ModelVersion: model, ResponseID: id, UsageMetadata: p.usage(len(p.words))}
	for i := range p.n {
		resp.Candidates = append(resp.Candidates, geminiCandidate{
			Content: geminiContent{Role: "model", Parts: p.parts(p.words)}, FinishReason: p.finish, Index: i,
		})
	}
	return resp
}

// chunks is the streamed answer: per word, one chunk per candidate, the
// usage running; the last word's chunks carry the finish reason. A
// function call comes whole in one chunk per candidate.
func (p *geminiPlan) chunks(model, id string) []geminiResponse {
	var out []geminiResponse
	steps := len(p.words)
	if p.call != nil || steps == 0 {
		steps = 1
	}
	for step := range steps {
		var parts []geminiPart
		switch {
		case p.call != nil:
			parts = p.parts(nil)
		case len(p.words) == 0:
			parts = []geminiPart{{Text: ""}}
		default:
			word := p.words[step]
			if step < len(p.words)-1 {
				word += " "
			}
			parts = []geminiPart{{Text: word}}
		}
		for i := range p.n {
			c := geminiCandidate{Content: geminiContent{Role: "model", Parts: parts}, Index: i}
			if step == steps-1 {
				c.FinishReason = p.finish
			}
			// Running totals: the choices up to this one have produced
			// this step's words, the others only the previous step's.
			done := p.completionTokens(min(step+1, len(p.words)))
			prev := 0
			if p.call == nil {
				prev = min(step, len(p.words))
			}
			ct := done*(i+1) + prev*(p.n-i-1)
			u := geminiUsage{PromptTokenCount: p.prompt, CandidatesTokenCount: ct, TotalTokenCount: p.prompt + ct}
			out = append(out, geminiResponse{Candidates: []geminiCandidate{c}, UsageMetadata: u, ModelVersion: model, ResponseID: id})
		}
	}
	return out
}

// geminiStream writes chunks as server-sent events, then ends the body:
// Gemini has no end sentinel.
func (s *Server) geminiStream(w http.ResponseWriter, r *http.Request, chunks []geminiResponse, delay time.Duration, failAfter int) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	for i, c := range chunks {
		if failAfter >= 0 && i >= failAfter {
			abort()
		}
		if i > 0 && !sleep(r, delay) {
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			return
		}
		if _, err := w.Write(append(append([]byte("data: "), b...), "\r\n\r\n"...)); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

type geminiEmbedRequest struct {
	Model                string        `json:"model"`
	Content              geminiContent `json:"content"`
	OutputDimensionality *int          `json:"outputDimensionality"`
}

type geminiEmbedding struct {
	Values []float32 `json:"values"`
}

func (s *Server) geminiEmbed(w http.ResponseWriter, model, method string, body []byte, k knobs) {
	var reqs []geminiEmbedRequest
	if method == "embedContent" {
		var one geminiEmbedRequest
		if err := json.Unmarshal(body, &one); err != nil {
			writeGeminiError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
			return
		}
		reqs = append(reqs, one)
	} else {
		var batch struct {
			Requests []geminiEmbedRequest `json:"requests"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			writeGeminiError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
			return
		}
		if len(batch.Requests) == 0 {
			writeGeminiError(w, http.StatusBadRequest, "* BatchEmbedContentsRequest.requests: requests must not be empty")
			return
		}
		reqs = batch.Requests
	}
	out := make([]geminiEmbedding, len(reqs))
	for i, req := range reqs {
		// Gemini requires each request of a batch to name the path's model.
		if method == "batchEmbedContents" && req.Model != "models/"+model {
			writeGeminiError(w, http.StatusBadRequest, fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: model %q does not match the batch's models/%s", i, req.Model, model))
			return
		}
		text := geminiText(req.Content.Parts)
		if text == "" {
			writeGeminiError(w, http.StatusBadRequest, "* EmbedContentRequest.content: contains an empty Part.")
			return
		}
		v := Embed(text)
		if d := req.OutputDimensionality; d != nil {
			if *d < 1 {
				writeGeminiError(w, http.StatusBadRequest, "* EmbedContentRequest.output_dimensionality: must be positive")
				return
			}
			if *d < len(v) {
				v = v[:*d]
			}
		}
		out[i] = geminiEmbedding{Values: v}
	}
	if k.failAfter >= 0 {
		abort()
	}
	if method == "embedContent" {
		writeJSON(w, http.StatusOK, map[string]geminiEmbedding{"embedding": out[0]})
		return
	}
	writeJSON(w, http.StatusOK, map[string][]geminiEmbedding{"embeddings": out})
}
