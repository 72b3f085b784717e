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

// The Anthropic Messages API dialect:
//
//   - POST /v1/messages: the same deterministic reply as chat completions
//     ("mock reply to: " + the last user text, cut to max_tokens words with
//     stop_reason max_tokens). When the request offers tools and the last
//     user text contains "weather", the answer is a tool_use of the first
//     tool with input {"city":"Paris"} (stop_reason tool_use; streamed in two
//     input_json_delta pieces). When the last user turn holds a tool_result,
//     the answer is "the tool said: <result text>". Streams follow the API's
//     exact sequence: message_start, content_block_start, ping, deltas (one
//     per word), content_block_stop, message_delta, message_stop.
//   - POST /v1/messages/count_tokens: {"input_tokens": words of the prompt}.
//
// The key is read from x-api-key; errors have Anthropic's shape, with the
// type matching the status (529 overloaded_error, with retry-after).
func init() {
	registerDialect(Dialect{
		Name: "anthropic",
		Match: func(path string) bool {
			return path == "/v1/messages" || path == "/v1/messages/count_tokens"
		},
		Authorized: func(r *http.Request, key string) bool { return headerKeyIs(r, "x-api-key", key) },
		WriteError: writeAnthError,
		Serve:      serveAnth,
	})
}

// anthErrorType is Anthropic's error type for an HTTP status.
func anthErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529, http.StatusServiceUnavailable:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func writeAnthError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusTooManyRequests || status == 529 {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, anthErrorBody(anthErrorType(status), msg))
}

func anthErrorBody(typ, msg string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}}
}

type anthMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`
	Content json.RawMessage `json:"content"` // tool_result
}

type anthRequest struct {
	Model     string          `json:"model"`
	MaxTokens *int            `json:"max_tokens"`
	System    json.RawMessage `json:"system"`
	Messages  []anthMessage   `json:"messages"`
	Tools     []struct {
		Name string `json:"name"`
	} `json:"tools"`
	Stream bool `json:"stream"`
}

// anthText returns the text of content (a string or blocks), the text of
// its tool results, and whether it holds any tool_result.
func anthText(raw json.RawMessage) (text, results string, hasResult bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", "", false, nil
	}
	if raw[0] == '"' {
		err = json.Unmarshal(raw, &text)
		return text, "", false, err
	}
	var blocks []anthBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", "", false, fmt.Errorf("content must be a string or an array of content blocks")
	}
	var texts, res []string
	for _, b := range blocks {
		switch b.Type {
		case "text":
			texts = append(texts, b.Text)
		case "tool_result":
			hasResult = true
			t, _, _, err := anthText(b.Content)
			if err != nil {
				return "", "", false, err
			}
			res = append(res, t)
		}
	}
	return strings.Join(texts, " "), strings.Join(res, " "), hasResult, nil
}

// anthPlan is the deterministic outcome of a Messages request.
type anthPlan struct {
	words       []string // text reply, in words
	tool        string   // name of the tool to call, "" for text
	stop        string
	inputTokens int
}

// anthToolPieces is the tool input {"city":"Paris"}, in the two pieces the
// stream sends.
var anthToolPieces = []string{`{"city": `, `"Paris"}`}

func planAnth(req *anthRequest, count bool) (p anthPlan, msg string) {
	if req.Model == "" {
		return p, "model: field required"
	}
	if !count {
		if req.MaxTokens == nil {
			return p, "max_tokens: field required"
		}
		if *req.MaxTokens < 1 {
			return p, "max_tokens: must be at least 1"
		}
	}
	if len(req.Messages) == 0 {
		return p, "messages: at least one message is required"
	}
	sys, _, _, err := anthText(req.System)
	if err != nil {
		return p, "system: " + err.Error()
	}
	words := len(strings.Fields(sys))
	var lastUser, lastResult string
	lastIsResult := false
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return p, fmt.Sprintf("messages.%d.role: must be user or assistant", i)
		}
		t, res, hasRes, err := anthText(m.Content)
		if err != nil {
			return p, fmt.Sprintf("messages.%d.content: %v", i, err)
		}
		words += len(strings.Fields(t)) + len(strings.Fields(res))
		if m.Role == "user" {
			lastUser, lastResult, lastIsResult = t, res, hasRes
		}
	}
	p.inputTokens = max(words, 1)
	p.stop = "end_turn"
	last := req.Messages[len(req.Messages)-1]
	switch {
	case last.Role == "user" && lastIsResult:
		p.words = strings.Fields("the tool said: " + lastResult)
	case len(req.Tools) > 0 && strings.Contains(strings.ToLower(lastUser), "weather"):
		p.tool, p.stop = req.Tools[0].Name, "tool_use"
		return p, ""
	default:
		p.words = strings.Fields(replyPrefix + truncate(lastUser, maxEchoChars))
	}
	if req.MaxTokens != nil && len(p.words) > *req.MaxTokens {
		p.words, p.stop = p.words[:*req.MaxTokens], "max_tokens"
	}
	return p, ""
}

func (p *anthPlan) outputTokens() int {
	if p.tool != "" {
		return len(anthToolPieces)
	}
	return len(p.words)
}

func serveAnth(s *Server, w http.ResponseWriter, r *http.Request, body []byte, seq uint64, k knobs) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeAnthError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	var req anthRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeAnthError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	count := strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/count_tokens")
	plan, msg := planAnth(&req, count)
	if msg != "" {
		writeAnthError(w, http.StatusBadRequest, msg)
		return
	}
	if count {
		writeJSON(w, http.StatusOK, map[string]int{"input_tokens": plan.inputTokens})
		return
	}
	id := "msg_mock_" + strconv.FormatUint(seq, 10)
	toolID := "toolu_mock_" + strconv.FormatUint(seq, 10)
	if !req.Stream {
		if k.failAfter >= 0 {
			abort()
		}
		var content []any
		if plan.tool != "" {
			content = []any{map[string]any{"type": "tool_use", "id": toolID, "name": plan.tool, "input": map[string]string{"city": "Paris"}}}
		} else {
			content = []any{map[string]string{"type": "text", "text": strings.Join(plan.words, " ")}}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": content,
			"stop_reason": plan.stop, "stop_sequence": nil,
			"usage": map[string]int{"input_tokens": plan.inputTokens, "output_tokens": plan.outputTokens(),
				"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
		})
		return
	}
	delay := s.opts.ChunkDelay
	if k.hasChunk {
		delay = k.chunkDelay
	}
	streamAnth(w, r, &req, &plan, id, toolID, delay, k.failAfter)
}

// streamAnth writes plan as the Messages API's event sequence.
func streamAnth(w http.ResponseWriter, r *http.Request, req *anthRequest, plan *anthPlan, id, toolID string, delay time.Duration, failAfter int) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	events := 0
	send := func(name string, v any) bool {
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
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil {
			return false
		}
		events++
		return true
	}
	start := map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": plan.inputTokens, "output_tokens": 1,
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
	}}
	if !send("message_start", start) {
		return
	}
	var block any = map[string]string{"type": "text", "text": ""}
	if plan.tool != "" {
		block = map[string]any{"type": "tool_use", "id": toolID, "name": plan.tool, "input": map[string]any{}}
	}
	if !send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": block}) ||
		!send("ping", map[string]string{"type": "ping"}) {
		return
	}
	delta := func(d map[string]string) bool {
		return send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": d})
	}
	if plan.tool != "" {
		for _, piece := range anthToolPieces {
			if !delta(map[string]string{"type": "input_json_delta", "partial_json": piece}) {
				return
			}
		}
	} else {
		for i, word := range plan.words {
			if i < len(plan.words)-1 {
				word += " "
			}
			if !delta(map[string]string{"type": "text_delta", "text": word}) {
				return
			}
		}
	}
	if !send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0}) ||
		!send("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": plan.stop, "stop_sequence": nil},
			"usage": map[string]int{"output_tokens": plan.outputTokens()}}) {
		return
	}
	send("message_stop", map[string]string{"type": "message_stop"})
}
