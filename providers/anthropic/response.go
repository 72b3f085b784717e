package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

// now is the clock for Created (the Messages API has no timestamp);
// tests replace it.
var now = func() int64 { return time.Now().Unix() }

// decodeResponse translates a Messages API answer into canonical form.
// Thinking blocks are dropped (strict OpenAI clients have no place for
// them); their tokens are already part of output_tokens.
func decodeResponse(body []byte) (*providers.ChatResponse, error) {
	var w wireResponse
	var r wirejson.Reader
	if err := wirejson.Unmarshal(&r, body, &w, (*wireResponse).readJSON); err != nil {
		return nil, fmt.Errorf("anthropic: decoding the response: %w", err)
	}
	if w.Type != "message" {
		return nil, fmt.Errorf("anthropic: response of type %q, want message", w.Type)
	}
	msg := providers.Message{Role: providers.RoleAssistant}
	calls := 0
	for _, b := range w.Content {
		if b.Type == "tool_use" {
			calls++
		}
	}
	if calls > 0 {
		msg.ToolCalls = make([]providers.ToolCall, 0, calls)
	}
	var text string // the text blocks joined (usually there is one: no copy)
	for _, b := range w.Content {
		switch b.Type {
		case "text":
			text += b.Text
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, providers.ToolCall{ID: b.ID, Name: b.Name, Arguments: argumentsText(b.Input)})
		}
	}
	if text != "" {
		msg.Parts = []providers.Part{{Type: providers.PartText, Text: text}}
	}
	stop := ""
	if w.StopReason != nil {
		stop = *w.StopReason
	}
	return &providers.ChatResponse{
		ID:      w.ID,
		Model:   w.Model,
		Created: now(),
		Choices: []providers.Choice{{Message: msg, FinishReason: finishFromStop(stop)}},
		Usage:   usageFromWire(w.Usage),
	}, nil
}

// stream reads a Messages API event stream and yields canonical events.
type stream struct {
	body io.ReadCloser
	r    *sse.Reader
	// json decodes each event's data into ev and delta, which are reused
	// (a local would escape to the heap through the decoder).
	json      wirejson.Reader
	ev        streamEvent
	delta     streamDelta
	queue     []providers.Event
	closeOnce sync.Once
	closeErr  error
	done      bool // io.EOF is all that is left

	started  bool
	usage    wireUsage
	blocks   map[int]*block // by content-block index
	tools    int            // tool calls seen so far
	finished bool
}

// block is what the stream remembers of an open content block.
type block struct {
	kind    string // text, tool_use, or anything else (dropped)
	tool    int    // position among the tool calls
	hasArgs bool
}

func newStream(body io.ReadCloser) *stream {
	return &stream{body: body, r: sse.NewReader(body), blocks: map[int]*block{}}
}

