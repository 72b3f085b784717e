package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Wire types of a Converse request.

type converseRequest struct {
	Messages        []message        `json:"messages"`
	System          []systemBlock    `json:"system,omitempty"`
	InferenceConfig *inferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *toolConfig      `json:"toolConfig,omitempty"`
}

type systemBlock struct {
	Text string `json:"text"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is a content block: exactly one field is set.
type block struct {
	Text       *string     `json:"text,omitempty"`
	Image      *imageBlock `json:"image,omitempty"`
	ToolUse    *toolUse    `json:"toolUse,omitempty"`
	ToolResult *toolResult `json:"toolResult,omitempty"`
}

type imageBlock struct {
	Format string `json:"format"`
	Source struct {
		// Bytes is base64 in JSON, as []byte marshals.
		Bytes []byte `json:"bytes"`
	} `json:"source"`
}

type toolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type toolResult struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []toolResultContent `json:"content"`
	Status    string              `json:"status,omitempty"`
}

type toolResultContent struct {
	Text *string `json:"text,omitempty"`
}

type inferenceConfig struct {
	MaxTokens     *int64   `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type toolConfig struct {
	Tools      []toolEntry     `json:"tools"`
	ToolChoice json.RawMessage `json:"toolChoice,omitempty"`
}

type toolEntry struct {
	ToolSpec toolSpec `json:"toolSpec"`
}

type toolSpec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	InputSchema struct {
		JSON json.RawMessage `json:"json"`
	} `json:"inputSchema"`
}

// emptySchema stands for a function without parameters: Bedrock requires
// an input schema.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// imageFormats maps media types to Bedrock's image formats.
var imageFormats = map[string]string{
	"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp",
}

