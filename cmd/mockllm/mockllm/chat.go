package mockllm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// replyPrefix starts every chat reply.
const replyPrefix = "mock reply to: "

// maxEchoChars bounds how many characters of the user's message are echoed.
const maxEchoChars = 200

// maxChoices is the largest n accepted, as in OpenAI's API.
const maxChoices = 128

type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	N                   *int `json:"n"`
	Tools               []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// mockToolArgs are the arguments of every tool call the mock makes.
const mockToolArgs = `{"city":"Paris"}`

// wantsTool reports whether a request should be answered with a tool call:
// it offers tools and its last message is a user message about the weather.
func wantsTool(toolsOffered bool, lastRole, lastText string) bool {
	return toolsOffered && lastRole == "user" && strings.Contains(strings.ToLower(lastText), "weather")
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// text returns the textual content of m: the string content, or the
// concatenated (space-separated) text parts of array content.
func (m chatMessage) text() (string, error) {
	c := bytes.TrimSpace(m.Content)
	if len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return "", nil
	}
	switch c[0] {
	case '"':
		var s string
		err := json.Unmarshal(c, &s)
		return s, err
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(c, &parts); err != nil {
			return "", err
		}
		var texts []string
		for _, p := range parts {
			if p.Text != "" {
				texts = append(texts, p.Text)
			}
		}
		return strings.Join(texts, " "), nil
	}
	return "", fmt.Errorf("content must be a string, an array of content parts or null")
}

type chatUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []chatChoice `json:"choices"`
	Usage             chatUsage    `json:"usage"`
	SystemFingerprint string       `json:"system_fingerprint"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      responseMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type responseMessage struct {
	Role      string         `json:"role"`
	Content   *string        `json:"content"`
	Refusal   *string        `json:"refusal"`
	ToolCalls []mockToolCall `json:"tool_calls,omitempty"`
}

type mockToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// toolCall returns the mock's tool call: whole, or (index set, for a
// stream) its first fragment, with args as given.
func toolCall(name, args string, index *int) mockToolCall {
	tc := mockToolCall{Index: index, ID: "call_mock_1", Type: "function"}
	tc.Function.Name, tc.Function.Arguments = name, args
	return tc
}

type chatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"`
	// Usage is omitted when include_usage is off, null on ordinary chunks
	// when it is on, and the usage object on the final chunk.
	Usage json.RawMessage `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *struct{}  `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role      string         `json:"role,omitempty"`
	Content   *string        `json:"content,omitempty"`
	ToolCalls []mockToolCall `json:"tool_calls,omitempty"`
}

// chatPlan is the deterministic outcome of a chat request.
type chatPlan struct {
	id           string
	created      int64
	model        string
	words        []string // the reply, split into words
	n            int
	finishReason string
	usage        chatUsage
	// toolName is set when the answer is a call of that tool (with
	// mockToolArgs) instead of text.
	toolName string
}

func (p *chatPlan) content() string { return strings.Join(p.words, " ") }

// planChat validates req and derives the reply. It returns a non-empty param
// name and message when the request is invalid.
func planChat(req *chatRequest) (plan chatPlan, param, msg string) {
	if req.Model == "" {
		return plan, "model", "you must provide a model parameter"
	}
	if len(req.Messages) == 0 {
		return plan, "messages", "'messages' must contain at least one message"
	}
	n := 1
	if req.N != nil {
		n = *req.N
		if n < 1 || n > maxChoices {
			return plan, "n", fmt.Sprintf("n must be between 1 and %d", maxChoices)
		}
	}
	limit := 0
	for _, p := range []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if p.v == nil {
			continue
		}
		if *p.v < 1 {
			return plan, p.name, p.name + " must be at least 1"
		}
		limit = *p.v // max_completion_tokens, checked last, wins
	}

	promptWords, last, lastRole, lastText := 0, "", "", ""
	for i, m := range req.Messages {
		t, err := m.text()
		if err != nil {
			return plan, fmt.Sprintf("messages[%d].content", i), err.Error()
		}
		promptWords += len(strings.Fields(t))
		if m.Role == "user" {
			last = t
		}
		lastRole, lastText = m.Role, t
	}
	promptWords = max(promptWords, 1)

	words := strings.Fields(replyPrefix + truncate(last, maxEchoChars))
	if lastRole == "tool" {
		words = strings.Fields("the tool said: " + truncate(lastText, maxEchoChars))
	}
	finish := "stop"
	if limit > 0 && len(words) > limit {
		words, finish = words[:limit], "length"
	}
	if wantsTool(len(req.Tools) > 0, lastRole, lastText) {
		plan.toolName = req.Tools[0].Function.Name
		words, finish = nil, "tool_calls"
	}

	plan = chatPlan{
		created:      time.Now().Unix(),
		model:        req.Model,
		words:        words,
		n:            n,
		finishReason: finish,
		toolName:     plan.toolName,
	}
	plan.usage.PromptTokens = promptWords
	plan.usage.CompletionTokens = len(words) * n
	if plan.toolName != "" {
		plan.usage.CompletionTokens = len(strings.Fields(mockToolArgs)) * n
	}
	plan.usage.TotalTokens = plan.usage.PromptTokens + plan.usage.CompletionTokens
	return plan, "", ""
}

