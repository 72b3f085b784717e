package anthropic

import (
	"encoding/json"
	"io"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// streamEncoder writes canonical events as the Messages API's event
// sequence: message_start, ping, content_block_start/delta/stop per text
// run and per tool call (indexes count both kinds together),
// message_delta with the stop reason and usage, message_stop.
//
// Canonical usage arrives after the finish reason, so the stop reason is
// held until usage or End, and message_delta carries both.
type streamEncoder struct {
	w   io.Writer
	err error

	started   bool
	id, model string

	open       int    // index of the open content block, -1 for none
	openKind   string // "text" or "tool_use"
	next       int    // index of the next content block
	toolBlocks map[int]int

	stop      string // held stop reason, "" until EventFinish
	usage     *providers.Usage
	delivered bool // message_delta written
	ended     bool // message_stop or error written
}

// Encode writes what ev becomes on the wire. Events of choices other than
// the first are dropped: the dialect has one.
func (e *streamEncoder) Encode(ev providers.Event) error {
	if e.err != nil || e.ended {
		return e.err
	}
	if ev.Choice != 0 && ev.Type != providers.EventError && ev.Type != providers.EventUsage {
		return nil
	}
	switch ev.Type {
	case providers.EventStart:
		e.id, e.model = ev.ID, ev.Model
		e.start()
	case providers.EventText:
		if ev.Text == "" {
			return e.err
		}
		e.start()
		if e.openKind != "text" {
			e.closeBlock()
			e.openBlock("text", textBlock{Type: "text", Text: ""})
		}
		e.write("content_block_delta", sseBlockDelta{Type: "content_block_delta", Index: e.open,
			Delta: textBlock{Type: "text_delta", Text: ev.Text}})
	case providers.EventToolCall:
		e.start()
		e.closeBlock()
		e.toolBlocks[ev.ToolIndex] = e.next
		e.openBlock("tool_use", toolUseBlock{Type: "tool_use", ID: toolID(ev.ToolID, ev.ToolIndex), Name: ev.ToolName, Input: json.RawMessage("{}")})
	case providers.EventToolArgs:
		if ev.Text == "" {
			return e.err
		}
		e.start()
		idx, ok := e.toolBlocks[ev.ToolIndex]
		if !ok {
			// Arguments of a call that was never announced: give it a block.
			e.closeBlock()
			e.toolBlocks[ev.ToolIndex] = e.next
			idx = e.next
			e.openBlock("tool_use", toolUseBlock{Type: "tool_use", ID: toolID("", ev.ToolIndex), Input: json.RawMessage("{}")})
		}
		e.write("content_block_delta", sseBlockDelta{Type: "content_block_delta", Index: idx,
			Delta: jsonDelta{Type: "input_json_delta", PartialJSON: ev.Text}})
	case providers.EventFinish:
		e.start()
		e.closeBlock()
		e.stop = stopFromFinish(ev.FinishReason)
		if e.usage != nil {
			e.messageDelta()
		}
	case providers.EventUsage:
		if ev.Usage == nil {
			return e.err
		}
		u := *ev.Usage
		e.usage = &u
		if e.stop != "" {
			e.messageDelta()
		}
	case providers.EventError:
		e.start()
		perr := ev.Err
		if perr == nil {
			perr = &providers.Error{Status: 502, Type: "server_error", Message: "the upstream stream failed"}
		}
		e.writeRaw("error", errorBody(perr))
		e.ended = true
	}
	return e.err
}

// End writes what is still owed of a complete stream: the open block's
// stop, message_delta (usage 0 if none came) and message_stop.
func (e *streamEncoder) End() error {
	if e.err != nil || e.ended {
		return e.err
	}
	e.start()
	e.closeBlock()
	if !e.delivered {
		if e.stop == "" {
			e.stop = stopEndTurn
		}
		e.messageDelta()
	}
	e.writeRaw("message_stop", []byte(`{"type":"message_stop"}`))
	e.ended = true
	return e.err
}

// start writes message_start and a ping once. The prompt's usage is not
// known yet (canonical usage comes at the end), so it starts at 0 and
// message_delta carries the real counters.
func (e *streamEncoder) start() {
	if e.started {
		return
	}
	e.started = true
	var m sseMessageStart
	m.Type = "message_start"
	m.Message.ID, m.Message.Type, m.Message.Role, m.Message.Model = messageID(e.id), "message", "assistant", e.model
	m.Message.Content = []any{}
	e.write("message_start", m)
	e.writeRaw("ping", []byte(`{"type":"ping"}`))
}

func (e *streamEncoder) openBlock(kind string, block any) {
	e.open, e.openKind = e.next, kind
	e.next++
	e.write("content_block_start", sseBlockStart{Type: "content_block_start", Index: e.open, ContentBlock: block})
}

func (e *streamEncoder) closeBlock() {
	if e.open < 0 {
		return
	}
	e.write("content_block_stop", sseBlockStop{Type: "content_block_stop", Index: e.open})
	e.open, e.openKind = -1, ""
}

// messageDelta writes the stop reason with the final usage. All known
// counters are sent: SDK accumulators replace message_start's zeros with
// them. Without usage only output_tokens (required) is sent, as 0, so that
// no made-up prompt counter overwrites anything.
func (e *streamEncoder) messageDelta() {
	var d sseMessageDelta
	d.Type, d.Delta.StopReason = "message_delta", e.stop
	if e.usage != nil {
		u := toAnswerUsage(*e.usage)
		d.Usage = deltaUsage{InputTokens: &u.InputTokens, OutputTokens: u.OutputTokens,
			CacheCreationInputTokens: &u.CacheCreationInputTokens, CacheReadInputTokens: &u.CacheReadInputTokens}
	}
	e.write("message_delta", d)
	e.delivered = true
}

func (e *streamEncoder) write(event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		return
	}
	e.writeRaw(event, b)
}

func (e *streamEncoder) writeRaw(event string, data []byte) {
	if e.err != nil {
		return
	}
	buf := make([]byte, 0, len(event)+len(data)+16)
	buf = append(buf, "event: "...)
	buf = append(buf, event...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	_, e.err = e.w.Write(buf)
}

// The stream's event payloads, with fields in the API's order.
type (
	sseMessageStart struct {
		Type    string `json:"type"`
		Message struct {
			ID           string      `json:"id"`
			Type         string      `json:"type"`
			Role         string      `json:"role"`
			Model        string      `json:"model"`
			Content      []any       `json:"content"`
			StopReason   *string     `json:"stop_reason"`
			StopSequence *string     `json:"stop_sequence"`
			Usage        answerUsage `json:"usage"`
		} `json:"message"`
	}
	sseBlockStart struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock any    `json:"content_block"`
	}
	sseBlockDelta struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}
	jsonDelta struct {
		Type        string `json:"type"`
		PartialJSON string `json:"partial_json"`
	}
	sseBlockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	sseMessageDelta struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage deltaUsage `json:"usage"`
	}
	deltaUsage struct {
		InputTokens              *int64 `json:"input_tokens,omitempty"`
		OutputTokens             int64  `json:"output_tokens"`
		CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens,omitempty"`
		CacheReadInputTokens     *int64 `json:"cache_read_input_tokens,omitempty"`
	}
)
