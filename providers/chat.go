package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// This file holds the canonical form of a chat and an embedding call: what
// every dialect decodes into and encodes from. Any inbound dialect (OpenAI,
// Anthropic) can then reach any upstream dialect (OpenAI, Anthropic, Gemini,
// Bedrock, Cohere, ...) by decoding with one codec and encoding with the
// other; adding a provider touches one folder.

// Role is the author of a message.
type Role string

// Roles. Developer messages decode as RoleSystem.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// ChatRequest is a chat call in canonical form.
type ChatRequest struct {
	// Model is the upstream model name (the gateway resolves public names).
	Model string
	// Messages in order. System messages may appear anywhere and several
	// times; dialects with a single system field concatenate them in order.
	Messages []Message
	Tools    []Tool
	// ToolChoice is nil for the provider's default.
	ToolChoice *ToolChoice
	// ParallelToolCalls is nil for the provider's default.
	ParallelToolCalls *bool
	ResponseFormat    *ResponseFormat
	// MaxTokens bounds the completion (OpenAI max_tokens and
	// max_completion_tokens both decode here). Nil: not set by the client;
	// dialects that require it (Anthropic) use DefaultMaxTokens.
	MaxTokens        *int64
	Temperature      *float64
	TopP             *float64
	FrequencyPenalty *float64
	PresencePenalty  *float64
	Stop             []string
	Seed             *int64
	// User identifies the end user to the provider, where it has a field.
	User string
	// N is the number of choices; 0 means 1.
	N      int
	Stream bool
	// IncludeUsage is the client's wish for a final usage chunk in a stream.
	// Upstream codecs always obtain usage for metering, whatever this says.
	IncludeUsage bool
	// ReasoningEffort is OpenAI's reasoning_effort, "" when unset.
	ReasoningEffort string
	// Extra holds the request fields this struct does not model, raw, keyed
	// by their OpenAI names. Only codecs of OpenAI-compatible upstreams send
	// them (and each may drop what its host rejects); strict dialects ignore
	// them.
	Extra map[string]json.RawMessage
}

// DefaultMaxTokens is used for upstreams that require a completion limit
// when the client set none.
const DefaultMaxTokens = 4096

// Message is one turn of the conversation.
type Message struct {
	Role Role
	// Parts is the content: text and images, in order. An assistant message
	// that only calls tools has no parts.
	Parts []Part
	// ToolCalls are the assistant's calls, in order.
	ToolCalls []ToolCall
	// ToolCallID is the call a RoleTool message answers.
	ToolCallID string
	// Name is OpenAI's optional participant name; most dialects drop it.
	Name string
}

// Text returns the message's text parts joined, without separators.
func (m *Message) Text() string {
	if len(m.Parts) == 1 && m.Parts[0].Type == PartText {
		return m.Parts[0].Text
	}
	var s string
	for _, p := range m.Parts {
		if p.Type == PartText {
			s += p.Text
		}
	}
	return s
}

// PartType is the kind of a content part.
type PartType string

// Part types.
const (
	PartText  PartType = "text"
	PartImage PartType = "image"
)

// Part is one piece of message content.
type Part struct {
	Type  PartType
	Text  string
	Image *Image
}

// Image is an image in a message: either a URL to fetch, or inline bytes
// with their media type (a data: URL decodes to the latter).
type Image struct {
	URL       string
	MediaType string
	Data      []byte
	// Detail is OpenAI's detail hint (auto, low, high); others ignore it.
	Detail string
}

// ToolCall is a call of a function tool by the assistant.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is a JSON object, as text ("{}" for none).
	Arguments string
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is a JSON Schema object; nil for a function without any.
	Parameters json.RawMessage
	Strict     *bool
}

// ToolChoice modes.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required"
	ToolChoiceFunction = "function" // Name says which
)

// ToolChoice says whether and which tool the model must call.
type ToolChoice struct {
	Mode string
	Name string
}

// ResponseFormat types.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	Type        string
	Name        string
	Description string
	Schema      json.RawMessage
	Strict      *bool
}

// FinishReason says why a choice ended, in OpenAI's terms (the only ones
// strict OpenAI clients accept).
type FinishReason string

// Finish reasons.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
)

