package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// The Messages API's JSON shapes, shared by the upstream codec (which
// writes requests and reads answers) and the inbound dialect (which reads
// requests and writes answers).

// wireRequest is a Messages API request body. Polymorphic fields (system,
// content) are RawMessage so that one type both encodes and decodes.
type wireRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int64           `json:"max_tokens,omitempty"`
	System        json.RawMessage `json:"system,omitempty"`
	Messages      []wireMessage   `json:"messages"`
	Tools         []wireTool      `json:"tools,omitempty"`
	ToolChoice    *wireToolChoice `json:"tool_choice,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int64          `json:"top_k,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Metadata      *wireMetadata   `json:"metadata,omitempty"`
	OutputConfig  *wireOutput     `json:"output_config,omitempty"`
	Thinking      json.RawMessage `json:"thinking,omitempty"`
	// systemEncoded marks a System written by appendBlocks: valid, compact
	// and escaped already (see wire_write.go).
	systemEncoded bool
}

// wireCountRequest is a /messages/count_tokens body: the prompt side of a
// request only (the endpoint rejects max_tokens, stream and sampling).
type wireCountRequest struct {
	Model      string          `json:"model"`
	System     json.RawMessage `json:"system,omitempty"`
	Messages   []wireMessage   `json:"messages"`
	Tools      []wireTool      `json:"tools,omitempty"`
	ToolChoice *wireToolChoice `json:"tool_choice,omitempty"`

	systemEncoded bool
}

type wireMessage struct {
	Role string `json:"role"`
	// Content is a string or an array of blocks when decoding; the encoder
	// always writes blocks.
	Content json.RawMessage `json:"content"`
	// encoded marks a Content written by appendBlocks.
	encoded bool
}

// wireBlock is any content block. Only the fields of its type are set.
type wireBlock struct {
	Type   string      `json:"type"`
	Text   string      `json:"text,omitempty"`
	Source *wireSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	// thinking (read only to be dropped)
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// contentEncoded marks a Content written by this package's encoders.
	contentEncoded bool
}

type wireSource struct {
	Type      string `json:"type"` // base64 or url
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type wireTool struct {
	Type        string          `json:"type,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type wireMetadata struct {
	UserID string `json:"user_id,omitempty"`
}

type wireOutput struct {
	Effort string      `json:"effort,omitempty"`
	Format *wireFormat `json:"format,omitempty"`
}

type wireFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema,omitempty"`
}

// wireResponse is a Messages API answer (also message_start's message).
type wireResponse struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []wireBlock `json:"content"`
	StopReason   *string     `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        wireUsage   `json:"usage"`
}

// wireUsage counts tokens. input_tokens excludes cache reads and writes.
// Pointers tell a counter that is absent from one that is zero, which
// matters in message_delta (only present counters replace earlier ones).
type wireUsage struct {
	InputTokens              *int64 `json:"input_tokens,omitempty"`
	OutputTokens             *int64 `json:"output_tokens,omitempty"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
}

// wireError is the error body, in answers and as a stream event.
type wireError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Anthropic stop reasons.
const (
	stopEndTurn      = "end_turn"
	stopMaxTokens    = "max_tokens"
	stopSequence     = "stop_sequence"
	stopToolUse      = "tool_use"
	stopPauseTurn    = "pause_turn"
	stopRefusal      = "refusal"
	stopContextLimit = "model_context_window_exceeded"
)

// finishFromStop maps an Anthropic stop reason to a canonical one. Unknown
// future reasons become stop: the answer ended normally as far as a client
// can tell.
func finishFromStop(s string) providers.FinishReason {
	switch s {
	case stopMaxTokens, stopContextLimit:
		return providers.FinishLength
	case stopToolUse:
		return providers.FinishToolCalls
	case stopRefusal:
		return providers.FinishContentFilter
	default:
		return providers.FinishStop
	}
}

// stopFromFinish is the reverse of finishFromStop.
func stopFromFinish(f providers.FinishReason) string {
	switch f {
	case providers.FinishLength:
		return stopMaxTokens
	case providers.FinishToolCalls:
		return stopToolUse
	case providers.FinishContentFilter:
		return stopRefusal
	default:
		return stopEndTurn
	}
}

// usageFromWire converts to canonical usage, where prompt tokens include
// cache reads and writes. Each count is sanitized before they are added
// up (providers.UsageCounts).
func usageFromWire(u wireUsage) providers.Usage {
	var c providers.UsageCounts
	in, out, cw, cr := c.Of(val(u.InputTokens)), c.Of(val(u.OutputTokens)), c.Of(val(u.CacheCreationInputTokens)), c.Of(val(u.CacheReadInputTokens))
	return c.Usage(providers.Usage{
		PromptTokens:     in + cr + cw,
		CompletionTokens: out,
		CachedTokens:     cr,
		CacheWriteTokens: cw,
	})
}

// mergeUsage lays the counters present in later over earlier.
func mergeUsage(earlier *wireUsage, later wireUsage) {
	if later.InputTokens != nil {
		earlier.InputTokens = later.InputTokens
	}
	if later.OutputTokens != nil {
		earlier.OutputTokens = later.OutputTokens
	}
	if later.CacheCreationInputTokens != nil {
		earlier.CacheCreationInputTokens = later.CacheCreationInputTokens
	}
	if later.CacheReadInputTokens != nil {
		earlier.CacheReadInputTokens = later.CacheReadInputTokens
	}
}

func val(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// errorFromType classifies an error the upstream reported by type alone
// (in a stream, where there is no status).
func errorFromType(typ, msg string) *providers.Error {
	e := &providers.Error{Message: msg}
	switch typ {
	case "invalid_request_error":
		e.Status, e.Type = http.StatusBadRequest, "invalid_request_error"
	case "request_too_large":
		e.Status, e.Type, e.Code = http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large"
	case "not_found_error":
		e.Status, e.Type = http.StatusNotFound, "not_found_error"
	case "rate_limit_error":
		e.Status, e.Type, e.Code = http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded"
	case "overloaded_error":
		e.Status, e.Type, e.Code = http.StatusServiceUnavailable, "overloaded_error", "overloaded"
	case "authentication_error", "permission_error", "billing_error":
		// The gateway's own credentials or account: the operator's problem.
		e.Status, e.Type, e.Code = http.StatusBadGateway, "server_error", "upstream_auth_failed"
		e.Message = "the upstream provider rejected the gateway's credentials"
	case "timeout_error":
		e.Status, e.Type, e.Code = http.StatusGatewayTimeout, "server_error", "upstream_timeout"
	default:
		e.Status, e.Type, e.Code = http.StatusBadGateway, "server_error", "upstream_error"
	}
	if e.Message == "" {
		e.Message = "the upstream provider reported an error (" + typ + ")"
	}
	return e
}

// objectOrEmpty returns s when it is a JSON object, else {}: tool_use input
// must be an object, and clients send empty or broken argument strings.
func objectOrEmpty(s string) json.RawMessage {
	b := bytes.TrimSpace([]byte(s))
	if len(b) > 0 && b[0] == '{' {
		if out, err := wirejson.AppendCompact(nil, b); err == nil {
			return out
		}
	}
	return json.RawMessage("{}")
}

// argumentsText renders tool_use input as canonical argument text.
func argumentsText(input json.RawMessage) string {
	b := bytes.TrimSpace(input)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return "{}"
	}
	var stack [512]byte // room for most arguments: only the string is allocated
	out, err := wirejson.AppendCompact(stack[:0], b)
	if err != nil {
		return "{}"
	}
	return string(out)
}
