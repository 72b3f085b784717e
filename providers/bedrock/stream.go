package bedrock

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Payloads of the converse-stream events (each may also carry a "p"
// padding field, ignored).
type (
	blockStart struct {
		ContentBlockIndex int `json:"contentBlockIndex"`
		Start             struct {
			ToolUse *struct {
				ToolUseID string `json:"toolUseId"`
				Name      string `json:"name"`
			} `json:"toolUse"`
		} `json:"start"`
	}
	blockDelta struct {
		ContentBlockIndex int `json:"contentBlockIndex"`
		Delta             struct {
			Text    *string `json:"text"`
			ToolUse *struct {
				Input string `json:"input"`
			} `json:"toolUse"`
		} `json:"delta"`
	}
	blockStop struct {
		ContentBlockIndex int `json:"contentBlockIndex"`
	}
	messageStop struct {
		StopReason string `json:"stopReason"`
	}
	metadata struct {
		Usage *usage `json:"usage"`
	}
)

// stream translates a converse-stream body into canonical events, one
// frame at a time. The usage arrives in the metadata event after
// messageStop: EventFinish is sent on messageStop, EventUsage on metadata.
type stream struct {
	body   io.ReadCloser
	frames frameReader
	model  string
	id     string

	pending []providers.Event
	started bool
	stopped bool // messageStop seen
	done    bool
	// tools maps a content block index to the canonical ToolIndex.
	tools map[int]int
	// argsSent records, per ToolIndex, whether arguments were sent.
	argsSent []bool

	closeOnce sync.Once
	closeErr  error
}

func newStream(body io.ReadCloser, model, id string) *stream {
	return &stream{body: body, frames: frameReader{r: body}, model: model, id: id, tools: map[int]int{}}
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
		f, err := s.frames.next()
		switch {
		case errors.Is(err, io.EOF) && !s.stopped:
			s.fail(upstreamFault("the Bedrock stream ended before messageStop"))
		case errors.Is(err, io.EOF):
			s.fail(upstreamFault("the Bedrock stream ended before its usage metadata"))
		case err != nil:
			s.fail(upstreamFault("reading the Bedrock stream: %v", err))
		default:
			s.handle(f)
		}
	}
}

// fail queues an EventError (after an EventStart if none was sent) and ends
// the stream.
func (s *stream) fail(e *providers.Error) {
	s.start()
	s.pending = append(s.pending, providers.Event{Type: providers.EventError, Err: e})
	s.done = true
}

func (s *stream) start() {
	if !s.started {
		s.started = true
		s.pending = append(s.pending, providers.Event{Type: providers.EventStart, ID: s.id, Model: s.model, Created: now().Unix()})
	}
}

