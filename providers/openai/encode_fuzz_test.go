package openai

import (
	"bytes"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson/wirejsontest"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// gen makes canonical values out of fuzz input: strings of any bytes
// (invalid UTF-8, control and HTML characters, U+2028 included), numbers of
// any sign and size, and slices nil, empty or not.
type gen struct{ wirejsontest.Source }

var genStrings = []string{"", "a", "<b>&amp;", "\u2028\u2029", "\xff\xfe", "é日😀", "\"\\/\b\f\n\r\t\x00\x1f\x7f", "{}", `{"a":1}`, "tool_calls", "\xe2\x80"}

func (g *gen) str() string {
	if c := g.Byte(); c < 128 {
		return genStrings[int(c)%len(genStrings)]
	}
	return string(g.Bytes(32))
}

func (g *gen) int() int64 {
	switch c := g.Byte(); c % 4 {
	case 0:
		return int64(c / 4)
	case 1:
		return -int64(c / 4)
	}
	return int64(g.Uint64())
}

func (g *gen) count() int { return int(g.Byte() % 4) }

var genFinish = []providers.FinishReason{"", providers.FinishStop, providers.FinishLength, providers.FinishToolCalls, providers.FinishContentFilter}

func (g *gen) finish() providers.FinishReason {
	if c := g.Byte(); c < 200 {
		return genFinish[int(c)%len(genFinish)]
	}
	return providers.FinishReason(g.str())
}

func (g *gen) message() providers.Message {
	m := providers.Message{Role: providers.RoleAssistant}
	if n := g.count(); n > 0 || g.Byte()%2 == 0 {
		m.Parts = make([]providers.Part, n)
		for i := range m.Parts {
			if g.Byte()%5 == 0 {
				m.Parts[i] = providers.Part{Type: providers.PartImage, Image: &providers.Image{URL: g.str()}}
			} else {
				m.Parts[i] = providers.Part{Type: providers.PartText, Text: g.str()}
			}
		}
	}
	if n := g.count(); n > 0 || g.Byte()%2 == 0 {
		m.ToolCalls = make([]providers.ToolCall, n)
		for i := range m.ToolCalls {
			m.ToolCalls[i] = providers.ToolCall{ID: g.str(), Name: g.str(), Arguments: g.str()}
		}
	}
	return m
}

func (g *gen) usage() providers.Usage {
	return providers.Usage{PromptTokens: g.int(), CompletionTokens: g.int(), CachedTokens: g.int(), CacheWriteTokens: g.int(), ReasoningTokens: g.int()}
}

func (g *gen) response() *providers.ChatResponse {
	r := &providers.ChatResponse{ID: g.str(), Model: g.str(), Created: g.int()}
	if n := g.count(); n > 0 || g.Byte()%2 == 0 {
		r.Choices = make([]providers.Choice, n)
		for i := range r.Choices {
			r.Choices[i] = providers.Choice{Index: int(g.int()), Message: g.message(), FinishReason: g.finish()}
		}
	}
	r.Usage = g.usage()
	return r
}

func (g *gen) events() []providers.Event {
	var evs []providers.Event
	for g.Len() > 0 && len(evs) < 64 {
		ev := providers.Event{Type: providers.EventType(g.Byte() % 8), Choice: int(g.Byte()%4) - 1}
		switch ev.Type {
		case providers.EventStart:
			ev.ID, ev.Model, ev.Created = g.str(), g.str(), g.int()
		case providers.EventText, providers.EventToolArgs:
			ev.Text, ev.ToolIndex = g.str(), int(g.int())
		case providers.EventToolCall:
			ev.ToolIndex, ev.ToolID, ev.ToolName = int(g.int()), g.str(), g.str()
		case providers.EventFinish:
			ev.FinishReason = g.finish()
		case providers.EventUsage:
			if g.Byte()%4 != 0 {
				u := g.usage()
				ev.Usage = &u
			}
		case providers.EventError:
			if g.Byte()%4 != 0 {
				ev.Err = &providers.Error{Status: int(g.int()), Type: g.str(), Code: g.str(), Param: g.str(), Message: g.str()}
			}
		}
		evs = append(evs, ev)
	}
	return evs
}

var genSeeds = [][]byte{
	nil,
	[]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"),
	[]byte("\x80\x05hello\x81\x03<&>\x02\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"),
	bytes.Repeat([]byte("\x91\x07\xe2\x80\xa8\xff\x22\x5c\x3c\x03\x01\x02"), 8),
}

// FuzzEncodeChatResponse: the hand-written chat.completion encoder writes
// json.Marshal's bytes for any canonical answer.
func FuzzEncodeChatResponse(f *testing.F) {
	for _, s := range genSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		resp := (&gen{wirejsontest.NewSource(in)}).response()
		got, err := EncodeChatResponse(resp)
		want, wantErr := encodeChatResponseJSON(resp)
		if err != nil || wantErr != nil || !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got: %s (%v)\nwant: %s (%v)", resp, got, err, want, wantErr)
		}
	})
}

// FuzzStreamEncoder: the hand-written chunk encoder writes json.Marshal's
// bytes for any sequence of canonical events, with usage asked for or not.
func FuzzStreamEncoder(f *testing.F) {
	for _, s := range genSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		evs := (&gen{wirejsontest.NewSource(in)}).events()
		for _, includeUsage := range []bool{false, true} {
			var got, want bytes.Buffer
			enc, ref := NewStreamEncoder(&got, includeUsage), newJSONStreamEncoder(&want, includeUsage)
			for _, ev := range evs {
				err, wantErr := enc.Encode(ev), ref.Encode(ev)
				if err != nil || wantErr != nil {
					t.Fatalf("%+v: %v, %v", ev, err, wantErr)
				}
			}
			_, _ = enc.End(), ref.End()
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%+v (usage %v):\n got: %s\nwant: %s", evs, includeUsage, got.Bytes(), want.Bytes())
			}
		}
	})
}
