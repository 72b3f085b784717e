package openai

import (
	"bytes"
	"encoding/json"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
)

// Fast decoding of a client's request: readJSON decodes what json.Unmarshal
// would decode into wireRequest (the keys are the json tags), with each
// message's content decoded at once rather than kept raw and decoded
// again, or makes the reader fail, and DecodeChatRequest then decodes with
// encoding/json as it always did. Raw values that the canonical request
// keeps are copied; the others alias the body.

// requestFields are the keys wireRequest models, in its order; the other
// members of a request travel in ChatRequest.Extra.
var requestFields = []string{"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "response_format",
	"max_tokens", "max_completion_tokens", "temperature", "top_p", "frequency_penalty", "presence_penalty",
	"stop", "seed", "user", "n", "stream", "stream_options", "reasoning_effort"}

var knownRequestFields = func() map[string]bool {
	m := make(map[string]bool, len(requestFields))
	for _, f := range requestFields {
		m[f] = true
	}
	return m
}()

// Strings that come back often, returned without an allocation.
var (
	roleSymbols = []string{"system", "developer", "user", "assistant", "tool"}
	typeSymbols = []string{"function", "text", "image_url", "refusal", "json_schema", "json_object"}
)

// readJSON decodes a request body into in and returns its unknown
// members, copied.
func (in *requestIn) readJSON(r *wirejson.Reader) (extra map[string]json.RawMessage) {
	w := &in.wireRequest
	o := r.Object(requestFields)
	o.KeepUnknown()
	for o.Next() {
		switch o.Key() {
		case "model":
			w.Model = r.String()
		case "messages":
			in.readMessages(r)
		case "tools":
			wirejson.Slice(r, &w.Tools, (*wireTool).readJSON)
		case "tool_choice":
			w.ToolChoice = r.Raw()
		case "parallel_tool_calls":
			w.ParallelToolCalls = readBoolPtr(r)
		case "response_format":
			if r.Null() {
				w.ResponseFormat = nil
				continue
			}
			w.ResponseFormat = new(wireResponseFormat)
			w.ResponseFormat.readJSON(r)
		case "max_tokens":
			w.MaxTokens = readInt64Ptr(r)
		case "max_completion_tokens":
			w.MaxCompletionTokens = readInt64Ptr(r)
		case "temperature":
			w.Temperature = readFloatPtr(r)
		case "top_p":
			w.TopP = readFloatPtr(r)
		case "frequency_penalty":
			w.FrequencyPenalty = readFloatPtr(r)
		case "presence_penalty":
			w.PresencePenalty = readFloatPtr(r)
		case "stop":
			w.Stop = r.Raw()
		case "seed":
			w.Seed = readInt64Ptr(r)
		case "user":
			w.User = r.String()
		case "n":
			if r.Null() {
				w.N = nil
				continue
			}
			n := r.Int()
			w.N = &n
		case "stream":
			w.Stream = r.Bool()
		case "stream_options":
			if r.Null() {
				w.StreamOptions = nil
				continue
			}
			w.StreamOptions = new(wireStreamOptions)
			so := r.Object(streamOptionsFields)
			for so.Next() {
				w.StreamOptions.IncludeUsage = r.Bool()
			}
		case "reasoning_effort":
			w.ReasoningEffort = r.String()
		default:
			if extra == nil {
				extra = make(map[string]json.RawMessage)
			}
			extra[string(o.UnknownKey())] = bytes.Clone(r.Raw())
		}
	}
	return extra
}

// readMessages reads the messages as wirejson.Slice would, and their
// contents into in.contents.
func (in *requestIn) readMessages(r *wirejson.Reader) {
	if r.Null() {
		return
	}
	in.Messages = []wireMessage{}
	a := r.Array()
	for a.Next() {
		if len(in.Messages) == 0 {
			in.Messages, in.contents = make([]wireMessage, 0, 4), make([]wireContent, 0, 4)
		}
		in.Messages = append(in.Messages, wireMessage{})
		in.contents = append(in.contents, wireContent{})
		in.Messages[len(in.Messages)-1].readJSON(r, &in.contents[len(in.contents)-1])
	}
}

var streamOptionsFields = []string{"include_usage"}

var messageFields = []string{"role", "content", "name", "tool_calls", "tool_call_id"}