// truncate returns the first n runes of s.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request, body []byte, seq uint64, k knobs) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request. ("+err.Error()+")", "", "")
		return
	}
	plan, param, msg := planChat(&req)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg, param, "")
		return
	}
	plan.id = "chatcmpl-mock-" + strconv.FormatUint(seq, 10)

	if !req.Stream {
		if k.failAfter >= 0 {
			abort()
		}
		resp := chatCompletion{
			ID:                plan.id,
			Object:            "chat.completion",
			Created:           plan.created,
			Model:             plan.model,
			Usage:             plan.usage,
			SystemFingerprint: SystemFingerprint,
		}
		content := plan.content()
		for i := range plan.n {
			msg := responseMessage{Role: "assistant", Content: &content}
			if plan.toolName != "" {
				msg.Content, msg.ToolCalls = nil, []mockToolCall{toolCall(plan.toolName, mockToolArgs, nil)}
			}
			resp.Choices = append(resp.Choices, chatChoice{Index: i, Message: msg, FinishReason: plan.finishReason})
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}

	delay := s.opts.ChunkDelay
	if k.hasChunk {
		delay = k.chunkDelay
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s.stream(w, r, &plan, includeUsage, delay, k.failAfter)
}

// stream writes plan as a sequence of chat.completion.chunk server-sent
// events followed by "data: [DONE]".
func (s *Server) stream(w http.ResponseWriter, r *http.Request, plan *chatPlan, includeUsage bool, delay time.Duration, failAfter int) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}

	base := chatChunk{
		ID:                plan.id,
		Object:            "chat.completion.chunk",
		Created:           plan.created,
		Model:             plan.model,
		SystemFingerprint: SystemFingerprint,
	}
	if includeUsage {
		base.Usage = json.RawMessage("null")
	}

	events := 0
	send := func(data []byte) bool {
		if failAfter >= 0 && events >= failAfter {
			abort()
		}
		if events > 0 && !sleep(r, delay) {
			return false
		}
		var buf bytes.Buffer
		buf.Grow(len(data) + 8)
		buf.WriteString("data: ")
		buf.Write(data)
		buf.WriteString("\n\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil {
			return false
		}
		events++
		return true
	}
	sendChunk := func(choices []chunkChoice) bool {
		c := base
		c.Choices = choices
		b, err := json.Marshal(c)
		if err != nil {
			return false
		}
		return send(b)
	}
	// each emits the same delta for every choice, one event per choice.
	each := func(delta chunkDelta, finish *string) bool {
		for i := range plan.n {
			if !sendChunk([]chunkChoice{{Index: i, Delta: delta, FinishReason: finish}}) {
				return false
			}
		}
		return true
	}

	empty := ""
	if !each(chunkDelta{Role: "assistant", Content: &empty}, nil) {
		return
	}
	if plan.toolName != "" {
		// The call, then its arguments in two pieces, as OpenAI streams them.
		zero := 0
		first := toolCall(plan.toolName, "", &zero)
		half := len(mockToolArgs) / 2
		second, third := mockToolCall{Index: &zero}, mockToolCall{Index: &zero}
		second.Function.Arguments, third.Function.Arguments = mockToolArgs[:half], mockToolArgs[half:]
		for _, tc := range []mockToolCall{first, second, third} {
			if !each(chunkDelta{ToolCalls: []mockToolCall{tc}}, nil) {
				return
			}
		}
	}
	for i, word := range plan.words {
		if i < len(plan.words)-1 {
			word += " "
		}
		if !each(chunkDelta{Content: &word}, nil) {
			return
		}
	}
	if !each(chunkDelta{}, &plan.finishReason) {
		return
	}
	if includeUsage {
		c := base
		c.Choices = []chunkChoice{}
		u, err := json.Marshal(plan.usage)
		if err != nil {
			return
		}
		c.Usage = u
		b, err := json.Marshal(c)
		if err != nil || !send(b) {
			return
		}
	}
	send([]byte("[DONE]"))
}
