package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// The encoding/json renderings the hand-written encoders replaced, kept as
// their specification: the fuzz tests hold the encoders to these bytes.

// encodeChatResponseJSON renders a canonical answer with json.Marshal.
func encodeChatResponseJSON(resp *providers.ChatResponse) ([]byte, error) {
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

func encodeUsage(u providers.Usage) *wireUsage {
	return &wireUsage{
		PromptTokens:            u.PromptTokens,
		CompletionTokens:        u.CompletionTokens,
		TotalTokens:             u.PromptTokens + u.CompletionTokens,
		PromptTokensDetails:     &wirePromptDetails{CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens},
		CompletionTokensDetails: &wireCompletionDetail{ReasoningTokens: u.ReasoningTokens},
	}
}

// jsonStreamEncoder writes chunks with json.Marshal.
type jsonStreamEncoder struct {
	w            io.Writer
	includeUsage bool
	id, model    string
	created      int64
	roleSent     map[int]bool
	buf          bytes.Buffer
}

func newJSONStreamEncoder(w io.Writer, includeUsage bool) *jsonStreamEncoder {
	return &jsonStreamEncoder{w: w, includeUsage: includeUsage, roleSent: make(map[int]bool, 1)}
}

func (e *jsonStreamEncoder) Encode(ev providers.Event) error {
	switch ev.Type {
	case providers.EventStart:
		e.id, e.model, e.created = ev.ID, ev.Model, ev.Created
		return e.ensureRole(0)
	case providers.EventText:
		if err := e.ensureRole(ev.Choice); err != nil {
			return err
		}
		text := ev.Text
		return e.writeChunk(wireChunkChoice{Index: ev.Choice, Delta: wireDelta{Content: &text}})
	case providers.EventToolCall:
		if err := e.ensureRole(ev.Choice); err != nil {
			return err
		}
		idx := ev.ToolIndex
		return e.writeChunk(wireChunkChoice{Index: ev.Choice, Delta: wireDelta{ToolCalls: []wireToolCall{{Index: &idx, ID: ev.ToolID, Type: "function",
			Function: wireFunction{Name: ev.ToolName, Arguments: ""}}}}})
	case providers.EventToolArgs:
		idx := ev.ToolIndex
		return e.writeChunk(wireChunkChoice{Index: ev.Choice, Delta: wireDelta{ToolCalls: []wireToolCall{{Index: &idx, Function: wireFunction{Arguments: ev.Text}}}}})
	case providers.EventFinish:
		if err := e.ensureRole(ev.Choice); err != nil {
			return err
		}
		fr := string(ev.FinishReason)
		return e.writeChunk(wireChunkChoice{Index: ev.Choice, FinishReason: &fr})
	case providers.EventUsage:
		if !e.includeUsage || ev.Usage == nil {
			return nil
		}
		return e.write(wireChunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
			Choices: []wireChunkChoice{}, Usage: encodeUsage(*ev.Usage)}, false)
	case providers.EventError:
		if ev.Err == nil {
			return nil
		}
		return e.writeData(EncodeError(ev.Err))
	}
	return nil
}

func (e *jsonStreamEncoder) End() error {
	_, err := io.WriteString(e.w, "data: [DONE]\n\n")
	return err
}

func (e *jsonStreamEncoder) ensureRole(choice int) error {
	if e.roleSent[choice] {
		return nil
	}
	e.roleSent[choice] = true
	empty := ""
	return e.writeChunk(wireChunkChoice{Index: choice, Delta: wireDelta{Role: "assistant", Content: &empty}})
}

func (e *jsonStreamEncoder) writeChunk(c wireChunkChoice) error {
	return e.write(wireChunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
		Choices: []wireChunkChoice{c}}, e.includeUsage)
}

func (e *jsonStreamEncoder) write(c wireChunk, nullUsageField bool) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding a stream chunk: %w", err)
	}
	if nullUsageField {
		b = append(b[:len(b)-1], `,"usage":null}`...)
	}
	return e.writeData(b)
}

