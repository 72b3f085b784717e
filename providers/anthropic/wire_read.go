package anthropic

import "github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"

// Fast decoding of the upstream's answers and stream events: each readJSON
// method decodes what json.Unmarshal would decode into its type, field for
// field (the keys are the json tags), or makes the reader fail, and
// wirejson.Unmarshal then falls back to json.Unmarshal. RawMessage fields
// alias the input, which the callers only use while it lives.

// Strings that come back often, returned without an allocation.
var (
	messageSymbols = []string{"message", "assistant"}
	blockSymbols   = []string{"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"}
	stopSymbols    = []string{stopEndTurn, stopMaxTokens, stopSequence, stopToolUse, stopPauseTurn, stopRefusal, stopContextLimit}
	eventSymbols   = []string{"content_block_delta", "content_block_start", "content_block_stop", "message_start", "message_delta", "message_stop", "ping", "error"}
	deltaSymbols   = []string{"text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta"}
)

var responseFields = []string{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}

func (w *wireResponse) readJSON(r *wirejson.Reader) {
	o := r.Object(responseFields)
	for o.Next() {
		switch o.Key() {
		case "id":
			w.ID = r.String()
		case "type":
			w.Type = r.Symbol(messageSymbols)
		case "role":
			w.Role = r.Symbol(messageSymbols)
		case "model":
			w.Model = r.String()
		case "content":
			wirejson.Slice(r, &w.Content, (*wireBlock).readJSON)
		case "stop_reason":
			w.StopReason = readStringPtr(r, stopSymbols)
		case "stop_sequence":
			w.StopSequence = readStringPtr(r, nil)
		case "usage":
			w.Usage.readJSON(r)
		}
	}
}

var blockFields = []string{"type", "text", "source", "id", "name", "input", "tool_use_id", "content", "is_error", "thinking", "signature"}

func (b *wireBlock) readJSON(r *wirejson.Reader) {
	o := r.Object(blockFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			b.Type = r.Symbol(blockSymbols)
		case "text":
			b.Text = r.String()
		case "source":
			if r.Null() {
				b.Source = nil
				continue
			}
			b.Source = new(wireSource)
			b.Source.readJSON(r)
		case "id":
			b.ID = r.String()
		case "name":
			b.Name = r.String()
		case "input":
			b.Input = r.Raw()
		case "tool_use_id":
			b.ToolUseID = r.String()
		case "content":
			b.Content = r.Raw()
		case "is_error":
			b.IsError = r.Bool()
		case "thinking":
			b.Thinking = r.String()
		case "signature":
			b.Signature = r.String()
		}
	}
}

var sourceFields = []string{"type", "media_type", "data", "url"}

func (s *wireSource) readJSON(r *wirejson.Reader) {
	o := r.Object(sourceFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			s.Type = r.String()
		case "media_type":
			s.MediaType = r.String()
		case "data":
			s.Data = r.String()
		case "url":
			s.URL = r.String()
		}
	}
}

var usageFields = []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}

func (u *wireUsage) readJSON(r *wirejson.Reader) {
	o := r.Object(usageFields)
	for o.Next() {
		switch o.Key() {
		case "input_tokens":
			u.InputTokens = readInt64Ptr(r)
		case "output_tokens":
			u.OutputTokens = readInt64Ptr(r)
		case "cache_creation_input_tokens":
			u.CacheCreationInputTokens = readInt64Ptr(r)
		case "cache_read_input_tokens":
			u.CacheReadInputTokens = readInt64Ptr(r)
		}
	}
}

var eventFields = []string{"type", "message", "index", "content_block", "delta", "usage", "error"}

func (ev *streamEvent) readJSON(r *wirejson.Reader) {
	o := r.Object(eventFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			ev.Type = r.Symbol(eventSymbols)
		case "message":
			if r.Null() {
				ev.Message = nil
				continue
			}
			ev.Message = new(wireResponse)
			ev.Message.readJSON(r)
		case "index":
			ev.Index = r.Int()
		case "content_block":
			if r.Null() {
				ev.ContentBlock = nil
				continue
			}
			ev.ContentBlock = new(wireBlock)
			ev.ContentBlock.readJSON(r)
		case "delta":
			ev.Delta = r.Raw()
		case "usage":
			if r.Null() {
				ev.Usage = nil
				continue
			}
			ev.Usage = new(wireUsage)
			ev.Usage.readJSON(r)
		case "error":
			if r.Null() {
				ev.Error = nil
				continue
			}
			ev.Error = new(streamError)
			ev.Error.readJSON(r)
		}
	}
}

var errorFields = []string{"type", "message"}

func (e *streamError) readJSON(r *wirejson.Reader) {
	o := r.Object(errorFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			e.Type = r.String()
		case "message":
			e.Message = r.String()
		}
	}
}

var deltaFields = []string{"type", "text", "partial_json", "stop_reason"}

func (d *streamDelta) readJSON(r *wirejson.Reader) {
	o := r.Object(deltaFields)
	for o.Next() {
		switch o.Key() {
		case "type":
			d.Type = r.Symbol(deltaSymbols)
		case "text":
			d.Text = r.String()
		case "partial_json":
			d.PartialJSON = r.String()
		case "stop_reason":
			d.StopReason = readStringPtr(r, stopSymbols)
		}
	}
}

// readStringPtr reads a string into a new pointer, nil for null.
func readStringPtr(r *wirejson.Reader, known []string) *string {
	if r.Null() {
		return nil
	}
	s := r.Symbol(known)
	return &s
}

// readInt64Ptr reads an integer into a new pointer, nil for null.
func readInt64Ptr(r *wirejson.Reader) *int64 {
	if r.Null() {
		return nil
	}
	n := r.Int64()
	return &n
}
