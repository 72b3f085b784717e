package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// The request encoding as it was, with encoding/json, kept as the
// specification of the hand-written one: the fuzz tests hold it to these
// bytes.

// objectOrEmptyJSON is objectOrEmpty as it was.
func objectOrEmptyJSON(s string) json.RawMessage {
	b := bytes.TrimSpace([]byte(s))
	if len(b) > 0 && b[0] == '{' && json.Valid(b) {
		var buf bytes.Buffer
		if json.Compact(&buf, b) == nil {
			return buf.Bytes()
		}
	}
	return json.RawMessage("{}")
}

// encodeRequestJSON translates a canonical request into a Messages API body.
// defaultMax is the max_tokens sent when the client set none.
func encodeRequestJSON(req *providers.ChatRequest, defaultMax int64) (*wireRequest, error) {
	if req.N > 1 {
		return nil, providers.BadRequest("n", "n=%d: Anthropic returns a single choice; send n=1 or omit it", req.N)
	}
	out := &wireRequest{Model: req.Model, Stream: req.Stream, StopSequences: req.Stop}

	system, msgs, err := encodeMessagesJSON(req.Messages)
	if err != nil {
		return nil, err
	}
	out.Messages = msgs

	out.MaxTokens = defaultMax
	if req.MaxTokens != nil {
		if *req.MaxTokens < 1 {
			return nil, providers.BadRequest("max_tokens", "max_tokens must be at least 1, got %d", *req.MaxTokens)
		}
		out.MaxTokens = *req.MaxTokens
	}
	if req.Temperature != nil {
		// Anthropic's range is [0, 1]; OpenAI's goes to 2.
		t := min(max(*req.Temperature, 0), 1)
		out.Temperature = &t
	}
	// Current Claude models reject temperature and top_p together; the
	// temperature, the more common knob, wins.
	if req.TopP != nil && req.Temperature == nil {
		out.TopP = req.TopP
	}
	if req.User != "" {
		out.Metadata = &wireMetadata{UserID: req.User}
	}

	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case providers.FormatJSONSchema:
			if len(rf.Schema) == 0 {
				return nil, providers.BadRequest("response_format", "response_format json_schema needs a schema")
			}
			out.OutputConfig = &wireOutput{Format: &wireFormat{Type: "json_schema", Schema: rf.Schema}}
		case providers.FormatJSONObject:
			system = append(system, wireBlock{Type: "text", Text: jsonObjectInstruction})
		}
	}
	if len(system) > 0 {
		out.System, _ = json.Marshal(system)
	}

	tools, choice, err := encodeToolsJSON(req)
	if err != nil {
		return nil, err
	}
	out.Tools, out.ToolChoice = tools, choice
	// Seed, penalties, reasoning_effort and Extra have no Messages API
	// counterpart; the API rejects unknown fields, so they are dropped.
	return out, nil
}

// encodeMessagesJSON hoists system messages into system blocks and turns the
// rest into alternating user/assistant turns: consecutive same-role
// messages merge, and tool results become tool_result blocks at the start
// of the user turn that follows the assistant's tool_use.
func encodeMessagesJSON(in []providers.Message) (system []wireBlock, out []wireMessage, err error) {
	type turn struct {
		role    string
		results []wireBlock // tool_result blocks, which must lead the turn
		blocks  []wireBlock
	}
	var turns []*turn
	called := map[string]bool{}
	add := func(role string, results, blocks []wireBlock) {
		if len(results) == 0 && len(blocks) == 0 {
			return // the API rejects empty turns
		}
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].results = append(turns[n-1].results, results...)
			turns[n-1].blocks = append(turns[n-1].blocks, blocks...)
			return
		}
		turns = append(turns, &turn{role: role, results: results, blocks: blocks})
	}

	for i, m := range in {
		switch m.Role {
		case providers.RoleSystem:
			for _, p := range m.Parts {
				if p.Type != providers.PartText {
					return nil, nil, providers.BadRequest(fmt.Sprintf("messages[%d].content", i), "system messages can only hold text for Anthropic")
				}
				if strings.TrimSpace(p.Text) != "" {
					system = append(system, wireBlock{Type: "text", Text: p.Text})
				}
			}
		case providers.RoleUser:
			blocks, err := encodeParts(m.Parts, i)
			if err != nil {
				return nil, nil, err
			}
			add("user", nil, blocks)
		case providers.RoleAssistant:
			blocks, err := encodeParts(m.Parts, i)
			if err != nil {
				return nil, nil, err
			}
			for _, tc := range m.ToolCalls {
				called[tc.ID] = true
				blocks = append(blocks, wireBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: objectOrEmptyJSON(tc.Arguments)})
			}
			add("assistant", nil, blocks)
		case providers.RoleTool:
			if !called[m.ToolCallID] {
				return nil, nil, providers.BadRequest(fmt.Sprintf("messages[%d].tool_call_id", i),
					"tool message answers tool_call_id %q, which no earlier assistant message called", m.ToolCallID)
			}
			res := wireBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			if c, err := encodeResultContentJSON(m.Parts, i); err != nil {
				return nil, nil, err
			} else if c != nil {
				res.Content = c
			}
			add("user", []wireBlock{res}, nil)
		default:
			return nil, nil, providers.BadRequest(fmt.Sprintf("messages[%d].role", i), "unsupported role %q", m.Role)
		}
	}

	out = make([]wireMessage, 0, len(turns))
	for _, t := range turns {
		content, _ := json.Marshal(append(t.results, t.blocks...))
		out = append(out, wireMessage{Role: t.role, Content: content})
	}
	if len(out) == 0 {
		return nil, nil, providers.BadRequest("messages", "the request has no user or assistant message with content")
	}
	return system, out, nil
}

