package mockllm

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Cohere v2 dialect: POST /v2/chat (JSON, or SSE when "stream": true)
// and POST /v2/embed, with the key as "Authorization: Bearer" and errors
// as {"message": "..."}.
//
// Replies follow the OpenAI mock's rules (see the package documentation),
// plus tools: when the request offers tools and the last user message
// contains "weather", the answer calls the first tool with
// {"city":"Paris"} (streamed in two argument pieces, finish_reason
// TOOL_CALL); when the last message is a tool result, the answer is
// "the tool said: <result>". X-Mock-Fail-After aborts the connection after
// that many SSE events, as for OpenAI.
func init() {
	registerDialect(Dialect{
		Name: "cohere",
		Match: func(path string) bool {
			return path == "/v2/chat" || path == "/v2/embed"
		},
		Authorized: func(r *http.Request, key string) bool {
			v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			return ok && subtle.ConstantTimeCompare([]byte(v), []byte(key)) == 1
		},
		WriteError: writeCohereError,
		Serve:      serveCohere,
	})
}

// cohereToolPieces are the streamed pieces of the mock's tool arguments.
var cohereToolPieces = []string{`{"city": `, `"Paris"}`}

func writeCohereError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"id": "mock-error", "message": msg})
}

type cohereMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
	ToolPlan   string          `json:"tool_plan"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

type cohereRequest struct {
	Model     string          `json:"model"`
	Messages  []cohereMessage `json:"messages"`
	Stream    bool            `json:"stream"`
	MaxTokens *int            `json:"max_tokens"`
	Tools     []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// cohereText returns a message content's text: a string, or the text of an
// array of parts.
func cohereText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("content must be a string or an array of content parts")
	}
	var texts []string
	for _, p := range parts {
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, " "), nil
}

// coherePlan is the deterministic answer to a chat request.
type coherePlan struct {
	words    []string // the text reply, split into words
	toolID   string   // set when the answer calls a tool
	toolName string
	finish   string
	input    int
	output   int
}

func planCohere(req *cohereRequest, seq uint64) (p coherePlan, msg string) {
	if req.Model == "" {
		return p, "invalid request: model must be set"
	}
	if len(req.Messages) == 0 {
		return p, "invalid request: messages must not be empty"
	}
	lastUser, lastRole, lastTool := "", "", ""
	for i, m := range req.Messages {
		t, err := cohereText(m.Content)
		if err != nil {
			return p, fmt.Sprintf("invalid request: messages[%d]: %v", i, err)
		}
		switch m.Role {
		case "system", "user", "assistant":
		case "tool":
			if m.ToolCallID == "" {
				return p, fmt.Sprintf("invalid request: messages[%d]: a tool message needs tool_call_id", i)
			}
			lastTool = t
		default:
			return p, fmt.Sprintf("invalid request: messages[%d]: unknown role %q", i, m.Role)
		}
		p.input += len(strings.Fields(t)) + len(strings.Fields(m.ToolPlan))
		if m.Role == "user" {
			lastUser = t
		}
		lastRole = m.Role
	}
	p.input = max(p.input, 1)
	p.finish = "COMPLETE"
	switch {
	case lastRole == "tool":
		p.words = strings.Fields("the tool said: " + truncate(lastTool, maxEchoChars))
	case len(req.Tools) > 0 && strings.Contains(strings.ToLower(lastUser), "weather"):
		p.toolName = req.Tools[0].Function.Name
		p.toolID = p.toolName + "_mock_" + strconv.FormatUint(seq, 10)
		p.finish = "TOOL_CALL"
		p.output = len(cohereToolPieces)
		return p, ""
	default:
		p.words = strings.Fields(replyPrefix + truncate(lastUser, maxEchoChars))
	}
	if req.MaxTokens != nil && *req.MaxTokens > 0 && len(p.words) > *req.MaxTokens {
		p.words, p.finish = p.words[:*req.MaxTokens], "MAX_TOKENS"
	}
	p.output = len(p.words)
	return p, ""
}

func (p *coherePlan) usage() map[string]any {
	return map[string]any{
		"billed_units": map[string]int{"input_tokens": p.input, "output_tokens": p.output},
		"tokens":       map[string]int{"input_tokens": p.input, "output_tokens": p.output},
	}
}

func (p *coherePlan) toolCall() map[string]any {
	return map[string]any{"id": p.toolID, "type": "function",
		"function": map[string]string{"name": p.toolName, "arguments": strings.Join(cohereToolPieces, "")}}
}

func serveCohere(s *Server, w http.ResponseWriter, r *http.Request, body []byte, seq uint64, k knobs) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeCohereError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if strings.TrimSuffix(r.URL.Path, "/") == "/v2/embed" {
		serveCohereEmbed(w, body, k)
		return
	}
	var req cohereRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeCohereError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return
	}
	plan, msg := planCohere(&req, seq)
	if msg != "" {
		writeCohereError(w, http.StatusBadRequest, msg)
		return
	}
	id := "mock-cohere-" + strconv.FormatUint(seq, 10)
	if !req.Stream {
		if k.failAfter >= 0 {
			abort()
		}
		m := map[string]any{"role": "assistant"}
		if plan.toolID != "" {
			m["tool_plan"] = "I will call " + plan.toolName + "."
			m["tool_calls"] = []any{plan.toolCall()}
		} else {
			m["content"] = []any{map[string]string{"type": "text", "text": strings.Join(plan.words, " ")}}
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "finish_reason": plan.finish, "message": m, "usage": plan.usage()})
		return
	}
	delay := s.opts.ChunkDelay
	if k.hasChunk {
		delay = k.chunkDelay
	}
	streamCohere(w, r, id, &plan, delay, k.failAfter)
}

// streamCohere writes plan in Cohere's event sequence: message-start, then
// content-start/delta.../end or tool-plan-delta and
// tool-call-start/delta.../end, then message-end with usage.
func streamCohere(w http.ResponseWriter, r *http.Request, id string, plan *coherePlan, delay time.Duration, failAfter int) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	events := 0
	send := func(v map[string]any) bool {
		if failAfter >= 0 && events >= failAfter {
			abort()
		}
		if events > 0 && !sleep(r, delay) {
			return false
		}
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", v["type"], b); err != nil || rc.Flush() != nil {
			return false
		}
		events++
		return true
	}
	msg := func(m map[string]any) map[string]any { return map[string]any{"message": m} }
	if !send(map[string]any{"id": id, "type": "message-start", "delta": msg(map[string]any{"role": "assistant", "content": []any{}, "tool_plan": "", "tool_calls": []any{}, "citations": []any{}})}) {
		return
	}
	if plan.toolID != "" {
		for _, piece := range []string{"I will call ", plan.toolName + "."} {
			if !send(map[string]any{"type": "tool-plan-delta", "delta": msg(map[string]any{"tool_plan": piece})}) {
				return
			}
		}
		if !send(map[string]any{"type": "tool-call-start", "index": 0, "delta": msg(map[string]any{"tool_calls": map[string]any{
			"id": plan.toolID, "type": "function", "function": map[string]string{"name": plan.toolName, "arguments": ""}}})}) {
			return
		}
		for _, piece := range cohereToolPieces {
			if !send(map[string]any{"type": "tool-call-delta", "index": 0, "delta": msg(map[string]any{"tool_calls": map[string]any{"function": map[string]string{"arguments": piece}}})}) {
				return
			}
		}
		if !send(map[string]any{"type": "tool-call-end", "index": 0}) {
			return
		}
	} else {
		if !send(map[string]any{"type": "content-start", "index": 0, "delta": msg(map[string]any{"content": map[string]string{"type": "text", "text": ""}})}) {
			return
		}
		for i, word := range plan.words {
			if i < len(plan.words)-1 {
				word += " "
			}
			if !send(map[string]any{"type": "content-delta", "index": 0, "delta": msg(map[string]any{"content": map[string]string{"text": word}})}) {
				return
			}
		}
		if !send(map[string]any{"type": "content-end", "index": 0}) {
			return
		}
	}
	send(map[string]any{"type": "message-end", "delta": map[string]any{"finish_reason": plan.finish, "usage": plan.usage()}})
}

func serveCohereEmbed(w http.ResponseWriter, body []byte, k knobs) {
	var req struct {
		Model          string   `json:"model"`
		Texts          []string `json:"texts"`
		InputType      string   `json:"input_type"`
		EmbeddingTypes []string `json:"embedding_types"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeCohereError(w, http.StatusBadRequest, "invalid request: "+err.Error())
		return
	}
	switch {
	case req.Model == "":
		writeCohereError(w, http.StatusBadRequest, "invalid request: model must be set")
		return
	case len(req.Texts) == 0:
		writeCohereError(w, http.StatusBadRequest, "invalid request: texts must not be empty")
		return
	case req.InputType == "":
		writeCohereError(w, http.StatusBadRequest, "invalid request: input_type is required for embed models v3 and higher")
		return
	}
	float := len(req.EmbeddingTypes) == 0
	for _, t := range req.EmbeddingTypes {
		if t == "float" {
			float = true
		}
	}
	if !float {
		writeCohereError(w, http.StatusBadRequest, "invalid request: the mock serves embedding_types [\"float\"] only")
		return
	}
	if k.failAfter >= 0 {
		abort()
	}
	vectors := make([][]float32, len(req.Texts))
	tokens := 0
	for i, t := range req.Texts {
		vectors[i] = Embed(t)
		tokens += max(len(strings.Fields(t)), 1)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":            "mock-embed",
		"response_type": "embeddings_by_type",
		"embeddings":    map[string]any{"float": vectors},
		"texts":         req.Texts,
		"meta":          map[string]any{"api_version": map[string]string{"version": "2"}, "billed_units": map[string]int{"input_tokens": tokens}},
	})
}