// readJSON decodes a message, its content into c rather than m.Content.
func (m *wireMessage) readJSON(r *wirejson.Reader, c *wireContent) {
	o := r.Object(messageFields)
	for o.Next() {
		switch o.Key() {
		case "role":
			m.Role = r.Symbol(roleSymbols)
		case "content":
			c.readJSON(r)
		case "name":
			m.Name = r.String()
		case "tool_calls":
			wirejson.Slice(r, &m.ToolCalls, (*wireToolCall).readJSON)
		case "tool_call_id":
			m.ToolCallID = r.String()
		}
	}
}

// readJSON decodes a message's content: null, a string, or an array of
// parts. Anything else is an error, left to the slow path to report.
func (c *wireContent) readJSON(r *wirejson.Reader) {
	switch {
	case r.Null():
		*c = wireContent{}
	case r.Peek() == '"':
		*c = wireContent{kind: contentText, text: r.String()}
	case r.Peek() == '[':
		*c = wireContent{kind: contentParts}
		wirejson.Slice(r, &c.parts, (*wirePart).readJSON)
	default:
		r.Fail()
	}
}

var partFields = []string{"type", "text", "image_url", "refusal"}

func (p *wirePart) readJSON(r *wirejson.Reader) {
	o := r.Object(partFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			p.Type = r.Symbol(typeSymbols)
		case "text":
			p.Text = r.String()
		case "image_url":
			if r.Null() {
				p.ImageURL = nil
				continue
			}
			p.ImageURL = new(wireImageURL)
			u := r.Object(imageURLFields)
			for u.Next() {
				switch u.Key() {
				case "url":
					p.ImageURL.URL = r.String()
				case "detail":
					p.ImageURL.Detail = r.String()
				}
			}
		case "refusal":
			p.Refusal = r.String()
		}
	}
}

var imageURLFields = []string{"url", "detail"}

var toolCallFields = []string{"index", "id", "type", "function"}

func (tc *wireToolCall) readJSON(r *wirejson.Reader) {
	o := r.Object(toolCallFields)
	for o.Next() {
		switch o.Key() {
		case "index":
			if r.Null() {
				tc.Index = nil
				continue
			}
			n := r.Int()
			tc.Index = &n
		case "id":
			tc.ID = r.String()
		case "type":
			tc.Type = r.Symbol(typeSymbols)
		case "function":
			f := r.Object(functionFields)
			for f.Next() {
				switch f.Key() {
				case "name":
					tc.Function.Name = r.String()
				case "arguments":
					tc.Function.Arguments = r.String()
				}
			}
		}
	}
}

var functionFields = []string{"name", "arguments"}

var toolFields = []string{"type", "function"}

func (t *wireTool) readJSON(r *wirejson.Reader) {
	o := r.Object(toolFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			t.Type = r.Symbol(typeSymbols)
		case "function":
			f := r.Object(functionDefFields)
			for f.Next() {
				switch f.Key() {
				case "name":
					t.Function.Name = r.String()
				case "description":
					t.Function.Description = r.String()
				case "parameters":
					t.Function.Parameters = bytes.Clone(r.Raw())
				case "strict":
					t.Function.Strict = readBoolPtr(r)
				}
			}
		}
	}
}

var functionDefFields = []string{"name", "description", "parameters", "strict"}

var responseFormatFields = []string{"type", "json_schema"}

func (f *wireResponseFormat) readJSON(r *wirejson.Reader) {
	o := r.Object(responseFormatFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			f.Type = r.Symbol(typeSymbols)
		case "json_schema":
			if r.Null() {
				f.JSONSchema = nil
				continue
			}
			s := new(wireJSONSchema)
			f.JSONSchema = s
			js := r.Object(jsonSchemaFields)
			for js.Next() {
				switch js.Key() {
				case "name":
					s.Name = r.String()
				case "description":
					s.Description = r.String()
				case "schema":
					s.Schema = bytes.Clone(r.Raw())
				case "strict":
					s.Strict = readBoolPtr(r)
				}
			}
		}
	}
}

var jsonSchemaFields = []string{"name", "description", "schema", "strict"}

func readBoolPtr(r *wirejson.Reader) *bool {
	if r.Null() {
		return nil
	}
	b := r.Bool()
	return &b
}

func readInt64Ptr(r *wirejson.Reader) *int64 {
	if r.Null() {
		return nil
	}
	n := r.Int64()
	return &n
}