// encodeResultContentJSON is a tool result's content: a plain string when it
// is only text (the common case), blocks when it holds images, nil when
// empty.
func encodeResultContentJSON(parts []providers.Part, i int) (json.RawMessage, error) {
	textOnly := true
	for _, p := range parts {
		textOnly = textOnly && p.Type == providers.PartText
	}
	if textOnly {
		m := providers.Message{Parts: parts}
		if t := m.Text(); t != "" {
			return json.Marshal(t)
		}
		return nil, nil
	}
	blocks, err := encodeParts(parts, i)
	if err != nil {
		return nil, err
	}
	return json.Marshal(blocks)
}

// encodeToolsJSON translates tool definitions and the tool choice.
func encodeToolsJSON(req *providers.ChatRequest) ([]wireTool, *wireToolChoice, error) {
	var tools []wireTool
	for i, t := range req.Tools {
		if t.Name == "" {
			return nil, nil, providers.BadRequest(fmt.Sprintf("tools[%d].function.name", i), "a tool needs a name")
		}
		schema, err := objectSchemaJSON(t.Parameters)
		if err != nil {
			return nil, nil, providers.BadRequest(fmt.Sprintf("tools[%d].function.parameters", i), "%v", err)
		}
		tools = append(tools, wireTool{Name: t.Name, Description: t.Description, InputSchema: schema, Strict: t.Strict})
	}
	if len(tools) == 0 {
		// tool_choice without tools is rejected; there is nothing to choose.
		return nil, nil, nil
	}
	var choice *wireToolChoice
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case providers.ToolChoiceAuto, "":
			choice = &wireToolChoice{Type: "auto"}
		case providers.ToolChoiceRequired:
			choice = &wireToolChoice{Type: "any"}
		case providers.ToolChoiceNone:
			// Tools stay defined: Anthropic rejects tool history without them.
			choice = &wireToolChoice{Type: "none"}
		case providers.ToolChoiceFunction:
			if tc.Name == "" {
				return nil, nil, providers.BadRequest("tool_choice", "a named tool_choice needs the function's name")
			}
			choice = &wireToolChoice{Type: "tool", Name: tc.Name}
		default:
			return nil, nil, providers.BadRequest("tool_choice", "unsupported tool_choice %q", tc.Mode)
		}
	}
	if p := req.ParallelToolCalls; p != nil && !*p {
		if choice == nil {
			choice = &wireToolChoice{Type: "auto"}
		}
		if choice.Type != "none" {
			choice.DisableParallelToolUse = true
		}
	}
	return tools, choice, nil
}

// objectSchemaJSON returns a tool's input_schema, which Anthropic requires to
// be an object schema with "type":"object" at the top.
func objectSchemaJSON(params json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 || bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(params, &m); err != nil {
		return nil, fmt.Errorf("parameters must be a JSON Schema object")
	}
	if _, ok := m["type"]; ok {
		return params, nil
	}
	m["type"] = json.RawMessage(`"object"`)
	return json.Marshal(m)
}
