package cohere

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Wire types of POST /v2/chat.

type chatRequest struct {
	Model            string          `json:"model"`
	Messages         []message       `json:"messages"`
	Tools            []tool          `json:"tools,omitempty"`
	ToolChoice       string          `json:"tool_choice,omitempty"`
	StrictTools      *bool           `json:"strict_tools,omitempty"`
	ResponseFormat   *responseFormat `json:"response_format,omitempty"`
	MaxTokens        *int64          `json:"max_tokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	P                *float64        `json:"p,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	StopSequences    []string        `json:"stop_sequences,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	Stream           bool            `json:"stream,omitempty"`
}

// message is one chat message. Content is a string, or an array of
// contentPart where an image or several parts make it necessary.
type message struct {
	Role       string     `json:"role"`
	Content    any        `json:"content,omitempty"`
	ToolPlan   string     `json:"tool_plan,omitempty"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type contentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type tool struct {
	Type     string       `json:"type"`
	Function toolFuncSpec `json:"function"`
}

type toolFuncSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

type responseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// emptySchema is sent for a function without parameters: Cohere expects a
// schema object.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// encodeChat translates a canonical request into Cohere's. Fields Cohere has
// no counterpart for (user, parallel_tool_calls, reasoning_effort, Extra)
// are dropped; those whose silent loss would change the answer's shape
// (n > 1, a named tool_choice) are refused.
func encodeChat(req *providers.ChatRequest, stream bool) (*chatRequest, error) {
	if req.N > 1 {
		return nil, providers.BadRequest("n", "n > 1 is not supported by Cohere: it returns one choice per call")
	}
	out := &chatRequest{
		Model:            req.Model,
		MaxTokens:        req.MaxTokens,
		Temperature:      req.Temperature,
		P:                req.TopP,
		FrequencyPenalty: req.FrequencyPenalty,
		PresencePenalty:  req.PresencePenalty,
		StopSequences:    req.Stop,
		Seed:             req.Seed,
		Stream:           stream,
	}
	for i := range req.Messages {
		m, ok, err := encodeMessage(&req.Messages[i], i)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Messages = append(out.Messages, m)
		}
	}
	if len(out.Messages) == 0 {
		return nil, providers.BadRequest("messages", "messages must contain at least one non-empty message")
	}
	strict := false
	for _, t := range req.Tools {
		params := t.Parameters
		if len(bytes.TrimSpace(params)) == 0 || bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
			params = emptySchema
		}
		out.Tools = append(out.Tools, tool{Type: "function", Function: toolFuncSpec{Name: t.Name, Description: t.Description, Parameters: params}})
		if t.Strict != nil && *t.Strict {
			strict = true
		}
	}
	if strict {
		out.StrictTools = &strict
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case providers.ToolChoiceAuto, "":
			// Cohere's default; there is no explicit value.
		case providers.ToolChoiceNone:
			out.ToolChoice = "NONE"
		case providers.ToolChoiceRequired:
			out.ToolChoice = "REQUIRED"
		case providers.ToolChoiceFunction:
			return nil, providers.BadRequest("tool_choice", "Cohere cannot be made to call a named function (tool_choice %q); use \"required\" with only that tool in tools", tc.Name)
		default:
			return nil, providers.BadRequest("tool_choice", "unknown tool_choice %q", tc.Mode)
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case providers.FormatText, "":
		case providers.FormatJSONObject:
			out.ResponseFormat = &responseFormat{Type: "json_object"}
		case providers.FormatJSONSchema:
			// Cohere's JSON mode takes the schema inside json_object.
			out.ResponseFormat = &responseFormat{Type: "json_object", JSONSchema: rf.Schema}
		default:
			return nil, providers.BadRequest("response_format", "unknown response_format type %q", rf.Type)
		}
	}
	return out, nil
}

// encodeMessage translates one message; ok is false for a message with
// nothing to send (dropped, as Cohere rejects empty turns).
func encodeMessage(m *providers.Message, i int) (message, bool, error) {
	switch m.Role {
	case providers.RoleSystem:
		t := m.Text()
		return message{Role: "system", Content: t}, t != "", nil
	case providers.RoleUser:
		c, err := encodeContent(m.Parts, i)
		return message{Role: "user", Content: c}, c != nil, err
	case providers.RoleAssistant:
		out := message{Role: "assistant"}
		text := m.Text()
		if len(m.ToolCalls) == 0 {
			out.Content = text
			return out, text != "", nil
		}
		// With tool calls, Cohere carries the assistant's text as its tool
		// plan (what it answers with, and reads back, in that position).
		out.ToolPlan = text
		for _, tc := range m.ToolCalls {
			args := tc.Arguments
			if !json.Valid([]byte(args)) {
				args = "{}"
			}
			out.ToolCalls = append(out.ToolCalls, toolCall{ID: tc.ID, Type: "function", Function: toolFunction{Name: tc.Name, Arguments: args}})
		}
		return out, true, nil
	case providers.RoleTool:
		return message{Role: "tool", ToolCallID: m.ToolCallID, Content: m.Text()}, true, nil
	default:
		return message{}, false, providers.BadRequest(fmt.Sprintf("messages[%d].role", i), "unknown role %q", m.Role)
	}
}

// encodeContent returns a user message's content: a string for text alone,
// an array of parts once there is an image, nil when there is nothing.
func encodeContent(parts []providers.Part, i int) (any, error) {
	var out []contentPart
	hasImage := false
	for _, p := range parts {
		switch p.Type {
		case providers.PartText:
			if p.Text != "" {
				out = append(out, contentPart{Type: "text", Text: p.Text})
			}
		case providers.PartImage:
			if p.Image == nil {
				continue
			}
			u := p.Image.URL
			if u == "" {
				if len(p.Image.Data) == 0 || p.Image.MediaType == "" {
					return nil, providers.BadRequest(fmt.Sprintf("messages[%d].content", i), "an image needs a URL or data with a media type")
				}
				// Cohere takes data: URLs for inline images.
				u = "data:" + p.Image.MediaType + ";base64," + base64.StdEncoding.EncodeToString(p.Image.Data)
			}
			out = append(out, contentPart{Type: "image_url", ImageURL: &imageURL{URL: u, Detail: p.Image.Detail}})
			hasImage = true
		default:
			return nil, providers.BadRequest(fmt.Sprintf("messages[%d].content", i), "content part type %q is not supported by Cohere", p.Type)
		}
	}
	switch {
	case len(out) == 0:
		return nil, nil
	case len(out) == 1 && !hasImage:
		return out[0].Text, nil
	}
	return out, nil
}

// Wire types of the chat answer.

type chatResponse struct {
	ID           string          `json:"id"`
	FinishReason string          `json:"finish_reason"`
	Message      responseMessage `json:"message"`
	Usage        *usage          `json:"usage"`
}

type responseMessage struct {
	Role      string          `json:"role"`
	Content   []responseBlock `json:"content"`
	ToolPlan  string          `json:"tool_plan"`
	ToolCalls []toolCall      `json:"tool_calls"`
}

// responseBlock is a content block: "text", or "thinking" (reasoning the
// canonical form does not carry, dropped).
type responseBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// usage is Cohere's usage object. tokens are the model's counts;
// billed_units what is charged (sometimes the only one present). Numbers
// are JSON numbers that may have a fraction part.
type usage struct {
	BilledUnits  *tokenCounts `json:"billed_units"`
	Tokens       *tokenCounts `json:"tokens"`
	CachedTokens *float64     `json:"cached_tokens"`
}

type tokenCounts struct {
	InputTokens  *float64 `json:"input_tokens"`
	OutputTokens *float64 `json:"output_tokens"`
}

// canonical converts usage, preferring tokens over billed_units field by
// field, every count sanitized (providers.UsageCounts).
func (u *usage) canonical() providers.Usage {
	var out providers.Usage
	if u == nil {
		return out
	}
	var counts providers.UsageCounts
	pick := func(get func(*tokenCounts) *float64) int64 {
		for _, c := range []*tokenCounts{u.Tokens, u.BilledUnits} {
			if c != nil {
				if v := get(c); v != nil {
					return counts.Of(toInt(*v))
				}
			}
		}
		return 0
	}
	out.PromptTokens = pick(func(c *tokenCounts) *float64 { return c.InputTokens })
	out.CompletionTokens = pick(func(c *tokenCounts) *float64 { return c.OutputTokens })
	if u.CachedTokens != nil {
		out.CachedTokens = counts.Of(toInt(*u.CachedTokens))
	}
	return counts.Usage(out)
}

// toInt rounds a count Cohere sends as a number to an integer. NaN is
// -1, so that the sanitizer counts it as out of range; values beyond int64
// saturate and are clamped there too.
func toInt(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return -1
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(math.Round(f))
}

// finishReason maps Cohere's finish_reason. ok is false for ERROR and
// TIMEOUT, which are failures rather than ends.
func finishReason(s string) (providers.FinishReason, bool) {
	switch strings.ToUpper(s) {
	case "MAX_TOKENS":
		return providers.FinishLength, true
	case "TOOL_CALL":
		return providers.FinishToolCalls, true
	case "ERROR", "TIMEOUT":
		return "", false
	default: // COMPLETE, STOP_SEQUENCE, and any new value
		return providers.FinishStop, true
	}
}

// generationFailed is the Error for an answer that ended in ERROR or
// TIMEOUT.
func generationFailed(reason string) *providers.Error {
	e := upstreamFault("Cohere ended the generation with finish_reason %s", reason)
	if strings.EqualFold(reason, "TIMEOUT") {
		e.Status, e.Code = http.StatusGatewayTimeout, "upstream_timeout"
	}
	return e
}

// decodeChat translates a chat answer. model is the requested model (Cohere
// does not echo it).
func decodeChat(body []byte, model string) (*providers.ChatResponse, error) {
	var r chatResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, upstreamFault("Cohere sent an unreadable chat answer: %v", err)
	}
	if r.FinishReason == "" && r.Message.Role == "" && len(r.Message.Content) == 0 && len(r.Message.ToolCalls) == 0 {
		return nil, upstreamFault("Cohere sent a chat answer without a message")
	}
	reason, ok := finishReason(r.FinishReason)
	if !ok {
		return nil, generationFailed(r.FinishReason)
	}
	msg := providers.Message{Role: providers.RoleAssistant}
	var text strings.Builder
	for _, b := range r.Message.Content {
		if b.Type == "text" || b.Type == "" {
			text.WriteString(b.Text)
		}
	}
	if text.Len() == 0 && len(r.Message.ToolCalls) > 0 {
		// The plan is the only text of a tool-calling turn; it goes back
		// as tool_plan (see encodeMessage).
		text.WriteString(r.Message.ToolPlan)
	}
	if text.Len() > 0 {
		msg.Parts = []providers.Part{{Type: providers.PartText, Text: text.String()}}
	}
	for i, tc := range r.Message.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{
			ID:        toolID(tc.ID, i),
			Name:      tc.Function.Name,
			Arguments: arguments(tc.Function.Arguments),
		})
	}
	return &providers.ChatResponse{
		ID:      r.ID,
		Model:   model,
		Created: now().Unix(),
		Choices: []providers.Choice{{Index: 0, Message: msg, FinishReason: reason}},
		Usage:   r.Usage.canonical(),
	}, nil
}

// toolID returns Cohere's id, or a deterministic one where it sent none.
func toolID(id string, i int) string {
	if id != "" {
		return id
	}
	return "call_" + strconv.Itoa(i)
}

// arguments returns a JSON object text, "{}" for none.
func arguments(s string) string {
	if strings.TrimSpace(s) == "" {
		return "{}"
	}
	return s
}

// Wire types of POST /v2/embed.

type embedRequest struct {
	Model           string   `json:"model"`
	Texts           []string `json:"texts"`
	InputType       string   `json:"input_type"`
	EmbeddingTypes  []string `json:"embedding_types"`
	OutputDimension *int64   `json:"output_dimension,omitempty"`
}

type embedResponse struct {
	ID         string `json:"id"`
	Embeddings struct {
		Float [][]float32 `json:"float"`
	} `json:"embeddings"`
	Meta struct {
		BilledUnits *tokenCounts `json:"billed_units"`
		Tokens      *tokenCounts `json:"tokens"`
	} `json:"meta"`
}

// encodeEmbed translates an embedding request. Extra["input_type"] (a
// string) overrides DefaultInputType.
func encodeEmbed(req *providers.EmbeddingRequest) (*embedRequest, error) {
	if len(req.Inputs) == 0 {
		return nil, providers.BadRequest("input", "Cohere embeds text inputs only; input must be a non-empty string or array of strings")
	}
	out := &embedRequest{Model: req.Model, Texts: req.Inputs, InputType: DefaultInputType,
		EmbeddingTypes: []string{"float"}, OutputDimension: req.Dimensions}
	if raw, ok := req.Extra["input_type"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			return nil, providers.BadRequest("input_type", "input_type must be a non-empty string")
		}
		out.InputType = s
	}
	return out, nil
}

// decodeEmbed translates an embed answer, checking it has one vector per
// input.
func decodeEmbed(body []byte, req *providers.EmbeddingRequest) (*providers.EmbeddingResponse, error) {
	var r embedResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, upstreamFault("Cohere sent an unreadable embed answer: %v", err)
	}
	if len(r.Embeddings.Float) != len(req.Inputs) {
		return nil, upstreamFault("Cohere sent %d float embeddings for %d inputs", len(r.Embeddings.Float), len(req.Inputs))
	}
	u := usage{BilledUnits: r.Meta.BilledUnits, Tokens: r.Meta.Tokens}
	return &providers.EmbeddingResponse{Model: req.Model, Vectors: r.Embeddings.Float, Usage: u.canonical()}, nil
}
