package openai

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

// chunkStream decodes an OpenAI-format SSE stream into canonical events.
type chunkStream struct {
	body    io.ReadCloser
	sse     *sse.Reader
	queue   []providers.Event
	started bool
	done    bool
	// finished counts the choices that ended; a stream that ends before
	// its [DONE] with no choice finished was cut short.
	finished  int
	closeOnce sync.Once
	// json decodes each chunk into chunk, which is reused (a local would
	// escape to the heap through the decoder).
	json  wirejson.Reader
	chunk wireChunk
}

// NewStream returns a providers.Stream over an OpenAI-format SSE body.
func NewStream(body io.ReadCloser) providers.Stream {
	return &chunkStream{body: body, sse: sse.NewReader(body)}
}

func (s *chunkStream) Next() (providers.Event, error) {
	for len(s.queue) == 0 {
		if s.done {
			return providers.Event{}, io.EOF
		}
		if err := s.read(); err != nil {
			return providers.Event{}, err
		}
	}
	ev := s.queue[0]
	// Shift rather than re-slice: s.queue[1:] would drop the front of
	// the backing array, and the next refill would allocate anew.
	n := copy(s.queue, s.queue[1:])
	s.queue[n] = providers.Event{}
	s.queue = s.queue[:n]
	return ev, nil
}

// read decodes the next SSE event into queued canonical events.
func (s *chunkStream) read() error {
	ev, err := s.sse.Next()
	if errors.Is(err, io.EOF) {
		s.done = true
		if s.finished == 0 {
			s.fail(&providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_truncated",
				Message: "the upstream stream ended before the answer was complete"})
		}
		return nil
	}
	if err != nil {
		return err
	}
	data := bytes.TrimSpace(ev.Data)
	if string(data) == "[DONE]" {
		s.done = true
		return nil
	}
	if len(data) == 0 {
		return nil
	}
	c := &s.chunk
	// Choices keeps its array from chunk to chunk (the decoder zeroes each
	// element it reuses; an absent list reads as empty rather than nil,
	// which this function does not tell apart).
	*c = wireChunk{Choices: c.Choices[:0]}
	if err := wirejson.Unmarshal(&s.json, data, c, (*wireChunk).readJSON); err != nil {
		s.done = true
		s.fail(&providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
			Message: "the upstream sent a malformed stream chunk"})
		return nil
	}
	if c.Error != nil {
		s.done = true
		status := http.StatusBadGateway
		if code := string(c.Error.Code); code == `"rate_limit_exceeded"` || code == "429" {
			status = http.StatusTooManyRequests
		}
		s.fail(&providers.Error{Status: status, Type: orDefault(c.Error.Type, "server_error"), Message: c.Error.Message})
		return nil
	}
	if !s.started {
		if len(c.Choices) == 0 && c.Usage == nil {
			return nil // Azure's first chunk: content-filter results only
		}
		s.started = true
		s.queue = append(s.queue, providers.Event{Type: providers.EventStart, ID: c.ID, Model: c.Model, Created: c.Created})
	}
	for _, ch := range c.Choices {
		if d := ch.Delta.Content; d != nil && *d != "" {
			s.queue = append(s.queue, providers.Event{Type: providers.EventText, Choice: ch.Index, Text: *d})
		}
		if d := ch.Delta.Refusal; d != nil && *d != "" {
			s.queue = append(s.queue, providers.Event{Type: providers.EventText, Choice: ch.Index, Text: *d})
		}
		for j, tc := range ch.Delta.ToolCalls {
			idx := j
			if tc.Index != nil {
				idx = *tc.Index
			}
			if tc.ID != "" || tc.Function.Name != "" {
				s.queue = append(s.queue, providers.Event{Type: providers.EventToolCall, Choice: ch.Index, ToolIndex: idx, ToolID: tc.ID, ToolName: tc.Function.Name})
			}
			if tc.Function.Arguments != "" {
				s.queue = append(s.queue, providers.Event{Type: providers.EventToolArgs, Choice: ch.Index, ToolIndex: idx, Text: tc.Function.Arguments})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finished++
			s.queue = append(s.queue, providers.Event{Type: providers.EventFinish, Choice: ch.Index, FinishReason: finishReason(*ch.FinishReason)})
		}
	}
	if c.Usage != nil {
		u := decodeUsage(c.Usage)
		s.queue = append(s.queue, providers.Event{Type: providers.EventUsage, Usage: &u})
	}
	return nil
}

func (s *chunkStream) fail(e *providers.Error) {
	s.queue = append(s.queue, providers.Event{Type: providers.EventError, Err: e})
}

func (s *chunkStream) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.body.Close() })
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// StreamEncoder writes canonical events as OpenAI chat.completion.chunk
// server-sent events, the way the official SDKs parse them: the first chunk
// of each choice carries the role, tool-call fragments carry their index,
// the usage-only chunk (choices: []) is written only when the client asked
// for it, and the stream ends with "data: [DONE]".
//
// A chunk is written for every token, so the encoder writes by hand the
// bytes json.Marshal writes for the wireChunk (the fuzz tests hold it to
// that), into one reused buffer, with the part that only changes at
// EventStart prepared once.
type StreamEncoder struct {
	w            io.Writer
	includeUsage bool
	roleSent     map[int]bool
	// head is a chunk's start, up to and including `"choices":[`; tail
	// ends it.
	head, tail []byte
	buf        []byte
}