// encodeChat translates a canonical request into a Converse body.
//
// System messages, wherever they are, go to system[] in order. Consecutive
// messages of one role are merged (Bedrock wants alternation), so tool
// results, which are user content, share one user message with each other
// and any user text that follows. Dropped, for want of a Converse field:
// seed, user, frequency and presence penalties, parallel_tool_calls,
// reasoning_effort and Extra (model-specific knobs belong in
// additionalModelRequestFields, which this codec does not fill).
//
// tool_choice "none" has no Converse equivalent: the toolConfig is left
// out, so the model cannot call a tool — unless the history holds tool
// blocks, which Bedrock only accepts with a toolConfig; then the tools are
// sent without a toolChoice and the model may still call one.
func encodeChat(req *providers.ChatRequest) (*converseRequest, error) {
	if req.N > 1 {
		return nil, providers.BadRequest("n", "n > 1 is not supported by Bedrock: it returns one choice per call")
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type != providers.FormatText && rf.Type != "" {
		return nil, providers.BadRequest("response_format", "response_format %q is not supported by the Bedrock Converse API; describe the JSON you want in the prompt, or use a tool", rf.Type)
	}
	out := &converseRequest{}
	var toolNames []string // names of the tools used in the history
	seen := map[string]bool{}
	add := func(role string, blocks []block) {
		if len(blocks) == 0 {
			return
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			return
		}
		out.Messages = append(out.Messages, message{Role: role, Content: blocks})
	}
	hasToolBlocks := false
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case providers.RoleSystem:
			if t := m.Text(); t != "" {
				out.System = append(out.System, systemBlock{Text: t})
			}
		case providers.RoleUser:
			blocks, err := encodeParts(m.Parts, i)
			if err != nil {
				return nil, err
			}
			add("user", blocks)
		case providers.RoleAssistant:
			blocks, err := encodeParts(m.Parts, i)
			if err != nil {
				return nil, err
			}
			for _, tc := range m.ToolCalls {
				if tc.ID == "" || tc.Name == "" {
					return nil, providers.BadRequest(fmt.Sprintf("messages[%d].tool_calls", i), "a tool call needs an id and a function name")
				}
				blocks = append(blocks, block{ToolUse: &toolUse{ToolUseID: tc.ID, Name: tc.Name, Input: argumentsObject(tc.Arguments)}})
				hasToolBlocks = true
				if !seen[tc.Name] {
					seen[tc.Name] = true
					toolNames = append(toolNames, tc.Name)
				}
			}
			add("assistant", blocks)
		case providers.RoleTool:
			if m.ToolCallID == "" {
				return nil, providers.BadRequest(fmt.Sprintf("messages[%d].tool_call_id", i), "a tool message needs tool_call_id")
			}
			r := &toolResult{ToolUseID: m.ToolCallID, Status: "success", Content: []toolResultContent{}}
			if t := m.Text(); t != "" {
				r.Content = append(r.Content, toolResultContent{Text: &t})
			}
			add("user", []block{{ToolResult: r}})
			hasToolBlocks = true
		default:
			return nil, providers.BadRequest(fmt.Sprintf("messages[%d].role", i), "unknown role %q", m.Role)
		}
	}
	if len(out.Messages) == 0 {
		return nil, providers.BadRequest("messages", "messages must contain at least one non-empty user or assistant message")
	}

	ic := inferenceConfig{MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP, StopSequences: req.Stop}
	if ic.MaxTokens != nil || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		out.InferenceConfig = &ic
	}

	tc := &toolConfig{}
	for _, t := range req.Tools {
		spec := toolSpec{Name: t.Name, Description: t.Description}
		spec.InputSchema.JSON = t.Parameters
		if p := bytes.TrimSpace(t.Parameters); len(p) == 0 || bytes.Equal(p, []byte("null")) {
			spec.InputSchema.JSON = emptySchema
		}
		tc.Tools = append(tc.Tools, toolEntry{ToolSpec: spec})
	}
	if len(tc.Tools) == 0 && hasToolBlocks {
		// Bedrock rejects tool blocks without a toolConfig: declare the
		// tools the history used, without a schema to go by.
		for _, name := range toolNames {
			spec := toolSpec{Name: name}
			spec.InputSchema.JSON = emptySchema
			tc.Tools = append(tc.Tools, toolEntry{ToolSpec: spec})
		}
	}
	mode := ""
	if req.ToolChoice != nil {
		mode = req.ToolChoice.Mode
	}
	switch mode {
	case "":
	case providers.ToolChoiceAuto:
		tc.ToolChoice = json.RawMessage(`{"auto":{}}`)
	case providers.ToolChoiceRequired:
		tc.ToolChoice = json.RawMessage(`{"any":{}}`)
	case providers.ToolChoiceFunction:
		b, _ := json.Marshal(map[string]map[string]string{"tool": {"name": req.ToolChoice.Name}})
		tc.ToolChoice = b
	case providers.ToolChoiceNone:
		if !hasToolBlocks {
			tc.Tools = nil
		}
	default:
		return nil, providers.BadRequest("tool_choice", "unknown tool_choice %q", mode)
	}
	if len(tc.Tools) > 0 {
		out.ToolConfig = tc
	} else if tc.ToolChoice != nil {
		return nil, providers.BadRequest("tool_choice", "tool_choice %q needs tools", mode)
	}
	return out, nil
}

// encodeParts translates text and image parts; empty text is dropped.
func encodeParts(parts []providers.Part, i int) ([]block, error) {
	var out []block
	for _, p := range parts {
		switch p.Type {
		case providers.PartText:
			if p.Text != "" {
				t := p.Text
				out = append(out, block{Text: &t})
			}
		case providers.PartImage:
			if p.Image == nil {
				continue
			}
			if p.Image.URL != "" || len(p.Image.Data) == 0 {
				return nil, providers.BadRequest(fmt.Sprintf("messages[%d].content", i), "Bedrock takes images as inline bytes only: send the image as a data: URL (base64), not a link")
			}
			format, ok := imageFormats[strings.ToLower(p.Image.MediaType)]
			if !ok {
				return nil, providers.BadRequest(fmt.Sprintf("messages[%d].content", i), "image type %q is not supported by Bedrock (png, jpeg, gif or webp)", p.Image.MediaType)
			}
			img := &imageBlock{Format: format}
			img.Source.Bytes = p.Image.Data
			out = append(out, block{Image: img})
		default:
			return nil, providers.BadRequest(fmt.Sprintf("messages[%d].content", i), "content part type %q is not supported by Bedrock", p.Type)
		}
	}
	return out, nil
}

