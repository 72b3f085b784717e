package aigateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// maxSSEEvent bounds one server-sent event; a longer one is an upstream
// fault, not something to buffer without end.
const maxSSEEvent = 4 << 20

// maxMeteredJSON bounds how much of a JSON response is kept to read its
// usage; the response itself is passed on whole.
const maxMeteredJSON = 16 << 20

// usage is the token count of one response.
type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	// adjusted: the upstream's counts were out of range and were clamped
	// (providers.UsageCounts), which the caller logs.
	adjusted bool
}

// usageMeter reads the usage of an OpenAI-format response as it is written
// through it to the client.
type usageMeter interface {
	io.Writer
	// finish ends the response: it writes whatever is still held and
	// reports the usage found (ok false when the upstream sent none).
	finish() (u usage, ok bool, err error)
	// deltas counts the stream chunks seen so far, to estimate the
	// completion when a stream is cut short.
	deltas() int64
	// sawEnd reports whether the response's own end marker (a stream's
	// "data: [DONE]") has been passed on, so a failure after it cut
	// nothing short.
	sawEnd() bool
}

// newMeter picks the meter for a response by its content type: ai_auth's
// responses (the passthrough builds its sseMeter itself, and holds JSON
// answers whole: exchange.relayJSON).
func newMeter(dst io.Writer, flush func() error, contentType string, dropUsageChunk bool) usageMeter {
	if isEventStream(contentType) {
		return &sseMeter{dst: dst, flush: flush, dropUsageChunk: dropUsageChunk}
	}
	return &jsonMeter{dst: dst}
}

func isEventStream(contentType string) bool {
	return len(contentType) >= 17 && contentType[:17] == "text/event-stream"
}

// sseMeter passes server-sent events through one whole event at a time,
// flushing after each, and reads the usage from the chunk that carries it.
// When dropUsageChunk is set (the gateway asked for usage the client did
// not), the usage-only chunk is metered but not forwarded.
type sseMeter struct {
	dst            io.Writer
	flush          func() error
	dropUsageChunk bool
	// model replaces each chunk's top-level "model" value (nil: no change).
	model []byte
	// scrub removes provider credentials from each event passed on (an
	// upstream that echoes request headers into an error event); nil for
	// ai_auth, which holds none.
	scrub *providers.Scrubber

	pending  []byte // the start of an event not yet complete
	scratch  []byte // a rewritten event
	usage    usage
	sawUsage bool
	done     bool // "data: [DONE]" seen
	chunks   int64
	err      error
}

func (m *sseMeter) Write(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	m.pending = append(m.pending, p...)
	start, wrote := 0, false
	for {
		end, next := eventEnd(m.pending[start:])
		if end < 0 {
			break
		}
		ev := m.pending[start : start+next]
		if fwd, ds, de := m.inspect(m.pending[start : start+end]); fwd {
			if m.model != nil && de > ds {
				ev = m.rewriteModel(ev, ds, de)
			}
			if _, err := m.dst.Write(m.scrub.Bytes(ev)); err != nil {
				m.err = err
				return 0, err
			}
			wrote = true
		}
		start += next
	}
	rest := copy(m.pending, m.pending[start:])
	m.pending = m.pending[:rest]
	if len(m.pending) > maxSSEEvent {
		m.err = errors.New("upstream sent a server-sent event larger than the gateway accepts")
		return 0, m.err
	}
	if wrote && m.flush != nil {
		if err := m.flush(); err != nil {
			m.err = err
			return 0, err
		}
	}
	return len(p), nil
}

// eventEnd finds the blank line that ends the first event in b. It returns
// the end of the event's last line and the offset just past the blank line,
// or -1 when b holds no complete event. LF and CRLF endings are accepted.
func eventEnd(b []byte) (end, next int) {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return i, j + 1
		}
	}
	return -1, -1
}

