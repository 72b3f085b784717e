package anthropic

import (
	"encoding/json"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
)

// Hand-written encoding of the request body sent upstream: the bytes
// json.Marshal writes for these types (field order, omitempty, escaping,
// raw values compacted, errors), which the fuzz tests hold it to, without
// reflection, and without compacting again what was encoded here already.

// marshal encodes w as the request body.
func (w *wireRequest) marshal() ([]byte, error) {
	size := 256 + len(w.System)
	for _, m := range w.Messages {
		size += 32 + len(m.Content)
	}
	for _, t := range w.Tools {
		size += 64 + len(t.Name) + len(t.Description) + len(t.InputSchema)
	}
	return w.appendJSON(make([]byte, 0, size))
}

func (w *wireRequest) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"model":`...)
	b = wirejson.AppendString(b, w.Model)
	if w.MaxTokens != 0 {
		b = append(b, `,"max_tokens":`...)
		b = wirejson.AppendInt(b, w.MaxTokens)
	}
	if b, err = appendPrompt(b, w.System, w.systemEncoded, w.Messages, w.Tools, w.ToolChoice); err != nil {
		return nil, err
	}
	if w.Temperature != nil {
		b = append(b, `,"temperature":`...)
		if b, err = wirejson.AppendFloat(b, *w.Temperature); err != nil {
			return nil, err
		}
	}
	if w.TopP != nil {
		b = append(b, `,"top_p":`...)
		if b, err = wirejson.AppendFloat(b, *w.TopP); err != nil {
			return nil, err
		}
	}
	if w.TopK != nil {
		b = append(b, `,"top_k":`...)
		b = wirejson.AppendInt(b, *w.TopK)
	}
	if len(w.StopSequences) > 0 {
		b = append(b, `,"stop_sequences":[`...)
		for i, s := range w.StopSequences {
			if i > 0 {
				b = append(b, ',')
			}
			b = wirejson.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if w.Stream {
		b = append(b, `,"stream":true`...)
	}
	if w.Metadata != nil {
		b = append(b, `,"metadata":{`...)
		if w.Metadata.UserID != "" {
			b = append(b, `"user_id":`...)
			b = wirejson.AppendString(b, w.Metadata.UserID)
		}
		b = append(b, '}')
	}
	if o := w.OutputConfig; o != nil {
		b = append(b, `,"output_config":{`...)
		if o.Effort != "" {
			b = append(b, `"effort":`...)
			b = wirejson.AppendString(b, o.Effort)
		}
		if f := o.Format; f != nil {
			if o.Effort != "" {
				b = append(b, ',')
			}
			b = append(b, `"format":{"type":`...)
			b = wirejson.AppendString(b, f.Type)
			if len(f.Schema) > 0 {
				b = append(b, `,"schema":`...)
				if b, err = wirejson.AppendRaw(b, f.Schema); err != nil {
					return nil, err
				}
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if len(w.Thinking) > 0 {
		b = append(b, `,"thinking":`...)
		if b, err = wirejson.AppendRaw(b, w.Thinking); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// marshal encodes a count_tokens body.
func (w *wireCountRequest) marshal() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"model":`...)
	b = wirejson.AppendString(b, w.Model)
	b, err := appendPrompt(b, w.System, w.systemEncoded, w.Messages, w.Tools, w.ToolChoice)
	if err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendPrompt appends the members that a request and a count_tokens body
// share, in their order: system, messages, tools and tool_choice.
func appendPrompt(b []byte, system json.RawMessage, systemEncoded bool, msgs []wireMessage, tools []wireTool, choice *wireToolChoice) ([]byte, error) {
	var err error
	if len(system) > 0 {
		b = append(b, `,"system":`...)
		if b, err = appendEncoded(b, system, systemEncoded); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"messages":`...)
	if b, err = appendMessages(b, msgs); err != nil {
		return nil, err
	}
	if len(tools) > 0 {
		b = append(b, `,"tools":`...)
		if b, err = appendTools(b, tools); err != nil {
			return nil, err
		}
	}
	if choice != nil {
		b = append(b, `,"tool_choice":`...)
		b = choice.appendJSON(b)
	}
	return b, nil
}

// appendEncoded appends a raw value, as it is when this file's encoders
// wrote it (it is then valid, compact and escaped already).
func appendEncoded(b []byte, raw json.RawMessage, encoded bool) ([]byte, error) {
	if encoded {
		return append(b, raw...), nil
	}
	return wirejson.AppendRaw(b, raw)
}

func appendMessages(b []byte, msgs []wireMessage) ([]byte, error) {
	if msgs == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '[')
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = wirejson.AppendString(b, m.Role)
		b = append(b, `,"content":`...)
		if b, err = appendEncoded(b, m.Content, m.encoded); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func appendTools(b []byte, tools []wireTool) ([]byte, error) {
	var err error
	b = append(b, '[')
	for i, t := range tools {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		if t.Type != "" {
			b = append(b, `"type":`...)
			b = wirejson.AppendString(b, t.Type)
			b = append(b, ',')
		}
		b = append(b, `"name":`...)
		b = wirejson.AppendString(b, t.Name)
		if t.Description != "" {
			b = append(b, `,"description":`...)
			b = wirejson.AppendString(b, t.Description)
		}
		b = append(b, `,"input_schema":`...)
		if b, err = wirejson.AppendRaw(b, t.InputSchema); err != nil {
			return nil, err
		}
		if t.Strict != nil {
			b = append(b, `,"strict":`...)
			b = appendBool(b, *t.Strict)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

func (c *wireToolChoice) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = wirejson.AppendString(b, c.Type)
	if c.Name != "" {
		b = append(b, `,"name":`...)
		b = wirejson.AppendString(b, c.Name)
	}
	if c.DisableParallelToolUse {
		b = append(b, `,"disable_parallel_tool_use":true`...)
	}
	return append(b, '}')
}

// appendBlocks appends a list of content blocks: the lists joined, as
// append(lists[0], lists[1]...) would join them (nil, written null, only
// when lists[0] is nil and the others are empty).
func appendBlocks(b []byte, lists ...[]wireBlock) ([]byte, error) {
	n := 0
	for _, list := range lists {
		n += len(list)
	}
	if n == 0 && lists[0] == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '[')
	first := true
	for _, list := range lists {
		for i := range list {
			if !first {
				b = append(b, ',')
			}
			first = false
			if b, err = list[i].appendJSON(b); err != nil {
				return nil, err
			}
		}
	}
	return append(b, ']'), nil
}

// appendJSON appends a block: its type and whichever of its fields are
// set (they are all omitempty).
func (bl *wireBlock) appendJSON(b []byte) ([]byte, error) {
	var err error
	str := func(name, v string) {
		if v != "" {
			b = append(b, name...)
			b = wirejson.AppendString(b, v)
		}
	}
	b = append(b, `{"type":`...)
	b = wirejson.AppendString(b, bl.Type)
	str(`,"text":`, bl.Text)
	if s := bl.Source; s != nil {
		b = append(b, `,"source":{"type":`...)
		b = wirejson.AppendString(b, s.Type)
		str(`,"media_type":`, s.MediaType)
		str(`,"data":`, s.Data)
		str(`,"url":`, s.URL)
		b = append(b, '}')
	}
	str(`,"id":`, bl.ID)
	str(`,"name":`, bl.Name)
	if len(bl.Input) > 0 {
		b = append(b, `,"input":`...)
		if b, err = wirejson.AppendRaw(b, bl.Input); err != nil {
			return nil, err
		}
	}
	str(`,"tool_use_id":`, bl.ToolUseID)
	if len(bl.Content) > 0 {
		b = append(b, `,"content":`...)
		if b, err = appendEncoded(b, bl.Content, bl.contentEncoded); err != nil {
			return nil, err
		}
	}
	if bl.IsError {
		b = append(b, `,"is_error":true`...)
	}
	str(`,"thinking":`, bl.Thinking)
	str(`,"signature":`, bl.Signature)
	return append(b, '}'), nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}