func (e *jsonStreamEncoder) writeData(b []byte) error {
	e.buf.Reset()
	e.buf.WriteString("data: ")
	e.buf.Write(b)
	e.buf.WriteString("\n\n")
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

var knownRequestFieldsJSON = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"response_format": true, "max_tokens": true, "max_completion_tokens": true, "temperature": true,
	"top_p": true, "frequency_penalty": true, "presence_penalty": true, "stop": true, "seed": true,
	"user": true, "n": true, "stream": true, "stream_options": true, "reasoning_effort": true,
}

// decodeChatRequestJSON is DecodeChatRequest as it was, with encoding/json
// alone.
func decodeChatRequestJSON(body []byte) (*providers.ChatRequest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, providers.BadRequest("", "the request body is not a JSON object: %v", err)
	}
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		if ute, ok := err.(*json.UnmarshalTypeError); ok && ute.Field != "" {
			return nil, providers.BadRequest(ute.Field, "invalid type for '%s': expected %s", ute.Field, ute.Type)
		}
		return nil, providers.BadRequest("", "invalid request: %v", err)
	}
	if w.Model == "" {
		return nil, providers.BadRequest("model", "you must provide a model parameter")
	}
	req := &providers.ChatRequest{
		Model:             w.Model,
		ParallelToolCalls: w.ParallelToolCalls,
		Temperature:       w.Temperature,
		TopP:              w.TopP,
		FrequencyPenalty:  w.FrequencyPenalty,
		PresencePenalty:   w.PresencePenalty,
		Seed:              w.Seed,
		User:              w.User,
		Stream:            w.Stream,
		ReasoningEffort:   w.ReasoningEffort,
	}
	req.MaxTokens = w.MaxCompletionTokens
	if req.MaxTokens == nil {
		req.MaxTokens = w.MaxTokens
	}
	if req.MaxTokens != nil && *req.MaxTokens <= 0 {
		return nil, providers.BadRequest("max_tokens", "max_tokens must be positive")
	}
	if w.N != nil {
		if *w.N < 1 || *w.N > 128 {
			return nil, providers.BadRequest("n", "n must be between 1 and 128")
		}
		req.N = *w.N
	}
	if w.StreamOptions != nil {
		req.IncludeUsage = w.StreamOptions.IncludeUsage
	}
	var err error
	if req.Stop, err = decodeStopJSON(w.Stop); err != nil {
		return nil, err
	}
	if len(w.Messages) == 0 {
		return nil, providers.BadRequest("messages", "messages must be a non-empty array")
	}
	req.Messages = make([]providers.Message, 0, len(w.Messages))
	for i, m := range w.Messages {
		msg, err := decodeMessageJSON(m, i)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, msg)
	}
	for i, t := range w.Tools {
		if t.Type != "function" && t.Type != "" {
			return nil, providers.BadRequest(fmt.Sprintf("tools[%d].type", i), "only function tools are supported, not %q", t.Type)
		}
		if t.Function.Name == "" {
			return nil, providers.BadRequest(fmt.Sprintf("tools[%d].function.name", i), "a tool needs a name")
		}
		req.Tools = append(req.Tools, providers.Tool{Name: t.Function.Name, Description: t.Function.Description,
			Parameters: t.Function.Parameters, Strict: t.Function.Strict})
	}
	if req.ToolChoice, err = decodeToolChoiceJSON(w.ToolChoice); err != nil {
		return nil, err
	}
	if rf := w.ResponseFormat; rf != nil {
		f := &providers.ResponseFormat{Type: rf.Type}
		switch rf.Type {
		case providers.FormatText, providers.FormatJSONObject:
		case providers.FormatJSONSchema:
			if rf.JSONSchema == nil {
				return nil, providers.BadRequest("response_format.json_schema", "json_schema is required with type json_schema")
			}
			f.Name, f.Description, f.Schema, f.Strict = rf.JSONSchema.Name, rf.JSONSchema.Description, rf.JSONSchema.Schema, rf.JSONSchema.Strict
		default:
			return nil, providers.BadRequest("response_format.type", "unknown response_format type %q", rf.Type)
		}
		req.ResponseFormat = f
	}
	for k, v := range raw {
		if !knownRequestFieldsJSON[k] {
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage)
			}
			req.Extra[k] = v
		}
	}
	return req, nil
}