// inspect meters one event and reports whether to forward it, and where
// its data is (ds == de for none, or for the end marker).
func (m *sseMeter) inspect(ev []byte) (fwd bool, ds, de int) {
	ds, de = eventDataAt(ev)
	data := ev[ds:de]
	if ds == de {
		return true, 0, 0
	}
	if bytes.Equal(data, []byte("[DONE]")) {
		m.done = true
		return true, 0, 0
	}
	m.chunks++
	if !hasObjectField(data, "usage") {
		return true, ds, de
	}
	u, ok, noChoices := scanUsage(data)
	if !ok {
		return true, ds, de
	}
	m.usage, m.sawUsage = u, true
	return !(m.dropUsageChunk && noChoices), ds, de
}

// rewriteModel returns ev with the model of its data (ev[ds:de]) replaced
// by m.model, in m.scratch; ev itself when there is nothing to replace.
func (m *sseMeter) rewriteModel(ev []byte, ds, de int) []byte {
	out, changed := appendModelRewritten(m.scratch[:0], ev[:de], ds, m.model)
	if !changed {
		return ev
	}
	m.scratch = append(out, ev[de:]...)
	return m.scratch
}

// appendModelRewritten appends to dst doc[:from] followed by the JSON
// object at doc[from:] with the string value of each of its top-level
// "model" members replaced by model (a JSON string, quotes included). It
// reports false, having appended nothing that matters, when the object
// names no other model or is not valid JSON: then doc is to be used as it
// is. Only the model is touched, so the rest of the bytes pass as the
// upstream wrote them; a scan that skips nested values stands in for a
// decode and re-encode.
func appendModelRewritten(dst, doc []byte, from int, model []byte) ([]byte, bool) {
	// Most upstreams put "model" near the start, but every member must be
	// scanned: a later duplicate would win in the client's decoder. A body
	// without the name at all is spared the scan.
	if !bytes.Contains(doc[from:], modelKey) {
		return dst, false
	}
	s := wirejson.NewMembers(doc, from)
	last, changed := 0, false
	for {
		f, more := s.Next()
		if !more {
			break
		}
		if !f.KeyIs(doc, "model") || doc[f.ValStart] != '"' || bytes.Equal(f.Value(doc), model) {
			continue
		}
		dst = append(dst, doc[last:f.ValStart]...)
		dst = append(dst, model...)
		last, changed = f.ValEnd, true
	}
	if s.Err() != nil || !changed {
		return dst, false
	}
	return append(dst, doc[last:]...), true
}

var modelKey = []byte(`"model"`)

// scanUsage reads the top-level "usage" object of an OpenAI-format body
// or chunk without decoding the rest (validating it all the same), and
// reports whether "choices" is missing, null or empty. ok is false when the
// body is not a JSON object, has no usage object, or its token counts are
// not integers: the same answers json.Unmarshal into a struct gives, except
// that names must match exactly, as the upstream wrote them. Counts out of
// range are clamped as the providers' decoders clamp them
// (providers.UsageCounts), and u.adjusted says so.
func scanUsage(body []byte) (u usage, ok, noChoices bool) {
	u, ok, noChoices, _ = scanAnswer(body)
	return u, ok, noChoices
}

// scanAnswer is scanUsage that also reports whether body is one whole JSON
// object (valid), which a passthrough answer must be.
func scanAnswer(body []byte) (u usage, ok, noChoices, valid bool) {
	var found, choices wirejson.Member
	haveUsage, haveChoices := false, false
	s := wirejson.NewMembers(body, 0)
	for {
		m, more := s.Next()
		if !more {
			break
		}
		switch {
		case m.KeyIs(body, "usage"):
			found, haveUsage = m, true // the last one wins, as in encoding/json
		case m.KeyIs(body, "choices"):
			choices, haveChoices = m, true
		}
	}
	if s.Err() != nil {
		return usage{}, false, false, false
	}
	if !haveUsage || body[found.ValStart] != '{' {
		return usage{}, false, false, true
	}
	noChoices = !haveChoices || isEmptyArrayOrNull(choices.Value(body))
	us := wirejson.NewMembers(body[:found.ValEnd], found.ValStart)
	for {
		f, more := us.Next()
		if !more {
			break
		}
		var dst *int64
		switch {
		case f.KeyIs(body, "prompt_tokens"):
			dst = &u.PromptTokens
		case f.KeyIs(body, "completion_tokens"):
			dst = &u.CompletionTokens
		default:
			continue
		}
		v := f.Value(body)
		if string(v) == "null" {
			continue
		}
		n, isInt := wirejson.ParseInt(v)
		if !isInt {
			return usage{}, false, false, true
		}
		*dst = n
	}
	var c providers.UsageCounts
	u.PromptTokens, u.CompletionTokens = c.Of(u.PromptTokens), c.Of(u.CompletionTokens)
	u.adjusted = c.Adjusted()
	return u, us.Err() == nil, noChoices, true
}

