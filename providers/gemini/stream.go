package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

// stream translates a streamGenerateContent?alt=sse answer, one SSE event
// at a time. Each event is a whole GenerateContentResponse whose parts are
// increments (text to append, function calls whole) and whose
// usageMetadata holds running totals, so the last one seen is the usage.
// Gemini has no end sentinel: the stream ends at EOF, and an EOF before
// every choice has a finishReason means the stream was cut off.
type stream struct {
	body  io.ReadCloser
	r     *sse.Reader
	model string
	key   string

	queue []providers.Event
	head  int

	started bool
	done    bool
	usage   *usageMetadata
	choices map[int]*choiceState
	calls   int // tool calls so far, all choices: the n of call_<n>

	closeOnce sync.Once
	closeErr  error
}

type choiceState struct {
	tools    int
	finished bool
}

func newStream(body io.ReadCloser, model, key string) *stream {
	return &stream{body: body, r: sse.NewReader(body), model: model, key: key, choices: map[int]*choiceState{}}
}

// Next returns the next event, io.EOF after the last.
func (s *stream) Next() (providers.Event, error) {
	for {
		if s.head < len(s.queue) {
			ev := s.queue[s.head]
			s.head++
			return ev, nil
		}
		s.queue, s.head = s.queue[:0], 0
		if s.done {
			return providers.Event{}, io.EOF
		}
		ev, err := s.r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.end()
			} else {
				s.fail(&providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
					Message: "the upstream stream broke off before its end"})
			}
			continue
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		s.chunk(data)
	}
}

// Close releases the upstream connection; safe to call more than once.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.body.Close() })
	return s.closeErr
}

func (s *stream) push(ev providers.Event) { s.queue = append(s.queue, ev) }

// fail ends the stream with an error, after the usage seen so far (the
// tokens were spent, and metering wants them).
func (s *stream) fail(e *providers.Error) {
	s.pushUsage()
	s.push(providers.Event{Type: providers.EventError, Err: e})
	s.done = true
}

func (s *stream) pushUsage() {
	if s.usage != nil {
		u := s.usage.usage()
		s.push(providers.Event{Type: providers.EventUsage, Usage: &u})
		s.usage = nil
	}
}

// end handles EOF: a complete stream has finished every choice it started.
func (s *stream) end() {
	complete := len(s.choices) > 0
	for _, c := range s.choices {
		complete = complete && c.finished
	}
	if !complete {
		s.fail(&providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
			Message: "the upstream stream ended before its finish reason (truncated)"})
		return
	}
	s.pushUsage()
	s.done = true
}

func (s *stream) choice(i int) *choiceState {
	c := s.choices[i]
	if c == nil {
		c = &choiceState{}
		s.choices[i] = c
	}
	return c
}

// chunk translates one event.
func (s *stream) chunk(data []byte) {
	var r generateResponse
	if err := json.Unmarshal(data, &r); err != nil {
		s.fail(errMalformed("stream event"))
		return
	}
	if r.Error != nil {
		s.fail(r.Error.toError(0, nil, s.key))
		return
	}
	if !s.started {
		s.started = true
		ev := providers.Event{Type: providers.EventStart, ID: r.ResponseID, Model: r.ModelVersion, Created: now()}
		if ev.ID == "" {
			ev.ID = newID()
		}
		if ev.Model == "" {
			ev.Model = s.model
		}
		s.push(ev)
	}
	if r.UsageMetadata != nil {
		u := *r.UsageMetadata
		s.usage = &u
	}
	if len(r.Candidates) == 0 && r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		// A blocked prompt: no candidate will come. As in decodeResponse,
		// an empty answer finished by content_filter.
		if c := s.choice(0); !c.finished {
			c.finished = true
			s.push(providers.Event{Type: providers.EventFinish, FinishReason: providers.FinishContentFilter})
		}
		return
	}
	for i, cand := range r.Candidates {
		idx := i
		if cand.Index != nil {
			idx = *cand.Index
		}
		if idx < 0 || idx >= maxCandidates {
			s.fail(errMalformed("stream event"))
			return
		}
		c := s.choice(idx)
		if c.finished {
			continue // nothing may follow a choice's finish
		}
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				switch {
				case p.Thought:
				case p.FunctionCall != nil:
					// Gemini sends a call whole: its name and all its
					// arguments, in one event.
					s.push(providers.Event{Type: providers.EventToolCall, Choice: idx, ToolIndex: c.tools,
						ToolID: callID(p.FunctionCall, s.calls), ToolName: p.FunctionCall.Name})
					s.push(providers.Event{Type: providers.EventToolArgs, Choice: idx, ToolIndex: c.tools,
						Text: callArgs(p.FunctionCall.Args)})
					c.tools++
					s.calls++
				case p.Text != "":
					s.push(providers.Event{Type: providers.EventText, Choice: idx, Text: p.Text})
				}
			}
		}
		if cand.FinishReason != "" {
			c.finished = true
			s.push(providers.Event{Type: providers.EventFinish, Choice: idx, FinishReason: mapFinish(cand.FinishReason, c.tools > 0)})
		}
	}
}