func (s *stream) handle(f frame) {
	switch mt := f.headers[":message-type"]; mt {
	case "event":
	case "exception":
		s.fail(streamException(f.headers[":exception-type"], f.payload))
		return
	case "error":
		s.fail(upstreamFault("Bedrock stream error %s: %s", f.headers[":error-code"], f.headers[":error-message"]))
		return
	default:
		s.fail(upstreamFault("Bedrock sent a frame of unknown message type %q", mt))
		return
	}
	bad := func(err error) {
		s.fail(upstreamFault("Bedrock sent an unreadable %s event: %v", f.headers[":event-type"], err))
	}
	switch f.headers[":event-type"] {
	case "messageStart":
		s.start()
	case "contentBlockStart":
		s.start()
		var ev blockStart
		if err := json.Unmarshal(f.payload, &ev); err != nil {
			bad(err)
			return
		}
		if tu := ev.Start.ToolUse; tu != nil {
			if _, dup := s.tools[ev.ContentBlockIndex]; dup {
				s.fail(upstreamFault("Bedrock started content block %d twice", ev.ContentBlockIndex))
				return
			}
			i := len(s.argsSent)
			s.tools[ev.ContentBlockIndex] = i
			s.argsSent = append(s.argsSent, false)
			id := tu.ToolUseID
			if id == "" {
				id = "call_" + strconv.Itoa(i)
			}
			s.pending = append(s.pending, providers.Event{Type: providers.EventToolCall, ToolIndex: i, ToolID: id, ToolName: tu.Name})
		}
	case "contentBlockDelta":
		s.start()
		var ev blockDelta
		if err := json.Unmarshal(f.payload, &ev); err != nil {
			bad(err)
			return
		}
		switch {
		case ev.Delta.Text != nil:
			if *ev.Delta.Text != "" {
				s.pending = append(s.pending, providers.Event{Type: providers.EventText, Text: *ev.Delta.Text})
			}
		case ev.Delta.ToolUse != nil:
			i, ok := s.tools[ev.ContentBlockIndex]
			if !ok {
				s.fail(upstreamFault("Bedrock sent tool input for content block %d, which is not a tool call", ev.ContentBlockIndex))
				return
			}
			if ev.Delta.ToolUse.Input != "" {
				s.argsSent[i] = true
				s.pending = append(s.pending, providers.Event{Type: providers.EventToolArgs, ToolIndex: i, Text: ev.Delta.ToolUse.Input})
			}
		}
		// reasoningContent and other deltas have no canonical form.
	case "contentBlockStop":
		var ev blockStop
		if err := json.Unmarshal(f.payload, &ev); err != nil {
			bad(err)
			return
		}
		if i, ok := s.tools[ev.ContentBlockIndex]; ok {
			s.closeArgs(i)
		}
	case "messageStop":
		s.start()
		var ev messageStop
		if err := json.Unmarshal(f.payload, &ev); err != nil {
			bad(err)
			return
		}
		if s.stopped {
			s.fail(upstreamFault("Bedrock sent messageStop twice"))
			return
		}
		for i := range s.argsSent {
			s.closeArgs(i)
		}
		s.stopped = true
		s.pending = append(s.pending, providers.Event{Type: providers.EventFinish, FinishReason: finishReason(ev.StopReason)})
	case "metadata":
		var ev metadata
		if err := json.Unmarshal(f.payload, &ev); err != nil {
			bad(err)
			return
		}
		if !s.stopped {
			s.fail(upstreamFault("Bedrock sent the usage metadata before messageStop"))
			return
		}
		u := ev.Usage.canonical()
		s.pending = append(s.pending, providers.Event{Type: providers.EventUsage, Usage: &u})
		s.done = true
	default:
		// Future event types carry nothing the canonical stream has.
	}
}

// closeArgs sends "{}" for a tool call that got no arguments, so that every
// call's arguments are a JSON object.
func (s *stream) closeArgs(i int) {
	if !s.argsSent[i] {
		s.argsSent[i] = true
		s.pending = append(s.pending, providers.Event{Type: providers.EventToolArgs, ToolIndex: i, Text: "{}"})
	}
}

// exceptionStatus is the HTTP status each stream exception would have had
// as an error answer, for the shared mapping.
var exceptionStatus = map[string]int{
	"ThrottlingException":         http.StatusTooManyRequests,
	"ServiceUnavailableException": http.StatusServiceUnavailable,
	"ValidationException":         http.StatusBadRequest,
	"ModelTimeoutException":       http.StatusRequestTimeout,
	"AccessDeniedException":       http.StatusForbidden,
}

// streamException converts an exception frame (":exception-type", e.g.
// "throttlingException", and a {"message"} payload).
func streamException(typ string, payload []byte) *providers.Error {
	var b struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(payload, &b)
	if typ != "" {
		typ = strings.ToUpper(typ[:1]) + typ[1:]
	}
	status, ok := exceptionStatus[typ]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := b.Message
	if msg == "" {
		msg = "Bedrock ended the stream with " + typ
	}
	return classify(&http.Response{StatusCode: status, Header: http.Header{}}, typ, msg)
}

// Close closes the upstream body; it is idempotent.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.body.Close() })
	return s.closeErr
}
