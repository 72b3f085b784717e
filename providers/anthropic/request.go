package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// jsonObjectInstruction is appended to the system prompt for
// response_format json_object, which the Messages API has no field for
// (output_config.format takes a schema, and any-object is not one that
// structured outputs accept). An instruction keeps the request valid on
// every model; the client still validates what comes back, as it must with
// OpenAI's json_object too.
const jsonObjectInstruction = "Respond only with a single valid JSON object, without any text before or after it."

// supportedImageTypes are the inline image types the Messages API takes.
var supportedImageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// encodeRequest translates a canonical request into a Messages API body.
// defaultMax is the max_tokens sent when the client set none.
func encodeRequest(req *providers.ChatRequest, defaultMax int64) (*wireRequest, error) {
	if req.N > 1 {
		return nil, providers.BadRequest("n", "n=%d: Anthropic returns a single choice; send n=1 or omit it", req.N)
	}
	out := &wireRequest{Model: req.Model, Stream: req.Stream, StopSequences: req.Stop}

	system, msgs, err := encodeMessages(req.Messages)
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
		size := 2
		for _, b := range system {
			size += 32 + len(b.Text) + len(b.Text)/16
		}
		out.System, _ = appendBlocks(make([]byte, 0, size), system) // text blocks: no error
		out.systemEncoded = true
	}

	tools, choice, err := encodeTools(req)
	if err != nil {
		return nil, err
	}
	out.Tools, out.ToolChoice = tools, choice
	// Seed, penalties, reasoning_effort and Extra have no Messages API
	// counterpart; the API rejects unknown fields, so they are dropped.
	return out, nil
}

// encodeMessages hoists system messages into system blocks and turns the
// rest into alternating user/assistant turns: consecutive same-role
// messages merge, and tool results become tool_result blocks at the start
// of the user turn that follows the assistant's tool_use.
func encodeMessages(in []providers.Message) (system []wireBlock, out []wireMessage, err error) {
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
				blocks = append(blocks, wireBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: objectOrEmpty(tc.Arguments)})
			}
			add("assistant", nil, blocks)
		case providers.RoleTool:
			if !called[m.ToolCallID] {
				return nil, nil, providers.BadRequest(fmt.Sprintf("messages[%d].tool_call_id", i),
					"tool message answers tool_call_id %q, which no earlier assistant message called", m.ToolCallID)
			}
			res := wireBlock{Type: "tool_result", ToolUseID: m.ToolCallID}
			if c, err := encodeResultContent(m.Parts, i); err != nil {
				return nil, nil, err
			} else if c != nil {
				res.Content, res.contentEncoded = c, true
			}
			add("user", []wireBlock{res}, nil)
		default:
			return nil, nil, providers.BadRequest(fmt.Sprintf("messages[%d].role", i), "unsupported role %q", m.Role)
		}
	}

	// The turns' contents share one buffer, each capped so that none can
	// grow into the next.
	out = make([]wireMessage, 0, len(turns))
	buf := make([]byte, 0, encodedSize(in))
	for _, t := range turns {
		start := len(buf)
		var err error
		if buf, err = appendBlocks(buf, t.results, t.blocks); err != nil {
			return nil, nil, err
		}
		out = append(out, wireMessage{Role: t.role, Content: buf[start:len(buf):len(buf)], encoded: true})
	}
	if len(out) == 0 {
		return nil, nil, providers.BadRequest("messages", "the request has no user or assistant message with content")
	}
	return system, out, nil
}

// encodedSize guesses the size of the messages' blocks, to allocate their
// buffer once: the text with room for some escapes, and the rest.
func encodedSize(msgs []providers.Message) int {
	n := 0
	for _, m := range msgs {
		for _, p := range m.Parts {
			n += 40 + len(p.Text) + len(p.Text)/16
			if p.Image != nil {
				n += len(p.Image.URL) + len(p.Image.Data)*4/3 + 64
			}
		}
		for _, tc := range m.ToolCalls {
			n += 64 + len(tc.ID) + len(tc.Name) + len(tc.Arguments)
		}
		n += 64
	}
	return n
}

