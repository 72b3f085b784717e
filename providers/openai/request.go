package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// DecodeChatRequest decodes an OpenAI chat-completions request body into
// canonical form. Fields it does not model are kept in Extra.
func DecodeChatRequest(body []byte) (*providers.ChatRequest, error) {
	var in requestIn
	var r wirejson.Reader
	r.Reset(body)
	extra := in.readJSON(&r)
	if !r.End() {
		// Whatever the fast decoder leaves (an error, an oddity) is decoded
		// as it always was, with the same errors (into a value of its own,
		// so that in need not live on the heap).
		slow := new(requestIn)
		var err error
		if extra, err = decodeRequestJSON(body, slow); err != nil {
			return nil, err
		}
		in = *slow
	}
	w := &in.wireRequest
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
	if req.Stop, err = decodeStop(w.Stop); err != nil {
		return nil, err
	}
	if len(w.Messages) == 0 {
		return nil, providers.BadRequest("messages", "messages must be a non-empty array")
	}
	req.Messages = make([]providers.Message, 0, len(w.Messages))
	for i, m := range w.Messages {
		msg, err := decodeMessage(m, in.contents[i], i)
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
	if req.ToolChoice, err = decodeToolChoice(w.ToolChoice); err != nil {
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
	req.Extra = extra
	return req, nil
}

// decodeRequestJSON decodes a request body with encoding/json, returning
// its unknown members.
func decodeRequestJSON(body []byte, in *requestIn) (map[string]json.RawMessage, error) {
	w := &in.wireRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, providers.BadRequest("", "the request body is not a JSON object: %v", err)
	}
	if err := json.Unmarshal(body, w); err != nil {
		if ute, ok := err.(*json.UnmarshalTypeError); ok && ute.Field != "" {
			return nil, providers.BadRequest(ute.Field, "invalid type for '%s': expected %s", ute.Field, ute.Type)
		}
		return nil, providers.BadRequest("", "invalid request: %v", err)
	}
	in.contents = make([]wireContent, len(w.Messages))
	for i, m := range w.Messages {
		in.contents[i] = contentJSON(m.Content)
	}
	var extra map[string]json.RawMessage
	for k, v := range raw {
		if !knownRequestFields[k] {
			if extra == nil {
				extra = make(map[string]json.RawMessage)
			}
			extra[k] = v
		}
	}
	return extra, nil
}

// contentJSON decodes a message's raw content: a string, else parts.
func contentJSON(raw json.RawMessage) wireContent {
	if len(raw) == 0 || string(raw) == "null" {
		return wireContent{}
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return wireContent{kind: contentText, text: text}
	}
	var wps []wirePart
	if err := json.Unmarshal(raw, &wps); err != nil {
		return wireContent{kind: contentInvalid}
	}
	return wireContent{kind: contentParts, parts: wps}
}

func decodeStop(raw json.RawMessage) ([]string, error) {
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

func decodeToolChoice(raw json.RawMessage) (*providers.ToolChoice, error) {
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

func decodeMessage(m wireMessage, content wireContent, i int) (providers.Message, error) {
	// The parameter named by an error is only formatted for the error.
	param := func(suffix string) string { return fmt.Sprintf("messages[%d]%s", i, suffix) }
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
			return msg, providers.BadRequest(param(".tool_call_id"), "a tool message needs tool_call_id")
		}
	default:
		return msg, providers.BadRequest(param(".role"), "unknown role %q", m.Role)
	}
	parts, err := decodeContent(content, i)
	if err != nil {
		return msg, err
	}
	msg.Parts = parts
	if len(m.ToolCalls) > 0 {
		msg.ToolCalls = make([]providers.ToolCall, 0, len(m.ToolCalls))
	}
	for j, tc := range m.ToolCalls {
		if m.Role != "assistant" {
			return msg, providers.BadRequest(param(".tool_calls"), "only assistant messages have tool_calls")
		}
		if tc.ID == "" || tc.Function.Name == "" {
			return msg, providers.BadRequest(param(fmt.Sprintf(".tool_calls[%d]", j)), "a tool call needs an id and a function name")
		}
		args := tc.Function.Arguments
		if strings.TrimSpace(args) == "" {
			args = "{}" // a call without arguments: every dialect wants an object
		}
		msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
	}
	return msg, nil
}

// decodeContent turns the content of message i into parts.
func decodeContent(c wireContent, i int) ([]providers.Part, error) {
	param := func(suffix string) string { return fmt.Sprintf("messages[%d].content%s", i, suffix) }
	switch c.kind {
	case contentNone:
		return nil, nil
	case contentText:
		if c.text == "" {
			return nil, nil
		}
		return []providers.Part{{Type: providers.PartText, Text: c.text}}, nil
	case contentInvalid:
		return nil, providers.BadRequest(param(""), "content must be a string or an array of content parts")
	}
	parts := make([]providers.Part, 0, len(c.parts))
	for j, p := range c.parts {
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
				return nil, providers.BadRequest(param(fmt.Sprintf("[%d].image_url", j)), "image_url.url is required")
			}
			img, err := decodeImageURL(p.ImageURL.URL)
			if err != nil {
				return nil, providers.BadRequest(param(fmt.Sprintf("[%d].image_url.url", j)), "%v", err)
			}
			img.Detail = p.ImageURL.Detail
			parts = append(parts, providers.Part{Type: providers.PartImage, Image: img})
		default:
			return nil, providers.BadRequest(param(fmt.Sprintf("[%d].type", j)), "content parts of type %q are not supported", p.Type)
		}
	}
	return parts, nil
}