func decodeStopJSON(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, providers.BadRequest("stop", "stop must be a string or an array of strings")
	}
	return many, nil
}

func decodeToolChoiceJSON(raw json.RawMessage) (*providers.ToolChoice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case providers.ToolChoiceAuto, providers.ToolChoiceNone, providers.ToolChoiceRequired:
			return &providers.ToolChoice{Mode: mode}, nil
		}
		return nil, providers.BadRequest("tool_choice", "unknown tool_choice %q", mode)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return nil, providers.BadRequest("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
	}
	return &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: named.Function.Name}, nil
}

func decodeMessageJSON(m wireMessage, i int) (providers.Message, error) {
	param := fmt.Sprintf("messages[%d]", i)
	msg := providers.Message{Name: m.Name, ToolCallID: m.ToolCallID}
	switch m.Role {
	case "system", "developer":
		msg.Role = providers.RoleSystem
	case "user":
		msg.Role = providers.RoleUser
	case "assistant":
		msg.Role = providers.RoleAssistant
	case "tool":
		msg.Role = providers.RoleTool
		if m.ToolCallID == "" {
			return msg, providers.BadRequest(param+".tool_call_id", "a tool message needs tool_call_id")
		}
	default:
		return msg, providers.BadRequest(param+".role", "unknown role %q", m.Role)
	}
	parts, err := decodeContentJSON(m.Content, param+".content")
	if err != nil {
		return msg, err
	}
	msg.Parts = parts
	for j, tc := range m.ToolCalls {
		if m.Role != "assistant" {
			return msg, providers.BadRequest(param+".tool_calls", "only assistant messages have tool_calls")
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return msg, providers.BadRequest(fmt.Sprintf("%s.tool_calls[%d]", param, j), "a tool call needs an id and a function name")
		}
		args := tc.Function.Arguments
		if strings.TrimSpace(args) == "" {
			args = "{}" // a call without arguments: every dialect wants an object
		}
		msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
	}
	return msg, nil
}

func decodeContentJSON(raw json.RawMessage, param string) ([]providers.Part, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		if text == "" {
			return nil, nil
		}
		return []providers.Part{{Type: providers.PartText, Text: text}}, nil
	}
	var wps []wirePart
	if err := json.Unmarshal(raw, &wps); err != nil {
		return nil, providers.BadRequest(param, "content must be a string or an array of content parts")
	}
	parts := make([]providers.Part, 0, len(wps))
	for j, p := range wps {
		switch p.Type {
		case "text":
			if p.Text != "" {
				parts = append(parts, providers.Part{Type: providers.PartText, Text: p.Text})
			}
		case "refusal":
			if p.Refusal != "" {
				parts = append(parts, providers.Part{Type: providers.PartText, Text: p.Refusal})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, providers.BadRequest(fmt.Sprintf("%s[%d].image_url", param, j), "image_url.url is required")
			}
			img, err := decodeImageURL(p.ImageURL.URL)
			if err != nil {
				return nil, providers.BadRequest(fmt.Sprintf("%s[%d].image_url.url", param, j), "%v", err)
			}
			img.Detail = p.ImageURL.Detail
			parts = append(parts, providers.Part{Type: providers.PartImage, Image: img})
		default:
			return nil, providers.BadRequest(fmt.Sprintf("%s[%d].type", param, j), "content parts of type %q are not supported", p.Type)
		}
	}
	return parts, nil
}
