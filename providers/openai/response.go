package openai

import (
	"encoding/json"
	"fmt"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// DecodeChatResponse decodes an OpenAI chat.completion body.
func DecodeChatResponse(body []byte) (*providers.ChatResponse, error) {
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decoding the upstream's chat completion: %w", err)
	}
	resp := &providers.ChatResponse{ID: w.ID, Model: w.Model, Created: w.Created, Choices: make([]providers.Choice, 0, len(w.Choices))}
	for _, c := range w.Choices {
		msg := providers.Message{Role: providers.RoleAssistant}
		if c.Message.Content != nil && *c.Message.Content != "" {
			msg.Parts = []providers.Part{{Type: providers.PartText, Text: *c.Message.Content}}
		} else if c.Message.Refusal != nil && *c.Message.Refusal != "" {
			msg.Parts = []providers.Part{{Type: providers.PartText, Text: *c.Message.Refusal}}
		}
		for _, tc := range c.Message.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		resp.Choices = append(resp.Choices, providers.Choice{Index: c.Index, Message: msg, FinishReason: finishReason(c.FinishReason)})
	}
	if w.Usage != nil {
		resp.Usage = decodeUsage(w.Usage)
	}
	return resp, nil
}

// finishReason maps the finish reasons of OpenAI-compatible hosts onto the
// four strict OpenAI clients accept.
func finishReason(s string) providers.FinishReason {
	switch s {
	case "length", "max_tokens", "model_length":
		return providers.FinishLength
	case "tool_calls", "function_call", "tool_call":
		return providers.FinishToolCalls
	case "content_filter":
		return providers.FinishContentFilter
	}
	return providers.FinishStop
}

func decodeUsage(u *wireUsage) providers.Usage {
	out := providers.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedTokens, out.CacheWriteTokens = d.CachedTokens, d.CacheWriteTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

func encodeUsage(u providers.Usage) *wireUsage {
	return &wireUsage{
		PromptTokens:            u.PromptTokens,
		CompletionTokens:        u.CompletionTokens,
		TotalTokens:             u.PromptTokens + u.CompletionTokens,
		PromptTokensDetails:     &wirePromptDetails{CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens},
		CompletionTokensDetails: &wireCompletionDetail{ReasoningTokens: u.ReasoningTokens},
	}
}

// EncodeChatResponse renders a canonical answer as an OpenAI
// chat.completion body.
func EncodeChatResponse(resp *providers.ChatResponse) ([]byte, error) {
	w := wireResponse{ID: resp.ID, Object: "chat.completion", Created: resp.Created, Model: resp.Model,
		Choices: make([]wireChoice, 0, len(resp.Choices)), Usage: encodeUsage(resp.Usage)}
	for _, c := range resp.Choices {
		wc := wireChoice{Index: c.Index, FinishReason: string(c.FinishReason), Logprobs: json.RawMessage("null"),
			Message: wireRespMessage{Role: "assistant"}}
		if text := c.Message.Text(); text != "" || len(c.Message.ToolCalls) == 0 {
			wc.Message.Content = &text
		}
		for _, tc := range c.Message.ToolCalls {
			args := tc.Arguments
			if args == "" {
				args = "{}"
			}
			wc.Message.ToolCalls = append(wc.Message.ToolCalls, wireToolCall{ID: tc.ID, Type: "function", Function: wireFunction{Name: tc.Name, Arguments: args}})
		}
		w.Choices = append(w.Choices, wc)
	}
	return json.Marshal(w)
}

// EncodeError renders an error as an OpenAI error body.
func EncodeError(e *providers.Error) []byte {
	we := wireError{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		we.Param = &e.Param
	}
	if e.Code != "" {
		we.Code = &e.Code
	}
	b, _ := json.Marshal(struct {
		Error wireError `json:"error"`
	}{we})
	return b
}
