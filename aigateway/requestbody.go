package aigateway

// The request body: the fields the gateway acts on, read in one pass of
// wirejson.Members over the body (validating all of it: what the gateway
// forwards must be JSON), and the body edited by splicing its bytes (the
// other members keep theirs, and their order) rather than by decoding and
// re-encoding it.

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// The top-level fields of a request the gateway acts on, by index.
const (
	fieldModel = iota
	fieldStream
	fieldStreamOptions
	fieldMaxTokens
	fieldMaxCompletionTokens
	numFields
)

var fieldNames = [numFields]string{"model", "stream", "stream_options", "max_tokens", "max_completion_tokens"}

// bodyScan is what one scan of a request body finds: where the fields the
// gateway acts on are, and what is needed to splice members in and out.
type bodyScan struct {
	field [numFields]wirejson.Member
	has   [numFields]bool
	// next is the key offset of the member after each field, -1 for none.
	next [numFields]int
	// n members in all, the first and the last of them.
	n           int
	first, last wirejson.Member
	// lastOther is the last member that is not a completion bound, the
	// last one kept when the bounds are taken out.
	lastOther wirejson.Member
	hasOther  bool
	// end is the offset of the object's closing brace.
	end int
	// amb is the first member that parsers read differently, a field
	// found twice or a case variant of one, with the field it is (-1 for
	// none) and whether it is a repeat.
	amb      wirejson.Member
	ambField int
	ambDup   bool
	err      error // a *wirejson.SyntaxError
}

// scanBody scans a request body once, validating all of it.
func scanBody(body []byte) bodyScan {
	sc := bodyScan{ambField: -1}
	s := wirejson.NewMembers(body, 0)
	prev := -1 // the field the previous member was, -1 for another member
	for m, ok := s.Next(); ok; m, ok = s.Next() {
		if prev >= 0 {
			sc.next[prev] = m.KeyStart
		}
		if sc.n == 0 {
			sc.first = m
		}
		sc.n++
		sc.last = m
		prev = -1
		f, exact := m.Match(body, fieldNames[:])
		switch {
		case f < 0:
		case !exact || sc.has[f]:
			if sc.ambField < 0 {
				sc.amb, sc.ambField, sc.ambDup = m, f, exact
			}
			f = -1
		default:
			sc.field[f], sc.has[f], sc.next[f] = m, true, -1
			prev = f
		}
		if f != fieldMaxTokens && f != fieldMaxCompletionTokens {
			sc.lastOther, sc.hasOther = m, true
		}
	}
	sc.err, sc.end = s.Err(), s.End()
	return sc
}

// errAmbiguous is the error for a body parsers read differently: a field
// the gateway acts on sent twice, or under a name that differs from it
// only in case. The gateway would act on one occurrence while the
// upstream, whose parser may keep another, acts on that.
// The field's name is under parent ("" or "stream_options.").
func errAmbiguous(body []byte, m wirejson.Member, parent, name string, dup bool) *providers.Error {
	name = parent + name
	if dup {
		return errBadRequest("invalid_json", name, "duplicate field '"+name+"'")
	}
	var key string
	_ = json.Unmarshal(body[m.KeyStart:m.KeyEnd], &key)
	return errBadRequest("invalid_json", name, "field '"+parent+key+"' differs from '"+name+"' only in case; field names are case-sensitive")
}

func errFieldType(name, want string) *providers.Error {
	return errBadRequest("invalid_type", name, "invalid type for '"+name+"': expected "+want)
}

