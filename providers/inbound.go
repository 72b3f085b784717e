package providers

import "io"

// Inbound is a dialect clients speak to the gateway (OpenAI's chat
// completions, Anthropic's messages). The handler decodes the client's
// request with it, and encodes the answer, streamed or not, and any error
// in the same dialect.
type Inbound interface {
	// DecodeChat decodes a request body. Its error is an *Error (a 400 in
	// the dialect's terms) saying what is wrong.
	DecodeChat(body []byte) (*ChatRequest, error)
	// EncodeChat encodes a complete answer as the response body.
	EncodeChat(resp *ChatResponse) ([]byte, error)
	// NewStreamEncoder returns an encoder that writes a streamed answer to
	// w, event by event. includeUsage is the client's wish for usage in the
	// stream (dialects that always carry usage ignore it).
	NewStreamEncoder(w io.Writer, includeUsage bool) StreamEncoder
	// EncodeError encodes an error as the response body, with the
	// Content-Type to send it with.
	EncodeError(e *Error) (body []byte, contentType string)
}

// StreamEncoder writes canonical events in a dialect's stream format. The
// caller flushes after each Encode.
type StreamEncoder interface {
	// Encode writes what ev becomes on the wire (possibly nothing: not every
	// event has a counterpart in every dialect). An EventError ends the
	// stream in the dialect's in-stream error form.
	Encode(ev Event) error
	// End writes the end of a complete stream (OpenAI's "data: [DONE]",
	// Anthropic's message_stop).
	End() error
}
