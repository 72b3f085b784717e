package openai

import (
	"encoding/json"
	"fmt"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
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

// decodeUsage converts usage to canonical form, every count sanitized
// (providers.SanitizeUsage).
func decodeUsage(u *wireUsage) providers.Usage {
	out := providers.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedTokens, out.CacheWriteTokens = d.CachedTokens, d.CacheWriteTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return providers.SanitizeUsage(out)
}

// EncodeChatResponse renders a canonical answer as an OpenAI
// chat.completion body. It is on every translated answer's path, so it
// writes by hand the bytes json.Marshal writes for the wireResponse (which
// the fuzz tests hold it to): the wire shape is wireResponse's, with
// content null only beside tool calls and refusal and logprobs null.
func EncodeChatResponse(resp *providers.ChatResponse) ([]byte, error) {
	size := 320 + len(resp.ID) + len(resp.Model)
	for i := range resp.Choices {
		m := &resp.Choices[i].Message
		for _, p := range m.Parts {
			size += len(p.Text) + len(p.Text)/8 // room for some escapes
		}
		for _, tc := range m.ToolCalls {
			size += 64 + len(tc.ID) + len(tc.Name) + len(tc.Arguments)*5/4
		}
		size += 128
	}
	b := make([]byte, 0, size)
	b = append(b, `{"id":`...)
	b = wirejson.AppendString(b, resp.ID)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = wirejson.AppendInt(b, resp.Created)
	b = append(b, `,"model":`...)
	b = wirejson.AppendString(b, resp.Model)
	b = append(b, `,"choices":[`...)
	for i, c := range resp.Choices {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = wirejson.AppendInt(b, int64(c.Index))
		b = append(b, `,"message":{"role":"assistant","content":`...)
		if text := c.Message.Text(); text != "" || len(c.Message.ToolCalls) == 0 {
			b = wirejson.AppendString(b, text)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"refusal":null`...)
		if len(c.Message.ToolCalls) > 0 {
			b = append(b, `,"tool_calls":[`...)
			for j, tc := range c.Message.ToolCalls {
				if j > 0 {
					b = append(b, ',')
				}
				args := tc.Arguments
				if args == "" {
					args = "{}"
				}
				b = appendToolCall(b, false, 0, tc.ID, "function", tc.Name, args)
			}
			b = append(b, ']')
		}
		b = append(b, `},"logprobs":null,"finish_reason":`...)
		b = wirejson.AppendString(b, string(c.FinishReason))
		b = append(b, '}')
	}
	b = append(b, `],"usage":`...)
	b = appendUsage(b, resp.Usage)
	return append(b, '}'), nil
}

// appendToolCall writes a wireToolCall: the index only withIndex (it is a
// pointer in wireToolCall), and id, type and name only when set.
func appendToolCall(b []byte, withIndex bool, index int, id, typ, name, args string) []byte {
	b = append(b, '{')
	if withIndex {
		b = append(b, `"index":`...)
		b = wirejson.AppendInt(b, int64(index))
		b = append(b, ',')
	}
	if id != "" {
		b = append(b, `"id":`...)
		b = wirejson.AppendString(b, id)
		b = append(b, ',')
	}
	if typ != "" {
		b = append(b, `"type":`...)
		b = wirejson.AppendString(b, typ)
		b = append(b, ',')
	}
	b = append(b, `"function":{`...)
	if name != "" {
		b = append(b, `"name":`...)
		b = wirejson.AppendString(b, name)
		b = append(b, ',')
	}
	b = append(b, `"arguments":`...)
	b = wirejson.AppendString(b, args)
	return append(b, "}}"...)
}

// appendUsage writes canonical usage as a wireUsage with both details
// objects (cache_write_tokens only when not 0).
func appendUsage(b []byte, u providers.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = wirejson.AppendInt(b, u.PromptTokens)
	b = append(b, `,"completion_tokens":`...)
	b = wirejson.AppendInt(b, u.CompletionTokens)
	b = append(b, `,"total_tokens":`...)
	b = wirejson.AppendInt(b, u.PromptTokens+u.CompletionTokens)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = wirejson.AppendInt(b, u.CachedTokens)
	if u.CacheWriteTokens != 0 {
		b = append(b, `,"cache_write_tokens":`...)
		b = wirejson.AppendInt(b, u.CacheWriteTokens)
	}
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = wirejson.AppendInt(b, u.ReasoningTokens)
	return append(b, "}}"...)
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