func readFloatPtr(r *wirejson.Reader) *float64 {
	if r.Null() {
		return nil
	}
	f := r.Float64()
	return &f
}

// Fast decoding of an upstream's stream chunks, as for requests.

var chunkFields = []string{"id", "object", "created", "model", "system_fingerprint", "choices", "usage", "error"}

var objectSymbols = []string{"chat.completion.chunk", "chat.completion"}

func (c *wireChunk) readJSON(r *wirejson.Reader) {
	o := r.Object(chunkFields)
	for o.Next() {
		switch o.Key() {
		case "id":
			c.ID = r.Interned()
		case "object":
			c.Object = r.Symbol(objectSymbols)
		case "created":
			c.Created = r.Int64()
		case "model":
			c.Model = r.Interned()
		case "system_fingerprint":
			c.SystemFingerprint = r.Interned()
		case "choices":
			wirejson.Slice(r, &c.Choices, (*wireChunkChoice).readJSON)
		case "usage":
			if r.Null() {
				c.Usage = nil
				continue
			}
			c.Usage = new(wireUsage)
			c.Usage.readJSON(r)
		case "error":
			if r.Null() {
				c.Error = nil
				continue
			}
			c.Error = new(wireStreamError)
			e := r.Object(streamErrorFields)
			for e.Next() {
				switch e.Key() {
				case "message":
					c.Error.Message = r.String()
				case "type":
					c.Error.Type = r.String()
				case "code":
					c.Error.Code = r.Raw()
				}
			}
		}
	}
}

var streamErrorFields = []string{"message", "type", "code"}

var chunkChoiceFields = []string{"index", "delta", "logprobs", "finish_reason"}

var finishSymbols = []string{"stop", "length", "tool_calls", "content_filter", "function_call"}

func (ch *wireChunkChoice) readJSON(r *wirejson.Reader) {
	o := r.Object(chunkChoiceFields)
	for o.Next() {
		switch o.Key() {
		case "index":
			ch.Index = r.Int()
		case "delta":
			ch.Delta.readJSON(r)
		case "logprobs":
			ch.Logprobs = r.Raw()
		case "finish_reason":
			ch.FinishReason = readStringPtr(r, finishSymbols)
		}
	}
}

var deltaFields = []string{"role", "content", "refusal", "tool_calls"}

func (d *wireDelta) readJSON(r *wirejson.Reader) {
	o := r.Object(deltaFields)
	for o.Next() {
		switch o.Key() {
		case "role":
			d.Role = r.Symbol(roleSymbols)
		case "content":
			d.Content = readStringPtr(r, nil)
		case "refusal":
			d.Refusal = readStringPtr(r, nil)
		case "tool_calls":
			wirejson.Slice(r, &d.ToolCalls, (*wireToolCall).readJSON)
		}
	}
}

var usageFields = []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"}

func (u *wireUsage) readJSON(r *wirejson.Reader) {
	o := r.Object(usageFields)
	for o.Next() {
		switch o.Key() {
		case "prompt_tokens":
			u.PromptTokens = r.Int64()
		case "completion_tokens":
			u.CompletionTokens = r.Int64()
		case "total_tokens":
			u.TotalTokens = r.Int64()
		case "prompt_tokens_details":
			if r.Null() {
				u.PromptTokensDetails = nil
				continue
			}
			p := new(wirePromptDetails)
			u.PromptTokensDetails = p
			d := r.Object(promptDetailsFields)
			for d.Next() {
				switch d.Key() {
				case "cached_tokens":
					p.CachedTokens = r.Int64()
				case "cache_write_tokens":
					p.CacheWriteTokens = r.Int64()
				}
			}
		case "completion_tokens_details":
			if r.Null() {
				u.CompletionTokensDetails = nil
				continue
			}
			c := new(wireCompletionDetail)
			u.CompletionTokensDetails = c
			d := r.Object(completionDetailsFields)
			for d.Next() {
				c.ReasoningTokens = r.Int64()
			}
		}
	}
}

var (
	promptDetailsFields     = []string{"cached_tokens", "cache_write_tokens"}
	completionDetailsFields = []string{"reasoning_tokens"}
)

// readStringPtr reads a string into a new pointer, nil for null.
func readStringPtr(r *wirejson.Reader, known []string) *string {
	if r.Null() {
		return nil
	}
	s := r.Symbol(known)
	return &s
}