// argumentsObject returns a tool call's arguments as a JSON object; an
// empty or invalid string (or a non-object) becomes {}.
func argumentsObject(s string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &obj) != nil || obj == nil {
		return json.RawMessage(`{}`)
	}
	return json.RawMessage(s)
}

// Wire types of a Converse answer.

type converseResponse struct {
	Output struct {
		Message *struct {
			Role    string          `json:"role"`
			Content []responseBlock `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string `json:"stopReason"`
	Usage      *usage `json:"usage"`
}

// responseBlock is an answer's content block; reasoningContent and others
// the canonical form does not carry are ignored.
type responseBlock struct {
	Text    *string `json:"text"`
	ToolUse *struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"toolUse"`
}

// usage is Bedrock's token usage: inputTokens excludes the cache reads and
// writes, which are counted apart.
type usage struct {
	InputTokens           int64 `json:"inputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
	CacheReadInputTokens  int64 `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
}

// canonical converts usage to OpenAI's convention, where prompt tokens
// include the cached ones. Each count is sanitized before they are added
// up (providers.UsageCounts).
func (u *usage) canonical() providers.Usage {
	if u == nil {
		return providers.Usage{}
	}
	var c providers.UsageCounts
	read, write := c.Of(u.CacheReadInputTokens), c.Of(u.CacheWriteInputTokens)
	return c.Usage(providers.Usage{
		PromptTokens:     c.Of(u.InputTokens) + read + write,
		CompletionTokens: c.Of(u.OutputTokens),
		CachedTokens:     read,
		CacheWriteTokens: write,
	})
}

// finishReason maps a stopReason.
func finishReason(s string) providers.FinishReason {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return providers.FinishLength
	case "tool_use":
		return providers.FinishToolCalls
	case "guardrail_intervened", "content_filtered":
		return providers.FinishContentFilter
	default: // end_turn, stop_sequence, and any new value
		return providers.FinishStop
	}
}

// upstreamFault is the Error for an answer the gateway cannot use.
func upstreamFault(format string, args ...any) *providers.Error {
	e := providers.BadRequest("", format, args...)
	e.Status, e.Type, e.Code = http.StatusBadGateway, "server_error", "upstream_error"
	return e
}

// decodeChat translates a Converse answer. model is the requested model and
// id the request id AWS sent (Bedrock echoes neither in the body).
func decodeChat(body []byte, model, id string) (*providers.ChatResponse, error) {
	var r converseResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, upstreamFault("Bedrock sent an unreadable Converse answer: %v", err)
	}
	if r.Output.Message == nil {
		return nil, upstreamFault("Bedrock sent a Converse answer without a message")
	}
	msg := providers.Message{Role: providers.RoleAssistant}
	var text strings.Builder
	for _, b := range r.Output.Message.Content {
		switch {
		case b.Text != nil:
			text.WriteString(*b.Text)
		case b.ToolUse != nil:
			args := "{}"
			if in := bytes.TrimSpace(b.ToolUse.Input); len(in) > 0 && !bytes.Equal(in, []byte("null")) {
				var buf bytes.Buffer
				if json.Compact(&buf, in) == nil {
					args = buf.String()
				}
			}
			id := b.ToolUse.ToolUseID
			if id == "" {
				id = fmt.Sprintf("call_%d", len(msg.ToolCalls))
			}
			msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{ID: id, Name: b.ToolUse.Name, Arguments: args})
		}
	}
	if text.Len() > 0 {
		msg.Parts = []providers.Part{{Type: providers.PartText, Text: text.String()}}
	}
	return &providers.ChatResponse{
		ID:      id,
		Model:   model,
		Created: now().Unix(),
		Choices: []providers.Choice{{Index: 0, Message: msg, FinishReason: finishReason(r.StopReason)}},
		Usage:   r.Usage.canonical(),
	}, nil
}