// Next returns the next canonical event, reading upstream events as
// needed.
func (s *stream) Next() (providers.Event, error) {
	for len(s.queue) == 0 {
		if s.done {
			return providers.Event{}, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			s.done = true
			msg := "the upstream stream ended before message_stop"
			if !errors.Is(err, io.EOF) {
				msg = "reading the upstream stream: " + err.Error()
			}
			s.fail(&providers.Error{Status: 502, Type: "server_error", Code: "upstream_stream_truncated", Message: msg})
			continue
		}
		if err := s.handle(ev); err != nil {
			s.done = true
			s.fail(&providers.Error{Status: 502, Type: "server_error", Code: "upstream_bad_stream", Message: "anthropic: " + err.Error()})
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

func (s *stream) emit(ev providers.Event) { s.queue = append(s.queue, ev) }

func (s *stream) fail(e *providers.Error) {
	s.emit(providers.Event{Type: providers.EventError, Err: e})
}

// streamEvent is the union of the Messages API's stream events.
type streamEvent struct {
	Type         string          `json:"type"`
	Message      *wireResponse   `json:"message"`
	Index        int             `json:"index"`
	ContentBlock *wireBlock      `json:"content_block"`
	Delta        json.RawMessage `json:"delta"`
	Usage        *wireUsage      `json:"usage"`
	Error        *streamError    `json:"error"`
}

type streamError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type streamDelta struct {
	Type        string  `json:"type"`
	Text        string  `json:"text"`
	PartialJSON string  `json:"partial_json"`
	StopReason  *string `json:"stop_reason"`
}

// handle turns one upstream event into canonical events.
func (s *stream) handle(raw sse.Event) error {
	if len(raw.Data) == 0 {
		return nil
	}
	ev := &s.ev
	*ev = streamEvent{}
	if err := wirejson.Unmarshal(&s.json, raw.Data, ev, (*streamEvent).readJSON); err != nil {
		return fmt.Errorf("decoding a %q event: %w", raw.Name, err)
	}
	if ev.Type == "" {
		ev.Type = raw.Name
	}
	if ev.Type != "message_start" && ev.Type != "ping" && ev.Type != "error" && !s.started {
		return fmt.Errorf("%q event before message_start", ev.Type)
	}
	switch ev.Type {
	case "message_start":
		if s.started {
			return errors.New("a second message_start")
		}
		if ev.Message == nil {
			return errors.New("message_start without a message")
		}
		s.started = true
		mergeUsage(&s.usage, ev.Message.Usage)
		s.emit(providers.Event{Type: providers.EventStart, ID: ev.Message.ID, Model: ev.Message.Model, Created: now()})
	case "content_block_start":
		if ev.ContentBlock == nil {
			return errors.New("content_block_start without a content_block")
		}
		b := &block{kind: ev.ContentBlock.Type}
		s.blocks[ev.Index] = b
		switch b.kind {
		case "text":
			if ev.ContentBlock.Text != "" {
				s.emit(providers.Event{Type: providers.EventText, Text: ev.ContentBlock.Text})
			}
		case "tool_use":
			b.tool = s.tools
			s.tools++
			s.emit(providers.Event{Type: providers.EventToolCall, ToolIndex: b.tool, ToolID: ev.ContentBlock.ID, ToolName: ev.ContentBlock.Name})
			// Input normally arrives in deltas, starting from {}; a
			// non-empty start is passed on as the first piece.
			if in := argumentsText(ev.ContentBlock.Input); in != "{}" {
				b.hasArgs = true
				s.emit(providers.Event{Type: providers.EventToolArgs, ToolIndex: b.tool, Text: in})
			}
		}
	case "content_block_delta":
		b := s.blocks[ev.Index]
		if b == nil {
			return fmt.Errorf("delta for content block %d, which was not started", ev.Index)
		}
		d := &s.delta
		*d = streamDelta{}
		if err := wirejson.Unmarshal(&s.json, ev.Delta, d, (*streamDelta).readJSON); err != nil {
			return fmt.Errorf("decoding a content_block_delta: %w", err)
		}
		switch {
		case d.Type == "text_delta" && b.kind == "text":
			if d.Text != "" {
				s.emit(providers.Event{Type: providers.EventText, Text: d.Text})
			}
		case d.Type == "input_json_delta" && b.kind == "tool_use":
			if d.PartialJSON != "" {
				b.hasArgs = true
				s.emit(providers.Event{Type: providers.EventToolArgs, ToolIndex: b.tool, Text: d.PartialJSON})
			}
		}
		// thinking, signature and citations deltas are dropped.
	case "content_block_stop":
		b := s.blocks[ev.Index]
		if b == nil {
			return fmt.Errorf("stop of content block %d, which was not started", ev.Index)
		}
		if b.kind == "tool_use" && !b.hasArgs {
			// A call without arguments still needs parseable ones.
			s.emit(providers.Event{Type: providers.EventToolArgs, ToolIndex: b.tool, Text: "{}"})
		}
		delete(s.blocks, ev.Index)
	case "message_delta":
		d := &s.delta
		*d = streamDelta{}
		if len(ev.Delta) > 0 {
			if err := wirejson.Unmarshal(&s.json, ev.Delta, d, (*streamDelta).readJSON); err != nil {
				return fmt.Errorf("decoding a message_delta: %w", err)
			}
		}
		if ev.Usage != nil {
			mergeUsage(&s.usage, *ev.Usage)
		}
		if d.StopReason != nil && !s.finished {
			s.finished = true
			s.emit(providers.Event{Type: providers.EventFinish, FinishReason: finishFromStop(*d.StopReason)})
		}
	case "message_stop":
		if !s.finished {
			s.finished = true
			s.emit(providers.Event{Type: providers.EventFinish, FinishReason: providers.FinishStop})
		}
		u := usageFromWire(s.usage)
		s.emit(providers.Event{Type: providers.EventUsage, Usage: &u})
		s.done = true
	case "error":
		e := errorFromType("", "")
		if ev.Error != nil {
			e = errorFromType(ev.Error.Type, ev.Error.Message)
		}
		s.fail(e)
		s.done = true
	}
	// ping and unknown future events are ignored.
	return nil
}

// Close closes the upstream body; it may be called more than once.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.body.Close() })
	return s.closeErr
}
