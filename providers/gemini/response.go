package gemini

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Wire types of a GenerateContentResponse (also each chunk of a stream).

type generateResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
	// Error is set on an error sent inside a stream.
	Error *apiError `json:"error"`
}

type candidate struct {
	Content      *content `json:"content"`
	FinishReason string   `json:"finishReason"`
	// Index is omitted for 0 (proto3 drops zero values).
	Index *int `json:"index"`
}

type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type usageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount"`
}

// usage converts Gemini's counts to the canonical (OpenAI) convention.
// promptTokenCount already includes cachedContentTokenCount; tool-use
// prompt tokens (search or code results fed back) are billed as input;
// candidatesTokenCount excludes thinking, which OpenAI counts in
// completion tokens. Each count is sanitized before they are added up
// (providers.UsageCounts).
func (u *usageMetadata) usage() providers.Usage {
	var c providers.UsageCounts
	thoughts := c.Of(u.ThoughtsTokenCount)
	return c.Usage(providers.Usage{
		PromptTokens:     c.Of(u.PromptTokenCount) + c.Of(u.ToolUsePromptTokenCount),
		CompletionTokens: c.Of(u.CandidatesTokenCount) + thoughts,
		CachedTokens:     c.Of(u.CachedContentTokenCount),
		ReasoningTokens:  thoughts,
	})
}

// now and newID are variables so that tests can pin them.
var (
	now   = func() int64 { return time.Now().Unix() }
	newID = func() string {
		var b [12]byte
		_, _ = rand.Read(b[:])
		return "gemini-" + hex.EncodeToString(b[:])
	}
)

// mapFinish maps a candidate's finishReason. STOP on a candidate that
// called functions is tool_calls (Gemini says STOP for tool turns).
func mapFinish(reason string, calledTools bool) providers.FinishReason {
	switch reason {
	case "MAX_TOKENS":
		return providers.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE":
		return providers.FinishContentFilter
	case "STOP":
		if calledTools {
			return providers.FinishToolCalls
		}
	}
	// OTHER, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, ... and any
	// reason added later: the candidate ended, for no reason a client can
	// act on.
	return providers.FinishStop
}

// callID returns the id of a tool call: Gemini's own when it sends one,
// else "call_<n>", n counting the calls of the whole answer in order, which
// is deterministic and unique within it.
func callID(fc *functionCall, n int) string {
	if fc.ID != "" {
		return fc.ID
	}
	return "call_" + strconv.Itoa(n)
}

// callArgs returns a function call's args as an arguments string.
func callArgs(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return "{}"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, t) != nil {
		return "{}"
	}
	return buf.String()
}

// maxCandidates bounds a candidate index: anything beyond is garbage.
const maxCandidates = 1024

// errNoCandidates is the answer to a 200 with neither candidates nor a
// block reason: nothing a client could use.
func errNoCandidates() *providers.Error {
	return &providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
		Message: "the upstream provider returned no candidates"}
}

func errMalformed(what string) *providers.Error {
	return &providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
		Message: "the upstream provider sent a malformed " + what}
}

// decodeResponse translates a generateContent answer. A prompt blocked by
// promptFeedback.blockReason (HTTP 200, no candidates) becomes n empty
// choices finished with content_filter rather than an error: the call was
// billed for its prompt, and OpenAI clients know that finish reason.
func decodeResponse(raw []byte, model string, n int) (*providers.ChatResponse, error) {
	var r generateResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, errMalformed("response")
	}
	if r.Error != nil {
		return nil, r.Error.toError(0, nil, "")
	}
	out := &providers.ChatResponse{ID: r.ResponseID, Model: r.ModelVersion, Created: now()}
	if out.ID == "" {
		out.ID = newID()
	}
	if out.Model == "" {
		out.Model = model
	}
	if r.UsageMetadata != nil {
		out.Usage = r.UsageMetadata.usage()
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback == nil || r.PromptFeedback.BlockReason == "" {
			return nil, errNoCandidates()
		}
		for i := range max(n, 1) {
			out.Choices = append(out.Choices, providers.Choice{
				Index:        i,
				Message:      providers.Message{Role: providers.RoleAssistant},
				FinishReason: providers.FinishContentFilter,
			})
		}
		return out, nil
	}
	calls := 0
	for i, c := range r.Candidates {
		idx := i
		if c.Index != nil {
			idx = *c.Index
		}
		if idx < 0 || idx >= maxCandidates {
			return nil, errMalformed("response")
		}
		msg := providers.Message{Role: providers.RoleAssistant}
		var text bytes.Buffer
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				switch {
				case p.Thought:
					// A thought summary, not answer text.
				case p.FunctionCall != nil:
					msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{
						ID:        callID(p.FunctionCall, calls),
						Name:      p.FunctionCall.Name,
						Arguments: callArgs(p.FunctionCall.Args),
					})
					calls++
				default:
					text.WriteString(p.Text)
				}
			}
		}
		if text.Len() > 0 {
			msg.Parts = []providers.Part{{Type: providers.PartText, Text: text.String()}}
		}
		out.Choices = append(out.Choices, providers.Choice{
			Index:        idx,
			Message:      msg,
			FinishReason: mapFinish(c.FinishReason, len(msg.ToolCalls) > 0),
		})
	}
	return out, nil
}