// isEmptyArrayOrNull reports whether v (one valid JSON value) is null or
// an array without elements.
func isEmptyArrayOrNull(v []byte) bool {
	if string(v) == "null" {
		return true
	}
	if len(v) < 2 || v[0] != '[' {
		return false
	}
	return len(bytes.TrimLeft(v[1:len(v)-1], " \t\r\n")) == 0
}

// eventData returns the data of an event with a single data line (the form
// every OpenAI-format server sends), or nil.
func eventData(ev []byte) []byte {
	ds, de := eventDataAt(ev)
	if ds == de {
		return nil
	}
	return ev[ds:de]
}

// eventDataAt finds the data of an event's first data line, without the
// surrounding space: ev[ds:de], ds == de for none.
func eventDataAt(ev []byte) (ds, de int) {
	pos := 0
	for pos < len(ev) {
		end := len(ev)
		next := end
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end, next = pos+i, pos+i+1
		}
		line := ev[pos:end]
		if bytes.HasPrefix(line, []byte("data:")) {
			ds, de = pos+5, end
			for ds < de && isSpace(ev[ds]) {
				ds++
			}
			for de > ds && isSpace(ev[de-1]) {
				de--
			}
			return ds, de
		}
		pos = next
	}
	return 0, 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// hasObjectField reports whether data contains `"name"` followed by a colon
// and an object, a cheap test that spares parsing chunks without usage
// (which carry "usage":null or nothing).
func hasObjectField(data []byte, name string) bool {
	quoted := `"` + name + `"`
	for {
		i := bytes.Index(data, []byte(quoted))
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(data[i+len(quoted):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t\r\n")
			if len(rest) > 0 && rest[0] == '{' {
				return true
			}
		}
		data = data[i+len(quoted):]
	}
}

func (m *sseMeter) finish() (usage, bool, error) {
	if m.err == nil && len(m.pending) > 0 {
		// A stream that ends without a final blank line: pass the rest on.
		rest := m.pending
		if _, ds, de := m.inspect(rest); m.model != nil && de > ds {
			rest = m.rewriteModel(rest, ds, de)
		}
		if _, err := m.dst.Write(m.scrub.Bytes(rest)); err != nil {
			m.err = err
		}
		m.pending = m.pending[:0]
		if m.flush != nil {
			_ = m.flush()
		}
	}
	return m.usage, m.sawUsage, m.err
}

func (m *sseMeter) deltas() int64 { return m.chunks }

func (m *sseMeter) sawEnd() bool { return m.done && m.err == nil }

// jsonMeter passes a JSON response through and keeps a copy (bounded) to
// read its usage at the end.
type jsonMeter struct {
	dst  io.Writer
	body []byte
	over bool
	err  error
}

func (m *jsonMeter) Write(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if !m.over {
		if len(m.body)+len(p) > maxMeteredJSON {
			m.over, m.body = true, nil
		} else {
			m.body = append(m.body, p...)
		}
	}
	n, err := m.dst.Write(p)
	if err != nil {
		m.err = err
	}
	return n, err
}

func (m *jsonMeter) finish() (usage, bool, error) {
	if m.over || len(m.body) == 0 {
		return usage{}, false, m.err
	}
	u, ok, _ := scanUsage(m.body)
	return u, ok, m.err
}

func (m *jsonMeter) deltas() int64 { return 0 }

// sawEnd is false: a JSON body has no end marker; the copy's own error
// says whether it arrived whole.
func (m *jsonMeter) sawEnd() bool { return false }

// flusherOf returns a function that flushes w through every wrapper.
func flusherOf(w http.ResponseWriter) func() error {
	rc := http.NewResponseController(w)
	return rc.Flush
}
