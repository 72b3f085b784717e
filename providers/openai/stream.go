package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

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
	var c wireChunk
	if err := json.Unmarshal(data, &c); err != nil {
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
type StreamEncoder struct {
	w            io.Writer
	includeUsage bool
	id, model    string
	created      int64
	roleSent     map[int]bool
	buf          bytes.Buffer
}

// NewStreamEncoder returns an encoder writing to w.
func NewStreamEncoder(w io.Writer, includeUsage bool) *StreamEncoder {
	return &StreamEncoder{w: w, includeUsage: includeUsage, roleSent: make(map[int]bool, 1)}
}

// Encode writes the chunk(s) for ev.
func (e *StreamEncoder) Encode(ev providers.Event) error {
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
	empty := ""
	return e.writeChunk(wireChunkChoice{Index: choice, Delta: wireDelta{Role: "assistant", Content: &empty}})
}

func (e *StreamEncoder) writeChunk(c wireChunkChoice) error {
	return e.write(wireChunk{ID: e.id, Object: "chat.completion.chunk", Created: e.created, Model: e.model,
		Choices: []wireChunkChoice{c}}, e.includeUsage)
}

// write renders one chunk. With include_usage, OpenAI sends "usage": null on
// every chunk but the last; do the same.
func (e *StreamEncoder) write(c wireChunk, nullUsageField bool) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding a stream chunk: %w", err)
	}
	if nullUsageField {
		b = append(b[:len(b)-1], `,"usage":null}`...)
	}
	return e.writeData(b)
}

func (e *StreamEncoder) writeData(b []byte) error {
	e.buf.Reset()
	e.buf.WriteString("data: ")
	e.buf.Write(b)
	e.buf.WriteString("\n\n")
	_, err := e.w.Write(e.buf.Bytes())
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
