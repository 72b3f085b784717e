// Package sse reads server-sent events, the framing of every streaming
// provider API but Bedrock's: events are groups of lines ended by a blank
// line; `data:` lines are joined with "\n"; comment lines (starting with
// ':') are skipped; LF and CRLF endings are both accepted.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxEventSize bounds one event. A longer one is an upstream fault, not
// something to buffer without end.
const MaxEventSize = 4 << 20

// ErrEventTooLarge is returned for an event over MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event larger than the gateway accepts")

// Event is one server-sent event.
type Event struct {
	// Name is the `event:` field, "" when absent.
	Name string
	// Data is the joined `data:` lines. It is valid until the next call to
	// Reader.Next.
	Data []byte
}

// Reader reads events from a stream.
type Reader struct {
	br   *bufio.Reader
	data []byte
	name []byte
	line []byte
	// lastName is the previous event's name, reused while names repeat
	// (a stream has a handful of names, each thousands of times).
	lastName string
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10)}
}

// Next returns the next event with data or a name. At the end of the
// stream it returns io.EOF; an event cut off by the end is returned first
// (a stream need not end with a blank line), and a read error is returned
// as it is.
func (r *Reader) Next() (Event, error) {
	r.data, r.name = r.data[:0], r.name[:0]
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && (hasData || len(r.name) > 0) {
				return Event{Name: r.eventName(), Data: r.data}, nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if hasData || len(r.name) > 0 {
				return Event{Name: r.eventName(), Data: r.data}, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			r.name = append(r.name[:0], value...)
		}
		if len(r.data) > MaxEventSize {
			return Event{}, ErrEventTooLarge
		}
	}
}

// eventName returns the current event's name without allocating when it
// is the previous event's.
func (r *Reader) eventName() string {
	if string(r.name) != r.lastName {
		r.lastName = string(r.name)
	}
	return r.lastName
}

// readLine returns the next line without its ending.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.line = append(r.line, chunk...)
		if len(r.line) > MaxEventSize {
			return nil, ErrEventTooLarge
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(r.line) > 0 {
				// A last line without an ending: return it, EOF comes next.
				return bytes.TrimRight(r.line, "\r"), nil
			}
			return nil, err
		}
		return bytes.TrimRight(r.line[:len(r.line)-1], "\r"), nil
	}
}
