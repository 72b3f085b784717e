package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Inbound is the Messages API as a dialect clients speak to the gateway
// (POST /v1/messages). Its zero value is ready to use.
type Inbound struct{}

var _ providers.Inbound = Inbound{}

func badRequest(param, format string, args ...any) *providers.Error {
	return providers.BadRequest(param, format, args...)
}

// DecodeChat decodes a Messages API request body into canonical form.
// top_k and thinking have no canonical counterpart and are ignored, as are
// fields this gateway does not know.
func (Inbound) DecodeChat(body []byte) (*providers.ChatRequest, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, badRequest("", "the request body is not a valid Messages API request: %v", err)
	}
	if w.Model == "" {
		return nil, badRequest("model", "model: field required")
	}
	req, err := decodePrompt(&w)
	if err != nil {
		return nil, err
	}
	// max_tokens is required by Anthropic; a client that omits it gets
	// the upstream's default rather than an error.
	if w.MaxTokens != 0 {
		if w.MaxTokens < 1 {
			return nil, badRequest("max_tokens", "max_tokens must be at least 1")
		}
		n := w.MaxTokens
		req.MaxTokens = &n
	}
	if w.Temperature != nil && (*w.Temperature < 0 || *w.Temperature > 1) {
		return nil, badRequest("temperature", "temperature must be between 0 and 1")
	}
	req.Temperature, req.TopP = w.Temperature, w.TopP
	req.Stop = w.StopSequences
	req.Stream = w.Stream
	// The Messages API always reports usage, in streams too.
	req.IncludeUsage = true
	if w.Metadata != nil {
		req.User = w.Metadata.UserID
	}
	if w.OutputConfig != nil && w.OutputConfig.Format != nil {
		f := w.OutputConfig.Format
		if f.Type != "json_schema" || len(f.Schema) == 0 {
			return nil, badRequest("output_config.format", "output_config.format must be {\"type\":\"json_schema\",\"schema\":{...}}")
		}
		req.ResponseFormat = &providers.ResponseFormat{Type: providers.FormatJSONSchema, Name: "response", Schema: f.Schema}
	}
	return req, nil
}

// DecodeCountTokens decodes a /v1/messages/count_tokens body (a Messages
// request without max_tokens) into the canonical request whose prompt is to
// be counted.
func (Inbound) DecodeCountTokens(body []byte) (*providers.ChatRequest, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, badRequest("", "the request body is not a valid count_tokens request: %v", err)
	}
	if w.Model == "" {
		return nil, badRequest("model", "model: field required")
	}
	return decodePrompt(&w)
}

// EncodeCountTokens renders a count_tokens answer.
func (Inbound) EncodeCountTokens(n int64) []byte {
	return []byte(`{"input_tokens":` + strconv.FormatInt(n, 10) + `}`)
}

// decodePrompt decodes model, system, messages, tools and tool_choice.
func decodePrompt(w *wireRequest) (*providers.ChatRequest, error) {
	req := &providers.ChatRequest{Model: w.Model}
	if err := decodeSystem(w.System, req); err != nil {
		return nil, err
	}
	if len(w.Messages) == 0 {
		return nil, badRequest("messages", "messages: at least one message is required")
	}
	for i, m := range w.Messages {
		if err := decodeMessage(m, i, req); err != nil {
			return nil, err
		}
	}
	for i, t := range w.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, badRequest(fmt.Sprintf("tools.%d.type", i), "tool type %q (a server tool) is not supported by this gateway", t.Type)
		}
		if t.Name == "" {
			return nil, badRequest(fmt.Sprintf("tools.%d.name", i), "tools.%d.name: field required", i)
		}
		req.Tools = append(req.Tools, providers.Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema, Strict: t.Strict})
	}
	if tc := w.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
			req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceAuto}
		case "any":
			req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceRequired}
		case "none":
			req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceNone}
		case "tool":
			if tc.Name == "" {
				return nil, badRequest("tool_choice.name", "tool_choice of type tool needs a name")
			}
			req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: tc.Name}
		default:
			return nil, badRequest("tool_choice.type", "unknown tool_choice type %q (auto, any, tool, none)", tc.Type)
		}
		if tc.DisableParallelToolUse {
			f := false
			req.ParallelToolCalls = &f
		}
	}
	return req, nil
}