// NewStreamEncoder returns an encoder writing to w.
func NewStreamEncoder(w io.Writer, includeUsage bool) *StreamEncoder {
	e := &StreamEncoder{w: w, includeUsage: includeUsage, roleSent: make(map[int]bool, 1), buf: make([]byte, 0, 512)}
	// With include_usage, OpenAI sends "usage": null on every chunk but
	// the last; do the same.
	e.tail = []byte("]}\n\n")
	if includeUsage {
		e.tail = []byte(`],"usage":null}` + "\n\n")
	}
	e.setHead("", "", 0)
	return e
}

// setHead prepares the start of the chunks of the answer id.
func (e *StreamEncoder) setHead(id, model string, created int64) {
	h := append(e.head[:0], `data: {"id":`...)
	h = wirejson.AppendString(h, id)
	h = append(h, `,"object":"chat.completion.chunk","created":`...)
	h = wirejson.AppendInt(h, created)
	h = append(h, `,"model":`...)
	h = wirejson.AppendString(h, model)
	e.head = append(h, `,"choices":[`...)
}

// Encode writes the chunk(s) for ev.
func (e *StreamEncoder) Encode(ev providers.Event) error {
	switch ev.Type {
	case providers.EventStart:
		e.setHead(ev.ID, ev.Model, ev.Created)
		return e.ensureRole(0)
	case providers.EventText:
		if err := e.ensureRole(ev.Choice); err != nil {
			return err
		}
		b := e.startChoice(ev.Choice)
		b = append(b, `"content":`...)
		b = wirejson.AppendString(b, ev.Text)
		return e.endChoice(b, false, "")
	case providers.EventToolCall:
		if err := e.ensureRole(ev.Choice); err != nil {
			return err
		}
		b := e.startChoice(ev.Choice)
		b = append(b, `"tool_calls":[`...)
		b = appendToolCall(b, true, ev.ToolIndex, ev.ToolID, "function", ev.ToolName, "")
		return e.endChoice(append(b, ']'), false, "")
	case providers.EventToolArgs:
		b := e.startChoice(ev.Choice)
		b = append(b, `"tool_calls":[`...)
		b = appendToolCall(b, true, ev.ToolIndex, "", "", "", ev.Text)
		return e.endChoice(append(b, ']'), false, "")
	case providers.EventFinish:
		if err := e.ensureRole(ev.Choice); err != nil {
			return err
		}
		return e.endChoice(e.startChoice(ev.Choice), true, ev.FinishReason)
	case providers.EventUsage:
		if !e.includeUsage || ev.Usage == nil {
			return nil
		}
		b := append(e.buf[:0], e.head...)
		b = append(b, `],"usage":`...)
		b = appendUsage(b, *ev.Usage)
		return e.flush(append(b, "}\n\n"...))
	case providers.EventError:
		if ev.Err == nil {
			return nil
		}
		b := append(e.buf[:0], "data: "...)
		b = append(b, EncodeError(ev.Err)...)
		return e.flush(append(b, "\n\n"...))
	}
	return nil
}

// End writes the stream's terminator.
func (e *StreamEncoder) End() error {
	_, err := io.WriteString(e.w, "data: [DONE]\n\n")
	return err
}

func (e *StreamEncoder) ensureRole(choice int) error {
	if e.roleSent[choice] {
		return nil
	}
	e.roleSent[choice] = true
	b := e.startChoice(choice)
	b = append(b, `"role":"assistant","content":""`...)
	return e.endChoice(b, false, "")
}

// startChoice begins a one-choice chunk, up to the inside of its delta.
func (e *StreamEncoder) startChoice(choice int) []byte {
	b := append(e.buf[:0], e.head...)
	b = append(b, `{"index":`...)
	b = wirejson.AppendInt(b, int64(choice))
	return append(b, `,"delta":{`...)
}

// endChoice closes the delta, writes the finish reason (null without
// one), ends the chunk and writes it.
func (e *StreamEncoder) endChoice(b []byte, finished bool, reason providers.FinishReason) error {
	b = append(b, `},"finish_reason":`...)
	if finished {
		b = wirejson.AppendString(b, string(reason))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, '}')
	return e.flush(append(b, e.tail...))
}

func (e *StreamEncoder) flush(b []byte) error {
	e.buf = b // keep the grown buffer
	_, err := e.w.Write(b)
	return err
}

// Inbound is the OpenAI chat-completions dialect as clients speak it to
// the gateway.
type Inbound struct{}

// DecodeChat decodes a chat-completions request.
func (Inbound) DecodeChat(body []byte) (*providers.ChatRequest, error) {
	return DecodeChatRequest(body)
}

// EncodeChat encodes a complete answer.
func (Inbound) EncodeChat(resp *providers.ChatResponse) ([]byte, error) {
	return EncodeChatResponse(resp)
}

// NewStreamEncoder returns an OpenAI chunk encoder.
func (Inbound) NewStreamEncoder(w io.Writer, includeUsage bool) providers.StreamEncoder {
	return NewStreamEncoder(w, includeUsage)
}

// EncodeError encodes an OpenAI error body.
func (Inbound) EncodeError(e *providers.Error) ([]byte, string) {
	return EncodeError(e), "application/json"
}

var _ providers.Inbound = Inbound{}