// encodeParts turns content parts into blocks, dropping empty text (the
// API rejects empty text blocks).
func encodeParts(parts []providers.Part, i int) ([]wireBlock, error) {
	var blocks []wireBlock
	for j, p := range parts {
		switch p.Type {
		case providers.PartText:
			if p.Text != "" {
				blocks = append(blocks, wireBlock{Type: "text", Text: p.Text})
			}
		case providers.PartImage:
			b, err := encodeImage(p.Image, fmt.Sprintf("messages[%d].content[%d]", i, j))
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		default:
			return nil, providers.BadRequest(fmt.Sprintf("messages[%d].content[%d]", i, j), "unsupported content part type %q", p.Type)
		}
	}
	return blocks, nil
}

// encodeImage makes an image block: inline bytes as a base64 source, a URL
// as a url source (Anthropic fetches it), a data: URL as base64.
func encodeImage(img *providers.Image, param string) (wireBlock, error) {
	if img == nil {
		return wireBlock{}, providers.BadRequest(param, "image part without an image")
	}
	mediaType, data := img.MediaType, img.Data
	if len(data) == 0 && strings.HasPrefix(img.URL, "data:") {
		var err error
		if mediaType, data, err = parseDataURL(img.URL); err != nil {
			return wireBlock{}, providers.BadRequest(param, "%v", err)
		}
	}
	if len(data) > 0 {
		mediaType = strings.ToLower(strings.TrimSpace(mediaType))
		if !supportedImageTypes[mediaType] {
			return wireBlock{}, providers.BadRequest(param, "image type %q is not supported by Anthropic (jpeg, png, gif, webp)", mediaType)
		}
		return wireBlock{Type: "image", Source: &wireSource{Type: "base64", MediaType: mediaType, Data: base64.StdEncoding.EncodeToString(data)}}, nil
	}
	if strings.HasPrefix(img.URL, "https://") || strings.HasPrefix(img.URL, "http://") {
		return wireBlock{Type: "image", Source: &wireSource{Type: "url", URL: img.URL}}, nil
	}
	return wireBlock{}, providers.BadRequest(param, "image needs inline data or an http(s) URL")
}

// parseDataURL splits data:<type>;base64,<data>.
func parseDataURL(u string) (string, []byte, error) {
	meta, payload, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	mediaType, isB64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isB64 {
		return "", nil, fmt.Errorf("image data URL must be data:<type>;base64,<data>")
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, fmt.Errorf("image data URL: invalid base64: %v", err)
	}
	return mediaType, data, nil
}

// encodeResultContent is a tool result's content: a plain string when it
// is only text (the common case), blocks when it holds images, nil when
// empty.
func encodeResultContent(parts []providers.Part, i int) (json.RawMessage, error) {
	textOnly := true
	for _, p := range parts {
		textOnly = textOnly && p.Type == providers.PartText
	}
	if textOnly {
		m := providers.Message{Parts: parts}
		if t := m.Text(); t != "" {
			return wirejson.AppendString(nil, t), nil
		}
		return nil, nil
	}
	blocks, err := encodeParts(parts, i)
	if err != nil {
		return nil, err
	}
	return appendBlocks(nil, blocks)
}

// encodeTools translates tool definitions and the tool choice.
func encodeTools(req *providers.ChatRequest) ([]wireTool, *wireToolChoice, error) {
	var tools []wireTool
	for i, t := range req.Tools {
		if t.Name == "" {
			return nil, nil, providers.BadRequest(fmt.Sprintf("tools[%d].function.name", i), "a tool needs a name")
		}
		schema, err := objectSchema(t.Parameters)
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

// objectSchema returns a tool's input_schema, which Anthropic requires to
// be an object schema with "type":"object" at the top.
func objectSchema(params json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 || bytes.Equal(bytes.TrimSpace(params), []byte("null")) {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	if hasTypeKey(params) {
		return params, nil
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

var typeField = []string{"type"}

// hasTypeKey reports whether params is certainly an object with a "type"
// member, without decoding it into a map (false leaves the question to
// encoding/json).
func hasTypeKey(params json.RawMessage) bool {
	var r wirejson.Reader
	r.Reset(params)
	if r.Peek() != '{' {
		return false
	}
	found := false
	o := r.Object(typeField)
	o.KeepUnknown()
	for o.Next() {
		found = found || o.Key() == "type"
		r.Skip()
	}
	return found && r.End()
}