// decodeSystem turns system (a string or text blocks) into leading system
// messages, one per block.
func decodeSystem(raw json.RawMessage, req *providers.ChatRequest) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return badRequest("system", "system: %v", err)
		}
		if s != "" {
			req.Messages = append(req.Messages, textMessage(providers.RoleSystem, s))
		}
		return nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return badRequest("system", "system must be a string or an array of text blocks")
	}
	for i, b := range blocks {
		if b.Type != "text" {
			return badRequest(fmt.Sprintf("system.%d.type", i), "system blocks must be text, got %q", b.Type)
		}
		req.Messages = append(req.Messages, textMessage(providers.RoleSystem, b.Text))
	}
	return nil
}

func textMessage(role providers.Role, text string) providers.Message {
	return providers.Message{Role: role, Parts: []providers.Part{{Type: providers.PartText, Text: text}}}
}

// decodeMessage appends the canonical messages of one Messages API turn:
// tool_result blocks become tool messages, placed before the rest of the
// user turn; tool_use blocks become the assistant's tool calls.
func decodeMessage(m wireMessage, i int, req *providers.ChatRequest) error {
	var role providers.Role
	switch m.Role {
	case "user":
		role = providers.RoleUser
	case "assistant":
		role = providers.RoleAssistant
	default:
		return badRequest(fmt.Sprintf("messages.%d.role", i), "messages.%d.role must be user or assistant, got %q", i, m.Role)
	}
	content := bytes.TrimSpace(m.Content)
	if len(content) > 0 && content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return badRequest(fmt.Sprintf("messages.%d.content", i), "%v", err)
		}
		req.Messages = append(req.Messages, textMessage(role, s))
		return nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(content, &blocks); err != nil {
		return badRequest(fmt.Sprintf("messages.%d.content", i), "messages.%d.content must be a string or an array of content blocks", i)
	}
	out := providers.Message{Role: role}
	for j, b := range blocks {
		param := fmt.Sprintf("messages.%d.content.%d", i, j)
		switch b.Type {
		case "text":
			out.Parts = append(out.Parts, providers.Part{Type: providers.PartText, Text: b.Text})
		case "image":
			p, err := decodeImage(b.Source, param)
			if err != nil {
				return err
			}
			out.Parts = append(out.Parts, p)
		case "tool_use":
			if role != providers.RoleAssistant {
				return badRequest(param, "tool_use blocks belong in assistant messages")
			}
			if b.ID == "" || b.Name == "" {
				return badRequest(param, "tool_use blocks need an id and a name")
			}
			out.ToolCalls = append(out.ToolCalls, providers.ToolCall{ID: b.ID, Name: b.Name, Arguments: argumentsText(b.Input)})
		case "tool_result":
			if role != providers.RoleUser {
				return badRequest(param, "tool_result blocks belong in user messages")
			}
			if b.ToolUseID == "" {
				return badRequest(param, "tool_result blocks need a tool_use_id")
			}
			parts, err := decodeResultContent(b.Content, param)
			if err != nil {
				return err
			}
			// is_error has no canonical field; the result's text carries
			// the failure, which is what a model reads anyway.
			req.Messages = append(req.Messages, providers.Message{Role: providers.RoleTool, ToolCallID: b.ToolUseID, Parts: parts})
		case "thinking", "redacted_thinking":
			// Earlier reasoning has no canonical form; dropping it is what
			// the API itself does for turns without tool use.
		default:
			return badRequest(param+".type", "content block type %q is not supported by this gateway", b.Type)
		}
	}
	if len(out.Parts) > 0 || len(out.ToolCalls) > 0 || len(blocks) == 0 {
		req.Messages = append(req.Messages, out)
	}
	return nil
}

// decodeImage turns an image source into a canonical image part.
func decodeImage(src *wireSource, param string) (providers.Part, error) {
	if src == nil {
		return providers.Part{}, badRequest(param+".source", "image blocks need a source")
	}
	switch src.Type {
	case "base64":
		data, err := base64.StdEncoding.DecodeString(src.Data)
		if err != nil {
			return providers.Part{}, badRequest(param+".source.data", "image data is not valid base64")
		}
		if src.MediaType == "" {
			return providers.Part{}, badRequest(param+".source.media_type", "base64 images need a media_type")
		}
		return providers.Part{Type: providers.PartImage, Image: &providers.Image{MediaType: src.MediaType, Data: data}}, nil
	case "url":
		if src.URL == "" {
			return providers.Part{}, badRequest(param+".source.url", "url images need a url")
		}
		return providers.Part{Type: providers.PartImage, Image: &providers.Image{URL: src.URL}}, nil
	default:
		return providers.Part{}, badRequest(param+".source.type", "image source type %q is not supported (base64, url)", src.Type)
	}
}