// parseInbound decodes the fields the gateway needs. It rejects bodies that
// are not one JSON object, a field it acts on sent twice, a field of the
// wrong type, and a missing model. Field names match exactly, as upstream
// providers match them; null is taken for absent, as encoding/json does.
func parseInbound(body []byte) (inboundRequest, *providers.Error) {
	var in inboundRequest
	if len(body) == 0 {
		return in, errBadRequest("invalid_json", "", "the request body is empty; expected a JSON object")
	}
	sc := scanBody(body)
	if sc.err != nil {
		if se, ok := sc.err.(*wirejson.SyntaxError); ok && se.NotObject {
			return in, errBadRequest("invalid_json", "", "the request body must be a JSON object")
		}
		return in, errBadRequest("invalid_json", "", "the request body is not valid JSON: "+sc.err.Error())
	}
	if sc.ambField >= 0 {
		return in, errAmbiguous(body, sc.amb, "", fieldNames[sc.ambField], sc.ambDup)
	}
	var usage wirejson.Member
	var hasUsage bool
	if sc.has[fieldStreamOptions] {
		var perr *providers.Error
		if usage, hasUsage, perr = includeUsageOf(body, sc.field[fieldStreamOptions]); perr != nil {
			return in, perr
		}
	}
	// Type errors are reported for the first field in the body, as
	// encoding/json reports them.
	var perr *providers.Error
	at := len(body)
	fail := func(m wirejson.Member, e *providers.Error) {
		if m.ValStart < at {
			at, perr = m.ValStart, e
		}
	}
	for f := range numFields {
		if !sc.has[f] {
			continue
		}
		m := sc.field[f]
		v := m.Value(body)
		if string(v) == "null" {
			continue
		}
		var ok bool
		switch f {
		case fieldModel:
			if in.Model, ok = decodeString(v); !ok {
				fail(m, errFieldType("model", "string"))
			}
		case fieldStream:
			if in.Stream, ok = decodeBool(v); !ok {
				fail(m, errFieldType("stream", "bool"))
			}
		case fieldStreamOptions:
			if v[0] != '{' {
				fail(m, errFieldType("stream_options", "object"))
			} else if hasUsage && string(usage.Value(body)) != "null" {
				if in.IncludeUsage, ok = decodeBool(usage.Value(body)); !ok {
					fail(m, errFieldType("stream_options.include_usage", "bool"))
				}
			}
		case fieldMaxTokens:
			if in.MaxTokens, ok = wirejson.ParseInt(v); !ok {
				fail(m, errFieldType("max_tokens", "int64"))
			}
			in.HasMaxTokens = ok
		case fieldMaxCompletionTokens:
			if in.MaxCompletionTokens, ok = wirejson.ParseInt(v); !ok {
				fail(m, errFieldType("max_completion_tokens", "int64"))
			}
			in.HasMaxCompletionTokens = ok
		}
	}
	if perr != nil {
		// What was decoded still goes in the usage record.
		return in, perr
	}
	if in.Model == "" {
		return in, errBadRequest("missing_model", "model", "you must provide a model parameter")
	}
	return in, nil
}

// includeUsageOf finds include_usage in the stream_options member when
// that is an object. It too must be unambiguous: it decides whether the
// gateway asks the upstream for the usage it meters.
func includeUsageOf(body []byte, so wirejson.Member) (usage wirejson.Member, found bool, perr *providers.Error) {
	if body[so.ValStart] != '{' {
		return usage, false, nil
	}
	s := wirejson.NewMembers(body[:so.ValEnd], so.ValStart)
	for m, ok := s.Next(); ok; m, ok = s.Next() {
		f, exact := m.Match(body, includeUsageName[:])
		switch {
		case f < 0:
		case !exact || found:
			return usage, false, errAmbiguous(body, m, "stream_options.", "include_usage", exact)
		default:
			usage, found = m, true
		}
	}
	return usage, found, nil
}

var includeUsageName = [1]string{"include_usage"}