// MaxImageBytes bounds one inline image.
const MaxImageBytes = 20 << 20

// decodeImageURL splits a data: URL into media type and bytes; an http(s)
// URL stays a URL.
func decodeImageURL(u string) (*providers.Image, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return nil, fmt.Errorf("an image must be an http(s) URL or a base64 data: URL")
		}
		return &providers.Image{URL: u}, nil
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, fmt.Errorf("a data: URL image must be base64 encoded (data:<type>;base64,<data>)")
	}
	if base64.StdEncoding.DecodedLen(len(data)) > MaxImageBytes {
		return nil, fmt.Errorf("the image is larger than %d MiB", MaxImageBytes>>20)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("the image's base64 data is invalid")
	}
	return &providers.Image{MediaType: strings.TrimSuffix(meta, ";base64"), Data: b}, nil
}

// DataURL renders inline image bytes as a data: URL.
func DataURL(img *providers.Image) string {
	if img.URL != "" {
		return img.URL
	}
	return "data:" + img.MediaType + ";base64," + base64.StdEncoding.EncodeToString(img.Data)
}

// Quirks adapt the request encoding to an OpenAI-compatible host.
type Quirks struct {
	// MaxTokensField is the name the host takes the completion limit under:
	// "max_completion_tokens" (OpenAI's current name) or "max_tokens".
	MaxTokensField string
	// DropFields are request fields the host rejects (e.g. Groq: logprobs).
	DropFields []string
	// DropExtra drops every field the canonical request does not model, for
	// strict hosts (Mistral answers 422 to unknown fields).
	DropExtra bool
	// NoName drops messages' name field (Groq and Mistral reject it).
	NoName bool
	// NoN rejects n > 1 with a clear 400 (Groq: n must be 1).
	NoN bool
	// ToolCallIDs rewrites tool-call ids to what the host accepts, e.g.
	// Mistral's 9 alphanumeric characters; nil keeps them.
	ToolCallIDs func(id string) string
	// SeedField is the name the host takes the seed under ("" : "seed";
	// Mistral: "random_seed").
	SeedField string
	// RequiredToolChoice is the host's word for tool_choice "required"
	// ("" : "required"; Mistral: "any").
	RequiredToolChoice string
}