// decodeResultContent decodes a tool_result's content: a string or text
// and image blocks.
func decodeResultContent(raw json.RawMessage, param string) ([]providers.Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest(param+".content", "%v", err)
		}
		return []providers.Part{{Type: providers.PartText, Text: s}}, nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, badRequest(param+".content", "tool_result content must be a string or an array of blocks")
	}
	var parts []providers.Part
	for k, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, providers.Part{Type: providers.PartText, Text: b.Text})
		case "image":
			p, err := decodeImage(b.Source, fmt.Sprintf("%s.content.%d", param, k))
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		default:
			return nil, badRequest(fmt.Sprintf("%s.content.%d.type", param, k), "tool_result content block type %q is not supported", b.Type)
		}
	}
	return parts, nil
}

// wireAnswer is the Messages API answer EncodeChat writes; unlike
// wireResponse its usage counters are always present.
type wireAnswer struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []any       `json:"content"`
	StopReason   string      `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        answerUsage `json:"usage"`
}

type answerUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type toolUseBlock struct {
	Type  string          `json:"type"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

func toAnswerUsage(u providers.Usage) answerUsage {
	return answerUsage{
		InputTokens:              max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0),
		OutputTokens:             u.CompletionTokens,
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CachedTokens,
	}
}

// messageID gives an id in Anthropic's msg_ form.
func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	if id == "" {
		return "msg_gateway"
	}
	return "msg_" + id
}

// toolID gives a tool call an id when the upstream had none.
func toolID(id string, i int) string {
	if id != "" {
		return id
	}
	return "toolu_" + strconv.Itoa(i)
}

// EncodeChat renders a complete canonical answer as a Messages API
// message. Only the first choice is rendered: the dialect has no others.
func (Inbound) EncodeChat(resp *providers.ChatResponse) ([]byte, error) {
	a := wireAnswer{ID: messageID(resp.ID), Type: "message", Role: "assistant", Model: resp.Model,
		Content: []any{}, StopReason: stopEndTurn, Usage: toAnswerUsage(resp.Usage)}
	if len(resp.Choices) > 0 {
		c := resp.Choices[0]
		if t := c.Message.Text(); t != "" {
			a.Content = append(a.Content, textBlock{Type: "text", Text: t})
		}
		for i, tc := range c.Message.ToolCalls {
			a.Content = append(a.Content, toolUseBlock{Type: "tool_use", ID: toolID(tc.ID, i), Name: tc.Name, Input: objectOrEmpty(tc.Arguments)})
		}
		a.StopReason = stopFromFinish(c.FinishReason)
	}
	return json.Marshal(a)
}

// anthropicErrorType names e's kind in Anthropic's terms.
func anthropicErrorType(e *providers.Error) string {
	switch {
	case e.Code == "request_too_large" || e.Status == http.StatusRequestEntityTooLarge:
		return "request_too_large"
	}
	switch e.Type {
	case "invalid_request_error", "authentication_error", "permission_error", "not_found_error",
		"rate_limit_error", "overloaded_error":
		return e.Type
	case "insufficient_quota":
		return "rate_limit_error"
	case "server_error":
		return "api_error"
	}
	switch {
	case e.Status == http.StatusUnauthorized:
		return "authentication_error"
	case e.Status == http.StatusForbidden:
		return "permission_error"
	case e.Status == http.StatusNotFound:
		return "not_found_error"
	case e.Status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case e.Status == http.StatusServiceUnavailable || e.Status == 529:
		return "overloaded_error"
	case e.Status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

func errorBody(e *providers.Error) []byte {
	var w wireError
	w.Type = "error"
	w.Error.Type = anthropicErrorType(e)
	w.Error.Message = e.Message
	b, _ := json.Marshal(w)
	return b
}

// EncodeError renders e as a Messages API error body. The status to send
// stays e.Status.
func (Inbound) EncodeError(e *providers.Error) ([]byte, string) {
	return errorBody(e), "application/json"
}

// NewStreamEncoder returns an encoder writing Messages API server-sent
// events. Usage is always part of the dialect, so includeUsage is ignored.
func (Inbound) NewStreamEncoder(w io.Writer, _ bool) providers.StreamEncoder {
	return &streamEncoder{w: w, toolBlocks: map[int]int{}, open: -1}
}