// decodeString decodes a JSON string value; v is valid JSON.
func decodeString(v []byte) (string, bool) {
	if v[0] != '"' {
		return "", false
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	// Escapes and invalid UTF-8 (made U+FFFD) as encoding/json has them.
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

func decodeBool(v []byte) (bool, bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// splice is one edit of a body: bytes [start, end) replaced by what op
// writes.
type splice struct {
	start, end int
	op         uint8
	comma      bool // the inserted text begins with a comma
}

const (
	opDelete      = iota
	opModel       // the new model, as a JSON string (<, > and & left unescaped)
	opCap         // the completion cap
	opTrue        // true
	opUsageObject // {"include_usage":true}
	opUsageMember // "include_usage":true
	opAppend      // the members to add at the end of the object
)

// rewriteBody returns body with the model (now current) replaced by model,
// the completion bound set to capTokens under capField when capTokens > 0,
// and, when forceUsage is set, stream_options.include_usage turned on, so
// the gateway can meter a stream the client did not ask usage for. It
// splices the body: the other members keep their bytes and their order.
// It returns body itself when nothing changes.
func rewriteBody(body []byte, current, model string, forceUsage bool, capTokens int64, capField string) ([]byte, error) {
	if !forceUsage && current == model && capTokens <= 0 {
		return body, nil
	}
	capAt := -1
	if capTokens > 0 {
		switch capField {
		case "max_tokens":
			capAt = fieldMaxTokens
		case "max_completion_tokens":
			capAt = fieldMaxCompletionTokens
		default:
			return nil, errors.New("aigateway: " + capField + " is not a completion bound")
		}
	}
	sc := scanBody(body)
	if sc.err != nil {
		return nil, sc.err
	}
	if sc.ambField >= 0 {
		return nil, errors.New(errAmbiguous(body, sc.amb, "", fieldNames[sc.ambField], sc.ambDup).Message)
	}
	var ed splices
	var appendModel, appendCap, appendUsage bool

	if !sc.has[fieldModel] {
		appendModel = true
	} else if current != model {
		m := sc.field[fieldModel]
		ed.add(m.ValStart, m.ValEnd, opModel, false)
	}

	// All members are kept but the completion bounds the cap replaces.
	// Members are added after the last one kept, and a run of removed
	// members at the end is cut from there.
	lastKept, hasKept := sc.last, sc.n > 0
	if capAt >= 0 {
		lastKept, hasKept = sc.lastOther, sc.hasOther
		if m := sc.field[capAt]; sc.has[capAt] && (!hasKept || m.KeyStart > lastKept.KeyStart) {
			lastKept, hasKept = m, true
		}
		var num [20]byte
		capText := strconv.AppendInt(num[:0], capTokens, 10)
		cut := false
		for _, f := range [2]int{fieldMaxTokens, fieldMaxCompletionTokens} {
			m := sc.field[f]
			switch {
			case !sc.has[f]:
			case f == capAt:
				if !bytes.Equal(m.Value(body), capText) {
					ed.add(m.ValStart, m.ValEnd, opCap, false)
				}
			case hasKept && m.KeyStart < lastKept.KeyStart:
				// Up to the next member's key: its comma goes with it.
				ed.add(m.KeyStart, sc.next[f], opDelete, false)
			default:
				cut = true
			}
		}
		appendCap = !sc.has[capAt]
		if cut {
			// From the end of the last member kept, taking the comma
			// after it, or all the members when none is kept.
			start := sc.first.KeyStart
			if hasKept {
				start = lastKept.ValEnd
			}
			ed.add(start, sc.last.ValEnd, opDelete, false)
		}
	}

	if forceUsage {
		m := sc.field[fieldStreamOptions]
		switch {
		case !sc.has[fieldStreamOptions]:
			appendUsage = true
		case body[m.ValStart] == 'n':
			ed.add(m.ValStart, m.ValEnd, opUsageObject, false)
		case body[m.ValStart] == '{':
			usage, found, perr := includeUsageOf(body, m)
			if perr != nil {
				return nil, errors.New(perr.Message)
			}
			if found {
				if string(usage.Value(body)) != "true" {
					ed.add(usage.ValStart, usage.ValEnd, opTrue, false)
				}
				break
			}
			s := wirejson.NewMembers(body[:m.ValEnd], m.ValStart)
			var last wirejson.Member
			some := false
			for nm, ok := s.Next(); ok; nm, ok = s.Next() {
				last, some = nm, true
			}
			if some {
				ed.add(last.ValEnd, last.ValEnd, opUsageMember, true)
			} else {
				ed.add(s.End(), s.End(), opUsageMember, false)
			}
		default:
			return nil, errors.New("stream_options is not an object")
		}
	}

	if appendModel || appendCap || appendUsage {
		at := sc.end
		switch {
		case hasKept:
			at = lastKept.ValEnd
		case sc.n > 0:
			at = sc.first.KeyStart
		}
		ed.add(at, at, opAppend, hasKept)
	}
	if ed.n == 0 {
		return body, nil
	}
	ed.sort()

	out := make([]byte, 0, len(body)+len(model)+len(capField)+96)
	pos := 0
	for _, e := range ed.list[:ed.n] {
		out = append(out, body[pos:e.start]...)
		pos = e.end
		if e.comma {
			out = append(out, ',')
		}
		switch e.op {
		case opModel:
			out = wirejson.AppendStringNoHTMLEscape(out, model)
		case opCap:
			out = strconv.AppendInt(out, capTokens, 10)
		case opTrue:
			out = append(out, "true"...)
		case opUsageObject:
			out = append(out, `{"include_usage":true}`...)
		case opUsageMember:
			out = append(out, `"include_usage":true`...)
		case opAppend:
			sep := false
			if appendModel {
				out = append(out, `"model":`...)
				out = wirejson.AppendStringNoHTMLEscape(out, model)
				sep = true
			}
			if appendCap {
				if sep {
					out = append(out, ',')
				}
				out = wirejson.AppendStringNoHTMLEscape(out, capField)
				out = append(out, ':')
				out = strconv.AppendInt(out, capTokens, 10)
				sep = true
			}
			if appendUsage {
				if sep {
					out = append(out, ',')
				}
				out = append(out, `"stream_options":{"include_usage":true}`...)
			}
		}
	}
	return append(out, body[pos:]...), nil
}

// splices are the few edits rewriteBody makes, kept off the heap.
type splices struct {
	list [8]splice
	n    int
}

func (s *splices) add(start, end int, op uint8, comma bool) {
	s.list[s.n] = splice{start: start, end: end, op: op, comma: comma}
	s.n++
}

// sort orders the edits by position; an insertion goes before a removal
// starting where it is.
func (s *splices) sort() {
	l := s.list[:s.n]
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && (l[j].start < l[j-1].start || l[j].start == l[j-1].start && l[j].end == l[j].start); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}