// EncodeChatRequest renders a canonical request as an OpenAI
// chat-completions body for an OpenAI-compatible host. A stream always asks
// for usage, so the gateway can meter it.
func EncodeChatRequest(req *providers.ChatRequest, q *Quirks) ([]byte, error) {
	if q == nil {
		q = &Quirks{}
	}
	if q.NoN && req.N > 1 {
		return nil, providers.BadRequest("n", "this provider returns one choice only: n must be 1")
	}
	w := wireRequest{
		Model:             req.Model,
		ParallelToolCalls: req.ParallelToolCalls,
		Temperature:       req.Temperature,
		TopP:              req.TopP,
		FrequencyPenalty:  req.FrequencyPenalty,
		PresencePenalty:   req.PresencePenalty,
		Seed:              req.Seed,
		User:              req.User,
		Stream:            req.Stream,
		ReasoningEffort:   req.ReasoningEffort,
	}
	if req.N > 1 {
		w.N = &req.N
	}
	if req.MaxTokens != nil {
		if q.MaxTokensField == "max_tokens" {
			w.MaxTokens = req.MaxTokens
		} else {
			w.MaxCompletionTokens = req.MaxTokens
		}
	}
	if req.Stream {
		w.StreamOptions = &wireStreamOptions{IncludeUsage: true}
	}
	if len(req.Stop) > 0 {
		w.Stop, _ = json.Marshal(req.Stop)
	}
	ids := func(id string) string { return id }
	if q.ToolCallIDs != nil {
		ids = q.ToolCallIDs
	}
	w.Messages = make([]wireMessage, 0, len(req.Messages))
	for _, m := range req.Messages {
		wm := wireMessage{Role: string(m.Role)}
		if !q.NoName {
			wm.Name = m.Name
		}
		if m.ToolCallID != "" {
			wm.ToolCallID = ids(m.ToolCallID)
		}
		wm.Content = encodeContent(m.Parts, m.Role == providers.RoleAssistant && len(m.ToolCalls) > 0)
		for _, tc := range m.ToolCalls {
			args := tc.Arguments
			if args == "" {
				args = "{}"
			}
			wm.ToolCalls = append(wm.ToolCalls, wireToolCall{ID: ids(tc.ID), Type: "function", Function: wireFunction{Name: tc.Name, Arguments: args}})
		}
		w.Messages = append(w.Messages, wm)
	}
	for _, t := range req.Tools {
		w.Tools = append(w.Tools, wireTool{Type: "function", Function: wireFunctionDef{Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict}})
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case tc.Mode == providers.ToolChoiceFunction:
			w.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		case tc.Mode == providers.ToolChoiceRequired && q.RequiredToolChoice != "":
			w.ToolChoice, _ = json.Marshal(q.RequiredToolChoice)
		default:
			w.ToolChoice, _ = json.Marshal(tc.Mode)
		}
	}
	extra := req.Extra
	if q.DropExtra {
		extra = nil
	}
	if q.SeedField != "" && w.Seed != nil {
		seed, _ := json.Marshal(*w.Seed)
		w.Seed = nil
		renamed := make(map[string]json.RawMessage, len(extra)+1)
		for k, v := range extra {
			renamed[k] = v
		}
		renamed[q.SeedField] = seed
		extra = renamed
	}
	if rf := req.ResponseFormat; rf != nil {
		w.ResponseFormat = &wireResponseFormat{Type: rf.Type}
		if rf.Type == providers.FormatJSONSchema {
			w.ResponseFormat.JSONSchema = &wireJSONSchema{Name: rf.Name, Description: rf.Description, Schema: rf.Schema, Strict: rf.Strict}
		}
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return body, nil
	}
	return appendFields(body, extra, q.DropFields), nil
}

// appendFields adds extra top-level fields to a JSON object, skipping drop.
func appendFields(obj []byte, extra map[string]json.RawMessage, drop []string) []byte {
	var buf bytes.Buffer
	buf.Write(obj[:len(obj)-1])
	empty := len(obj) == 2
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable body: golden tests, cache keys
	for _, k := range keys {
		v := extra[k]
		if contains(drop, k) {
			continue
		}
		if !empty {
			buf.WriteByte(',')
		}
		empty = false
		key, _ := json.Marshal(k)
		buf.Write(key)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// encodeContent renders message parts: a single text part as a string,
// anything else as an array; no parts as null when the message carries tool
// calls (OpenAI's form), else as "".
func encodeContent(parts []providers.Part, toolCallsOnly bool) json.RawMessage {
	if len(parts) == 0 {
		if toolCallsOnly {
			return json.RawMessage("null")
		}
		return json.RawMessage(`""`)
	}
	if len(parts) == 1 && parts[0].Type == providers.PartText {
		b, _ := json.Marshal(parts[0].Text)
		return b
	}
	wps := make([]wirePart, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case providers.PartText:
			wps = append(wps, wirePart{Type: "text", Text: p.Text})
		case providers.PartImage:
			wps = append(wps, wirePart{Type: "image_url", ImageURL: &wireImageURL{URL: DataURL(p.Image), Detail: p.Image.Detail}})
		}
	}
	b, _ := json.Marshal(wps)
	return b
}
