package cohere

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

// streamEvent is one event of a Cohere v2 chat stream. Its type is in the
// JSON ("type") and repeated as the SSE event name.
type streamEvent struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Index int    `json:"index"`
	Delta struct {
		Message struct {
			// Content and ToolCalls are objects in deltas, but empty
			// arrays in message-start: decoded by type, see object.
			Content   json.RawMessage `json:"content"`
			ToolPlan  string          `json:"tool_plan"`
			ToolCalls json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
		Usage        *usage `json:"usage"`
	} `json:"delta"`
	// Message is set on an error event.
	Message string `json:"message"`
}

type deltaContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type deltaToolCall struct {
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// object decodes raw into a new T when it is a JSON object, nil otherwise.
func object[T any](raw json.RawMessage) (*T, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// stream translates a Cohere SSE chat stream into canonical events, one
// upstream event at a time.
type stream struct {
	body  io.ReadCloser
	r     *sse.Reader
	model string

	pending []providers.Event
	started bool
	done    bool
	// tools maps Cohere's tool-call index to the canonical ToolIndex.
	tools map[int]int
	// argsSent records, per ToolIndex, whether any arguments were sent.
	argsSent []bool
	// kinds holds the type of each content block ("text", "thinking").
	kinds map[int]string

	closeOnce sync.Once
	closeErr  error
}

// Next returns the next canonical event, io.EOF after the last.
func (s *stream) Next() (providers.Event, error) {
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			// Shift rather than re-slice: s.pending[1:] would drop the front of
			// the backing array, and the next refill would allocate anew.
			n := copy(s.pending, s.pending[1:])
			s.pending[n] = providers.Event{}
			s.pending = s.pending[:n]
			return ev, nil
		}
		if s.done {
			return providers.Event{}, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			s.done = true
			if errors.Is(err, io.EOF) {
				s.fail(upstreamFault("the Cohere stream ended before message-end"))
			} else {
				s.fail(upstreamFault("reading the Cohere stream: %v", err))
			}
			continue
		}
		s.handle(ev)
	}
}

// fail queues an EventError (after an EventStart if none was sent) and ends
// the stream.
func (s *stream) fail(e *providers.Error) {
	s.start("")
	s.pending = append(s.pending, providers.Event{Type: providers.EventError, Err: e})
	s.done = true
}

func (s *stream) start(id string) {
	if !s.started {
		s.started = true
		s.pending = append(s.pending, providers.Event{Type: providers.EventStart, ID: id, Model: s.model, Created: now().Unix()})
	}
}

func (s *stream) handle(raw sse.Event) {
	var ev streamEvent
	if err := json.Unmarshal(raw.Data, &ev); err != nil {
		s.fail(upstreamFault("Cohere sent an unreadable stream event: %v", err))
		return
	}
	content, err := object[deltaContent](ev.Delta.Message.Content)
	if err != nil {
		s.fail(upstreamFault("Cohere sent an unreadable content delta: %v", err))
		return
	}
	tc, err := object[deltaToolCall](ev.Delta.Message.ToolCalls)
	if err != nil {
		s.fail(upstreamFault("Cohere sent an unreadable tool-call delta: %v", err))
		return
	}
	typ := ev.Type
	if typ == "" {
		typ = raw.Name
	}
	switch typ {
	case "message-start":
		s.start(ev.ID)
	case "content-start":
		s.start("")
		kind := "text"
		if content != nil && content.Type != "" {
			kind = content.Type
		}
		s.kinds[ev.Index] = kind
		if content != nil && kind == "text" && content.Text != "" {
			s.text(content.Text)
		}
	case "content-delta":
		s.start("")
		if content != nil && s.kinds[ev.Index] != "thinking" && content.Text != "" {
			s.text(content.Text)
		}
	case "tool-plan-delta":
		// The plan is the tool-calling turn's text (see decodeChat).
		s.start("")
		if t := ev.Delta.Message.ToolPlan; t != "" {
			s.text(t)
		}
	case "tool-call-start":
		s.start("")
		if tc == nil {
			s.fail(upstreamFault("Cohere sent tool-call-start without a tool call"))
			return
		}
		if _, dup := s.tools[ev.Index]; dup {
			s.fail(upstreamFault("Cohere started tool call %d twice", ev.Index))
			return
		}
		i := len(s.argsSent)
		s.tools[ev.Index] = i
		s.argsSent = append(s.argsSent, false)
		s.pending = append(s.pending, providers.Event{Type: providers.EventToolCall, ToolIndex: i, ToolID: toolID(tc.ID, i), ToolName: tc.Function.Name})
		s.args(i, tc.Function.Arguments)
	case "tool-call-delta":
		i, ok := s.tools[ev.Index]
		if !ok {
			s.fail(upstreamFault("Cohere sent arguments for tool call %d before it started", ev.Index))
			return
		}
		if tc != nil {
			s.args(i, tc.Function.Arguments)
		}
	case "tool-call-end":
		if i, ok := s.tools[ev.Index]; ok && !s.argsSent[i] {
			// A call without arguments still gets a JSON object.
			s.args(i, "{}")
		}
	case "message-end":
		s.start("")
		reason, ok := finishReason(ev.Delta.FinishReason)
		if !ok {
			s.fail(generationFailed(ev.Delta.FinishReason))
			return
		}
		s.pending = append(s.pending, providers.Event{Type: providers.EventFinish, FinishReason: reason})
		if ev.Delta.Usage != nil {
			u := ev.Delta.Usage.canonical()
			s.pending = append(s.pending, providers.Event{Type: providers.EventUsage, Usage: &u})
		}
		s.done = true
	case "error":
		msg := ev.Message
		if msg == "" {
			msg = "Cohere reported an error in the stream"
		}
		s.fail(upstreamFault("%s", msg))
	default:
		// citation-start/end, content-end, debug and future events carry
		// nothing the canonical stream has.
	}
}

func (s *stream) text(t string) {
	s.pending = append(s.pending, providers.Event{Type: providers.EventText, Text: t})
}

func (s *stream) args(i int, t string) {
	if t == "" {
		return
	}
	s.argsSent[i] = true
	s.pending = append(s.pending, providers.Event{Type: providers.EventToolArgs, ToolIndex: i, Text: t})
}

// Close closes the upstream body; it is idempotent.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.body.Close() })
	return s.closeErr
}
