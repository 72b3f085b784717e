package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

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