// Usage counts tokens. PromptTokens includes CachedTokens and
// CacheWriteTokens; CompletionTokens includes ReasoningTokens (OpenAI's
// convention: codecs of dialects that count otherwise add them up).
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CacheWriteTokens int64
	ReasoningTokens  int64
	// Adjusted says that the upstream reported a count out of range
	// (negative, or above MaxUsageTokens) and the decoder clamped it; see
	// [UsageCounts]. The gateway logs a warning for it.
	Adjusted bool `json:"-"`
}

// ChatResponse is a complete (non-streamed) answer.
type ChatResponse struct {
	ID      string
	Model   string
	Created int64
	Choices []Choice
	Usage   Usage
}

// Choice is one of the answer's alternatives.
type Choice struct {
	Index        int
	Message      Message
	FinishReason FinishReason
}

// EventType is the kind of a stream event.
type EventType int

// Stream event types, in the order a stream produces them: one EventStart,
// then text and tool-call events, one EventFinish per choice, then at most
// one EventUsage. EventError ends a stream that failed after it began.
const (
	EventStart EventType = iota
	EventText
	EventToolCall // a new tool call: ToolIndex, ToolID, ToolName
	EventToolArgs // a piece of a tool call's arguments: ToolIndex, Text
	EventFinish
	EventUsage
	EventError
)

// Event is one step of a streamed answer.
type Event struct {
	Type EventType
	// Choice is the index of the choice the event belongs to.
	Choice int
	// Text is the text delta (EventText) or arguments delta (EventToolArgs).
	Text string
	// ToolIndex is the position of the tool call among the choice's tool
	// calls (not among content blocks), from 0.
	ToolIndex    int
	ToolID       string
	ToolName     string
	FinishReason FinishReason
	// ID, Model and Created are set on EventStart.
	ID      string
	Model   string
	Created int64
	// Usage is set on EventUsage; it holds the totals, not a delta.
	Usage *Usage
	// Err is set on EventError.
	Err *Error
}

// Stream yields the events of a streamed answer. Next returns io.EOF after
// the last event. Close releases the upstream connection; it is safe to call
// at any time, and more than once.
type Stream interface {
	Next() (Event, error)
	Close() error
}

// EmbeddingRequest is an embedding call in canonical form.
type EmbeddingRequest struct {
	Model string
	// Inputs are texts. Token-array inputs stay in Extra for OpenAI-format
	// upstreams; others reject them.
	Inputs     []string
	Dimensions *int64
	User       string
	Extra      map[string]json.RawMessage
}

// EmbeddingResponse holds one vector per input, in input order.
type EmbeddingResponse struct {
	Model   string
	Vectors [][]float32
	Usage   Usage
}

// ChatProvider is an upstream that answers chat calls in canonical form.
// Every provider implements it; its codec translates to and from its wire
// format. Errors are *Error for answers the upstream gave, *UpstreamError
// for no answer.
type ChatProvider interface {
	Chat(ctx context.Context, req *ChatRequest) (*ChatResponse, error)
	// ChatStream starts a streamed answer. An error means no event was
	// produced; once it returns, failures arrive as EventError.
	ChatStream(ctx context.Context, req *ChatRequest) (Stream, error)
}

// Embedder is an upstream that computes embeddings.
type Embedder interface {
	Embed(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// Error is an error the upstream answered with, classified so that each
// inbound dialect can render it in its own shape. Its message never holds a
// credential.
type Error struct {
	// Status is the HTTP status to give the client.
	Status int
	// Type is the OpenAI error type: invalid_request_error,
	// authentication_error, permission_error, not_found_error,
	// rate_limit_error, insufficient_quota, server_error, overloaded_error.
	Type    string
	Code    string
	Param   string
	Message string
	// RetryAfter is the upstream's Retry-After in seconds, 0 if none.
	RetryAfter int
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// BadRequest returns a 400 Error for a request a codec cannot translate
// (for example n > 1 for a provider without choices).
func BadRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...)}
}

// TokenCounter is an upstream that counts a request's input tokens
// without running it (Anthropic's count_tokens).
type TokenCounter interface {
	CountTokens(ctx context.Context, req *ChatRequest) (int64, error)
}

// InlineImages is implemented by providers that cannot take an image by URL
// (Gemini, Bedrock): the gateway fetches URL images first and passes their
// bytes.
type InlineImages interface {
	NeedsInlineImages() bool
}
