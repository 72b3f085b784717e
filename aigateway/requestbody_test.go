package aigateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// scanAll scans doc and returns its top-level members' keys and values as
// text, and the scan error.
func scanAll(doc []byte) (keys, vals []string, err error) {
	s := newObjectScanner(doc, 0)
	for m, ok := s.next(); ok; m, ok = s.next() {
		keys = append(keys, string(doc[m.keyStart:m.keyEnd]))
		vals = append(vals, string(doc[m.valStart:m.valEnd]))
	}
	return keys, vals, s.Err()
}

// topLevelKeys lists an object's top-level keys, decoded, with
// encoding/json's tokenizer: the reference the scanner is checked against.
func topLevelKeys(doc []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func TestScanValidity(t *testing.T) {
	docs := []string{
		`{}`, ` {} `, "\t\r\n{\t\r\n}\t\r\n", `{"a":1}`, `{ "a" : 1 , "b" : [ 1 , 2 ] }`,
		`{"a":{"b":{"c":[[],{},[{}],""]}}}`, `{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`,
		`{"a":-0,"b":0.5,"c":1e9,"d":-1.5E-3,"e":1E+2,"f":123456789012345678901234567890}`,
		`{"a":true,"b":false,"c":null}`, "{\"a\":\"\xff\xfe\"}", "{\"\xe9\":1}", `{"a":"\u0000"}`,
		`{"a":1,"a":2}`, `{"":""}`,
		// Invalid, one way or another.
		``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`, `{"a":1 "b":2}`, `{"a" 1}`, `{a:1}`,
		`{'a':1}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":+1}`,
		`{"a":0x1}`, `{"a":tru}`, `{"a":truex}`, `{"a":nul}`, `{"a":NaN}`, `{"a":"\x"}`, `{"a":"\u12"}`,
		`{"a":"\u12g4"}`, "{\"a\":\"\n\"}", "{\"a\":\"\x1f\"}", `{"a":"`, `{"a":"\`, `{"a":[1,]}`,
		`{"a":[1 2]}`, `{"a":[}`, `{"a":{]}`, `{"a":{"b"}}`, `{"a":{"b":1,}}`, `{"a":1}}`, `{"a":1} x`,
		`{"a":1}{}`, `{"a":[[[[`, `{"a":1}` + "\x00", "\ufeff{}", `{"a":1` + "\v}", `{"a":[1]]}`,
		`{"a":{"b":1]}`, `{"a":[1}`, `{"a":"\ud800"}`, `{"a":-a}`, `{"a":1.5e3x}`,
	}
	for _, doc := range docs {
		_, _, err := scanAll([]byte(doc))
		if got, want := err == nil, json.Valid([]byte(doc)); got != want {
			t.Errorf("%q: scanner says valid=%v (%v), json.Valid says %v", doc, got, err, want)
		}
	}
}

func TestScanNotObject(t *testing.T) {
	for _, doc := range []string{`[1,2]`, `"x"`, `1`, `null`, `true`, ` [] `} {
		_, _, err := scanAll([]byte(doc))
		if se, ok := err.(*jsonSyntaxError); !ok || !se.notObject {
			t.Errorf("%q: got %v, want a not-an-object error", doc, err)
		}
	}
}

func TestScanMembers(t *testing.T) {
	doc := []byte(` { "model" : "a" ,"x":{"model":"b","y":[1,"}",{}]}, "mod\u0065l":null,` + "\n" + `"n":-1.5e3 , "s":"a\"b"} `)
	keys, vals, err := scanAll(doc)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{`"model"`, `"x"`, `"mod\u0065l"`, `"n"`, `"s"`}
	wantVals := []string{`"a"`, `{"model":"b","y":[1,"}",{}]}`, `null`, `-1.5e3`, `"a\"b"`}
	if strings.Join(keys, "|") != strings.Join(wantKeys, "|") || strings.Join(vals, "|") != strings.Join(wantVals, "|") {
		t.Fatalf("got keys %q values %q", keys, vals)
	}
}

func TestScanErrorMessages(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"a":1,}`, `invalid character '}' looking for beginning of object key string at offset 7`},
		{`{"a" 1}`, `invalid character '1' after object key at offset 5`},
		{`{"a":1 "b":2}`, `invalid character '"' after object key:value pair at offset 7`},
		{`{"a":[1 2]}`, `invalid character '2' after array element at offset 8`},
		{`{"a":tru}`, `invalid character '}' in literal true (expecting 'e') at offset 8`},
		{"{\"a\":\"\n\"}", `invalid character '\n' in string literal at offset 6`},
		{`{"a":1} x`, `invalid character 'x' after top-level value at offset 8`},
		{`{"a":`, `unexpected end of JSON input`},
		{`[1]`, `expected a JSON object, found '[' at offset 0`},
		{"{\"a\":\xff}", `invalid character '\xff' looking for beginning of value at offset 5`},
	}
	for _, tt := range tests {
		_, _, err := scanAll([]byte(tt.doc))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.doc, err, tt.want)
		}
	}
}

// The scanner nests as deep as encoding/json does, and no deeper, without
// recursion.
func TestScanDepth(t *testing.T) {
	for _, depth := range []int{63, 64, 65, 200, maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		for _, open := range []string{"[", `{"k":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			// depth counts the top-level object.
			doc := []byte(`{"a":` + strings.Repeat(open, depth-1) + strings.Repeat(close, depth-1) + `}`)
			if open != "[" {
				doc = []byte(`{"a":` + strings.Repeat(open, depth-1) + `1` + strings.Repeat(close, depth-1) + `}`)
			}
			_, _, err := scanAll(doc)
			if want := depth <= maxNestingDepth; json.Valid(doc) != want {
				t.Fatalf("depth %d of %s: json.Valid is not %v", depth, open, want)
			}
			if got, want := err == nil, json.Valid(doc); got != want {
				t.Errorf("depth %d of %s: scanner valid=%v (%v), json.Valid %v", depth, open, got, err, want)
			}
		}
	}
}

func TestScanAllocations(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		s := newObjectScanner(benchChatRequest, 0)
		for _, ok := s.next(); ok; _, ok = s.next() {
		}
		if s.err != nil {
			t.Fatal(s.err)
		}
	})
	if allocs != 0 {
		t.Errorf("scanning allocates %v times", allocs)
	}
}

func TestKeyMatching(t *testing.T) {
	tests := []struct {
		key, name string
		is, folds bool
	}{
		{`"model"`, "model", true, true},
		{`"mod\u0065l"`, "model", true, true},
		{`"\u006d\u006F\u0064\u0065\u006c"`, "model", true, true},
		{`"model\u0000"`, "model", false, false},
		{`"MODEL"`, "model", false, true},
		{`"Mod\u0045l"`, "model", false, true},
		{`"ſtream"`, "stream", false, true},
		{`"\u017ftream"`, "stream", false, true},
		{`"max_to\u212aens"`, "max_tokens", false, true},
		{`"models"`, "model", false, false},
		{`"mode"`, "model", false, false},
		{`"m\/odel"`, "model", false, false},
		{`"\ud800odel"`, "model", false, false},
		{`"` + strings.Repeat(`\u0041`, 200) + `"`, "model", false, false},
	}
	for _, tt := range tests {
		doc := []byte(`{` + tt.key + `:1}`)
		s := newObjectScanner(doc, 0)
		m, ok := s.next()
		if !ok {
			t.Fatalf("%s: %v", tt.key, s.err)
		}
		if got := keyIs(doc, m, tt.name); got != tt.is {
			t.Errorf("keyIs(%s, %s) = %v", tt.key, tt.name, got)
		}
		if got := keyFoldsTo(doc, m, tt.name); got != tt.folds {
			t.Errorf("keyFoldsTo(%s, %s) = %v", tt.key, tt.name, got)
		}
	}
}

func TestUnescapeKeyMatchesJSON(t *testing.T) {
	for _, key := range []string{`"a\"\\\/\b\f\n\r\tb"`, `"\u00e9\uD83D\uDE00\ud800x\udc00\uD83D\u0041"`, `"\uD83D\uD83D\uDE00"`, "\"\xff\""} {
		var want string
		if err := json.Unmarshal([]byte(key), &want); err != nil {
			t.Fatal(err)
		}
		var buf [maxFoldedKey]byte
		got, ok := unescapeKey(buf[:0], []byte(key[1:len(key)-1]))
		// encoding/json also makes invalid UTF-8 valid; the scanner
		// compares raw bytes, which cannot match an ASCII name anyway.
		if !ok || (string(got) != want && !strings.Contains(key, "\xff")) {
			t.Errorf("%s: got %q want %q", key, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "gpt-4o", `a"b\c`, "\n\r\t\x00\x1f\x7f", "é😀", "\xff\xfeok\xc3", "<&>\u2028"} {
		got := appendJSONString(nil, s)
		want, _ := json.Marshal(s)
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, got, err)
		}
		_ = json.Unmarshal(want, &b)
		if a != b {
			t.Errorf("%q: decodes to %q, encoding/json's to %q", s, a, b)
		}
	}
}

func TestParseInbound(t *testing.T) {
	type want struct {
		model          string
		stream, usage  bool
		maxTokens      int64
		maxField       string
		code, param    string
		messageContain string
	}
	ok := func(model string) want { return want{model: model, maxField: "max_tokens"} }
	bad := func(code, param, msg string) want { return want{code: code, param: param, messageContain: msg} }
	tests := []struct {
		name, body string
		want       want
	}{
		{"empty body", ``, bad("invalid_json", "", "empty")},
		{"only space", " \n", bad("invalid_json", "", "unexpected end of JSON input")},
		{"truncated", `{"model":"gpt-test",`, bad("invalid_json", "", "unexpected end of JSON input")},
		{"trailing comma", `{"model":"a",}`, bad("invalid_json", "", "invalid character '}' looking for beginning of object key string at offset 13")},
		{"trailing garbage", `{"model":"a"} {}`, bad("invalid_json", "", "after top-level value at offset 14")},
		{"bad nested value", `{"model":"a","messages":[{"role":"user","content":tru}]}`, bad("invalid_json", "", "in literal true")},
		{"array", `[1,2]`, bad("invalid_json", "", "must be a JSON object")},
		{"null", `null`, bad("invalid_json", "", "must be a JSON object")},
		{"string", `"model"`, bad("invalid_json", "", "must be a JSON object")},
		{"model a number", `{"model":42}`, bad("invalid_type", "model", "invalid type for 'model': expected string")},
		{"model an object", `{"model":{"id":"a"}}`, bad("invalid_type", "model", "expected string")},
		{"stream a string", `{"model":"a","stream":"yes"}`, bad("invalid_type", "stream", "invalid type for 'stream': expected bool")},
		{"stream a number", `{"model":"a","stream":1}`, bad("invalid_type", "stream", "expected bool")},
		{"max_tokens a string", `{"model":"a","max_tokens":"x"}`, bad("invalid_type", "max_tokens", "invalid type for 'max_tokens': expected int64")},
		{"max_tokens a fraction", `{"model":"a","max_tokens":1.5}`, bad("invalid_type", "max_tokens", "")},
		{"max_tokens an exponent", `{"model":"a","max_tokens":1e3}`, bad("invalid_type", "max_tokens", "")},
		{"max_tokens too big", `{"model":"a","max_tokens":9223372036854775808}`, bad("invalid_type", "max_tokens", "")},
		{"max_tokens far too big", `{"model":"a","max_tokens":-99999999999999999999}`, bad("invalid_type", "max_tokens", "")},
		{"max_completion_tokens a bool", `{"model":"a","max_completion_tokens":true}`, bad("invalid_type", "max_completion_tokens", "")},
		{"stream_options a number", `{"model":"a","stream_options":5}`, bad("invalid_type", "stream_options", "expected object")},
		{"stream_options an array", `{"model":"a","stream_options":[]}`, bad("invalid_type", "stream_options", "")},
		{"include_usage a string", `{"model":"a","stream_options":{"include_usage":"yes"}}`, bad("invalid_type", "stream_options.include_usage", "expected bool")},
		{"first type error reported", `{"stream":"yes","model":5}`, bad("invalid_type", "stream", "")},
		{"syntax before type", `{"model":5,"x":}`, bad("invalid_json", "", "")},
		{"missing model", `{"messages":[]}`, bad("missing_model", "model", "you must provide a model parameter")},
		{"empty model", `{"model":""}`, bad("missing_model", "model", "")},
		{"null model", `{"model":null}`, bad("missing_model", "model", "")},
		{"duplicate model", `{"model":"a","model":"b"}`, bad("invalid_json", "model", "duplicate field 'model'")},
		{"duplicate model escaped", `{"model":"a","mod\u0065l":"b"}`, bad("invalid_json", "model", "duplicate field 'model'")},
		{"duplicate model null", `{"model":null,"model":"b"}`, bad("invalid_json", "model", "")},
		{"duplicate stream", `{"model":"a","stream":true,"stream":false}`, bad("invalid_json", "stream", "duplicate field 'stream'")},
		{"duplicate stream_options", `{"model":"a","stream_options":null,"stream_options":{}}`, bad("invalid_json", "stream_options", "")},
		{"duplicate max_tokens", `{"model":"a","max_tokens":1,"max_tokens":2}`, bad("invalid_json", "max_tokens", "")},
		{"duplicate max_completion_tokens", `{"model":"a","max_completion_tokens":1,"max_completion_tokens":2}`, bad("invalid_json", "max_completion_tokens", "")},
		{"duplicate include_usage", `{"model":"a","stream_options":{"include_usage":false,"include_usage":true}}`, bad("invalid_json", "stream_options.include_usage", "duplicate field 'stream_options.include_usage'")},
		{"duplicate before syntax error", `{"model":"a","model":"b",}`, bad("invalid_json", "", "not valid JSON")},

		{"plain", `{"model":"gpt-4o"}`, ok("gpt-4o")},
		{"escaped model", `{"model":"gpt\u002d4o"}`, ok("gpt-4o")},
		{"escaped key", `{"\u006dodel":"gpt-4o"}`, ok("gpt-4o")},
		{"quote in model", `{"model":"a\"b\\c\/d"}`, ok(`a"b\c/d`)},
		{"unicode model", `{"model":"modèle-😀"}`, ok("modèle-😀")},
		{"surrogate pair", `{"model":"\ud83d\ude00"}`, ok("😀")},
		{"lone surrogate", `{"model":"\ud800x"}`, ok("\ufffdx")},
		{"invalid UTF-8", "{\"model\":\"a\xffb\"}", ok("a\ufffdb")},
		{"space everywhere", " \r\n\t{ \"model\" :\t\"a\" ,\n\"stream\" : true , \"max_tokens\" : 7 }\n ", want{model: "a", stream: true, maxTokens: 7, maxField: "max_tokens"}},
		{"model text nested", `{"messages":[{"model":"x","content":"\"model\":\"y\""}],"meta":{"model":"z","stream":"no"},"model":"a"}`, ok("a")},
		{"model in a string", `{"content":"{\"model\":\"x\"}","model":"a"}`, ok("a")},
		{"model in capitals", `{"MODEL":"a"}`, bad("invalid_json", "model", "field 'MODEL' differs from 'model' only in case")},
		{"model and a variant", `{"model":"a","Model":"b"}`, bad("invalid_json", "model", "field 'Model' differs")},
		{"variant escaped", `{"model":"a","\u004dodel":"b"}`, bad("invalid_json", "model", "field 'Model' differs")},
		{"stream variant", `{"model":"a","Stream":true}`, bad("invalid_json", "stream", "")},
		{"long s", `{"model":"a","ſtream":true}`, bad("invalid_json", "stream", "field 'ſtream' differs from 'stream'")},
		{"long s escaped", `{"model":"a","\u017ftream_options":{}}`, bad("invalid_json", "stream_options", "")},
		{"Kelvin sign", `{"model":"a","max_to\u212aens":1}`, bad("invalid_json", "max_tokens", "")},
		{"completion bound variant", `{"model":"a","MAX_COMPLETION_TOKENS":1}`, bad("invalid_json", "max_completion_tokens", "")},
		{"first ambiguity reported", `{"model":"a","STREAM":1,"model":"b"}`, bad("invalid_json", "stream", "")},
		{"usage case variant", `{"model":"a","stream_options":{"Include_Usage":true}}`, bad("invalid_json", "stream_options.include_usage", "field 'stream_options.Include_Usage' differs from 'stream_options.include_usage' only in case")},
		{"variants nested are fine", `{"model":"a","metadata":{"MODEL":"b","Stream":1},"messages":[{"Model":2}]}`, ok("a")},
		{"near names are fine", `{"model":"a","models":1,"mode":2,"max-tokens":3,"maxtokens":4,"stream_option":5,"model_":6}`, ok("a")},
		{"nulls are absent", `{"model":"a","stream":null,"stream_options":null,"max_tokens":null,"max_completion_tokens":null}`, ok("a")},
		{"stream with usage", `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`, want{model: "a", stream: true, usage: true, maxField: "max_tokens"}},
		{"usage null", `{"model":"a","stream_options":{"include_usage":null}}`, ok("a")},
		{"empty stream_options", `{"model":"a","stream_options":{}}`, ok("a")},
		{"max_tokens", `{"model":"a","max_tokens":-0}`, want{model: "a", maxField: "max_tokens"}},
		{"min int64", `{"model":"a","max_tokens":-9223372036854775808}`, want{model: "a", maxTokens: -1 << 63, maxField: "max_tokens"}},
		{"max int64", `{"model":"a","max_tokens":9223372036854775807}`, want{model: "a", maxTokens: 1<<63 - 1, maxField: "max_tokens"}},
		{"both bounds", `{"model":"a","max_tokens":5,"max_completion_tokens":7}`, want{model: "a", maxTokens: 7, maxField: "max_completion_tokens"}},
		{"null completion bound", `{"model":"a","max_tokens":5,"max_completion_tokens":null}`, want{model: "a", maxTokens: 5, maxField: "max_tokens"}},
		{"other duplicates pass", `{"model":"a","x":1,"x":2}`, ok("a")},
	}
	for _, tt := range tests {
		in, perr := parseInbound([]byte(tt.body))
		w := tt.want
		if w.code != "" {
			if perr == nil {
				t.Errorf("%s: accepted as %+v, want %s", tt.name, in, w.code)
			} else if perr.Code != w.code || perr.Param != w.param || perr.Status != 400 || !strings.Contains(perr.Message, w.messageContain) {
				t.Errorf("%s: got %d %s %q %q, want %s %q containing %q", tt.name, perr.Status, perr.Code, perr.Param, perr.Message, w.code, w.param, w.messageContain)
			}
			continue
		}
		if perr != nil {
			t.Errorf("%s: %s: %s", tt.name, perr.Code, perr.Message)
			continue
		}
		if in.Model != w.model || in.Stream != w.stream || in.includeUsage() != w.usage || in.maxTokens() != w.maxTokens || in.maxTokensField() != w.maxField {
			t.Errorf("%s: got %+v", tt.name, in)
		}
	}
}

func TestParseInboundAllocations(t *testing.T) {
	// The model string is the one allocation.
	allocs := testing.AllocsPerRun(100, func() {
		if _, perr := parseInbound(benchChatRequest); perr != nil {
			t.Fatal(perr)
		}
	})
	if allocs > 1 {
		t.Errorf("parseInbound allocates %v times", allocs)
	}
}

func TestRewriteBodySplices(t *testing.T) {
	const mt, mct = "max_tokens", "max_completion_tokens"
	tests := []struct {
		name, body, current, model string
		force                      bool
		cap                        int64
		capField                   string
		want                       string // "" for an error
	}{
		{"model only", `{"z":1, "model" : "a" ,"b":[1, 2],"a":"x"}`, "a", "b", false, 0, "", `{"z":1, "model" : "b" ,"b":[1, 2],"a":"x"}`},
		{"model escaped", `{"model":"a"}`, "a", "a\"b\n<é>", false, 0, "", `{"model":"a\"b\n<é>"}`},
		{"model escaped key", `{"mod\u0065l":"a","x":1}`, "a", "b", false, 0, "", `{"mod\u0065l":"b","x":1}`},
		{"nested model untouched", `{"messages":[{"model":"a"}],"model":"a","m":{"model":"a"}}`, "a", "b", false, 0, "", `{"messages":[{"model":"a"}],"model":"b","m":{"model":"a"}}`},
		{"model absent", `{"x":1}`, "", "b", false, 0, "", `{"x":1,"model":"b"}`},
		{"model absent empty object", `{ }`, "", "b", false, 0, "", `{ "model":"b"}`},
		{"unicode kept", `{"model":"a","content":"héllo 😀 \u00e9"}`, "a", "b", false, 0, "", `{"model":"b","content":"héllo 😀 \u00e9"}`},

		{"cap replaces in place", `{"model":"a","max_tokens":9000,"x":1}`, "a", "a", false, 100, mt, `{"model":"a","max_tokens":100,"x":1}`},
		{"cap null bound", `{"model":"a","max_tokens":null}`, "a", "a", false, 100, mt, `{"model":"a","max_tokens":100}`},
		{"cap same value", `{"model":"a","max_tokens":100}`, "a", "a", false, 100, mt, `{"model":"a","max_tokens":100}`},
		{"cap added", `{"model":"a"}`, "a", "a", false, 100, mt, `{"model":"a","max_tokens":100}`},
		{"cap added after space", `{"model":"a" , "x" : 1 }`, "a", "a", false, 100, mct, `{"model":"a" , "x" : 1,"max_completion_tokens":100 }`},
		{"delete first", `{"max_tokens":5,"model":"a","max_completion_tokens":9}`, "a", "a", false, 3, mct, `{"model":"a","max_completion_tokens":3}`},
		{"delete first with space", `{ "max_tokens" : 5 , "model":"a","max_completion_tokens":9}`, "a", "a", false, 3, mct, `{ "model":"a","max_completion_tokens":3}`},
		{"delete middle", `{"model":"a","max_tokens":5,"x":1,"max_completion_tokens":9}`, "a", "a", false, 3, mct, `{"model":"a","x":1,"max_completion_tokens":3}`},
		{"delete last", `{"model":"a","max_completion_tokens":9,"max_tokens":5}`, "a", "a", false, 3, mct, `{"model":"a","max_completion_tokens":3}`},
		{"delete last with space", `{"model":"a" , "max_completion_tokens":9 ,  "max_tokens" : 5 }`, "a", "a", false, 3, mct, `{"model":"a" , "max_completion_tokens":3 }`},
		{"delete last, cap added", `{"model":"a","max_completion_tokens":9 }`, "a", "a", false, 3, mt, `{"model":"a","max_tokens":3 }`},
		{"delete both at the end", `{"model":"a","x":1,"max_tokens":5,"max_completion_tokens":9}`, "a", "a", false, 3, "max_tokens", `{"model":"a","x":1,"max_tokens":3}`},
		{"delete both, cap added", `{"model":"a","max_completion_tokens":9,"max_tokens":5, "x":1}`, "a", "a", false, 3, mt, `{"model":"a","max_tokens":3, "x":1}`},
		{"delete the only member", `{"max_completion_tokens":5}`, "a", "a", false, 3, mt, `{"model":"a","max_tokens":3}`},
		{"delete the only member, space", `{ "max_completion_tokens" : 5 }`, "a", "a", false, 3, mt, `{ "model":"a","max_tokens":3 }`},
		{"delete all but the cap", `{"max_tokens":5, "max_completion_tokens":5}`, "", "", false, 3, "max_tokens", `{"max_tokens":3,"model":""}`},
		{"delete before model replaced", `{"max_tokens":5,"model":"a"}`, "a", "b", false, 3, mct, `{"model":"b","max_completion_tokens":3}`},

		{"usage added", `{"model":"a","stream":true}`, "a", "a", true, 0, "", `{"model":"a","stream":true,"stream_options":{"include_usage":true}}`},
		{"usage null options", `{"model":"a","stream_options":null,"x":1}`, "a", "a", true, 0, "", `{"model":"a","stream_options":{"include_usage":true},"x":1}`},
		{"usage false", `{"model":"a","stream_options":{ "include_usage" : false ,"x":1}}`, "a", "a", true, 0, "", `{"model":"a","stream_options":{ "include_usage" : true ,"x":1}}`},
		{"usage null", `{"model":"a","stream_options":{"include_usage":null}}`, "a", "a", true, 0, "", `{"model":"a","stream_options":{"include_usage":true}}`},
		{"usage escaped key", `{"model":"a","stream_options":{"include_\u0075sage":false}}`, "a", "a", true, 0, "", `{"model":"a","stream_options":{"include_\u0075sage":true}}`},
		{"usage into empty options", `{"model":"a","stream_options":{ }}`, "a", "a", true, 0, "", `{"model":"a","stream_options":{ "include_usage":true}}`},
		{"usage beside others", `{"stream_options":{"a":{"include_usage":false}} ,"model":"a"}`, "a", "a", true, 0, "", `{"stream_options":{"a":{"include_usage":false},"include_usage":true} ,"model":"a"}`},
		{"usage already on", `{"model":"a","stream_options":{"include_usage":true}}`, "a", "a", true, 0, "", `{"model":"a","stream_options":{"include_usage":true}}`},
		{"everything", `{"max_tokens":5,"model":"a","stream":true}`, "a", "b", true, 3, mt, `{"max_tokens":3,"model":"b","stream":true,"stream_options":{"include_usage":true}}`},
		{"everything appended", `{"max_completion_tokens":5}`, "", "b", true, 3, mt, `{"model":"b","max_tokens":3,"stream_options":{"include_usage":true}}`},

		{"invalid", `{"model":"a",}`, "a", "b", false, 0, "", ""},
		{"not an object", `["model"]`, "a", "b", false, 0, "", ""},
		{"duplicate model", `{"model":"a","model":"b"}`, "a", "c", false, 0, "", ""},
		{"model variant", `{"model":"a","MODEL":"b"}`, "a", "c", false, 0, "", ""},
		{"bound variant", `{"model":"a","Max_Tokens":1}`, "a", "a", false, 3, mt, ""},
		{"include_usage variant", `{"model":"a","stream_options":{"INCLUDE_USAGE":false}}`, "a", "a", true, 0, "", ""},
		{"duplicate bound", `{"model":"a","max_tokens":1,"max_tokens":2}`, "a", "a", false, 3, mt, ""},
		{"duplicate include_usage", `{"model":"a","stream_options":{"include_usage":false,"include_usage":false}}`, "a", "a", true, 0, "", ""},
		{"options not an object", `{"model":"a","stream_options":5}`, "a", "a", true, 0, "", ""},
		{"unknown cap field", `{"model":"a"}`, "a", "a", false, 3, "model", ""},
	}
	for _, tt := range tests {
		got, err := rewriteBody([]byte(tt.body), tt.current, tt.model, tt.force, tt.cap, tt.capField)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: got %s, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %s, %v\n\twant %s", tt.name, got, err, tt.want)
		}
		if err == nil && !json.Valid(got) {
			t.Errorf("%s: %s is not JSON", tt.name, got)
		}
	}
}

func TestRewriteBodyUnchangedIsSameSlice(t *testing.T) {
	body := []byte(`{"model":"a","max_tokens":3,"stream_options":{"include_usage":true}}`)
	got, err := rewriteBody(body, "a", "a", true, 3, "max_tokens")
	if err != nil || &got[0] != &body[0] || len(got) != len(body) {
		t.Fatalf("got %s, %v: not the body itself", got, err)
	}
}

// legacyInbound is how parseInbound read a body with encoding/json: the
// reference for bodies without the ambiguities it now refuses.
type legacyInbound struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
}

// ambiguity is what a body holds that encoding/json and a case-sensitive
// parser read differently: a field the gateway acts on sent twice, or a
// key equal to one of them but for case. Checked with encoding/json's
// tokenizer.
func ambiguity(t *testing.T, body []byte) (dup, variant bool) {
	keys, err := topLevelKeys(body)
	if err != nil {
		t.Fatalf("valid body %q: %v", body, err)
	}
	check := func(keys []string, names ...string) {
		seen := map[string]bool{}
		for _, k := range keys {
			for _, name := range names {
				switch {
				case k == name && seen[k]:
					dup = true
				case k == name:
					seen[k] = true
				case bytes.EqualFold([]byte(k), []byte(name)):
					variant = true
				}
			}
		}
	}
	check(keys, fieldNames[:]...)
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) == nil {
		if so := fields["stream_options"]; len(so) > 0 && so[0] == '{' {
			soKeys, err := topLevelKeys(so)
			if err != nil {
				t.Fatal(err)
			}
			check(soKeys, "include_usage")
		}
	}
	return dup, variant
}

func FuzzScanTopLevel(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"model":"a"}`, string(benchChatRequest),
		`{"model":"a","stream":true,"stream_options":{"include_usage":false,"x":[1,{"y":null}]},"max_tokens":5}`,
		`{"model":"a","max_tokens":1,"max_completion_tokens":2, "x" : 1 }`,
		`{"max_completion_tokens":null,"model":"\u00e9\ud83d\ude00","stream_options":null}`,
		`{"model":"a","model":"b"}`, `{"model":"a","mod\u0065l":"b"}`, `{"MODEL":"a","model":"b"}`, `{"ſtream":true,"model":"a"}`,
		`{"model":5}`, `{"model":"a","stream":"x"}`, `{"model":"a","max_tokens":1.5}`, `{"model":"a","max_tokens":1e3}`,
		`{"model":"a","stream_options":5}`, `{"model":"a","stream_options":{"include_usage":"x"}}`,
		`{"model":"a",}`, `{"model":"a"} x`, `[1]`, `null`, " {\"model\" : \"a\"\t}\n", "{\"model\":\"\xff\"}",
		`{"a":[[[[{"b":"\"}"}]]]],"model":"a"}`, `{"model":"a","max_tokens":-9223372036854775808}`,
	} {
		f.Add([]byte(seed), "gpt-4o-2024-08-06", true, int64(100))
		f.Add([]byte(seed), "a", false, int64(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, model string, force bool, capTokens int64) {
		isObject := len(bytes.TrimLeft(body, " \t\r\n")) > 0 && bytes.TrimLeft(body, " \t\r\n")[0] == '{'
		keys, vals, err := scanAll(body)
		in, perr := parseInbound(body)
		if !isObject {
			if perr == nil {
				t.Fatalf("%q: not an object, accepted", body)
			}
			return
		}
		if valid := json.Valid(body); valid != (err == nil) {
			t.Fatalf("%q: scanner valid=%v (%v), json.Valid %v", body, err == nil, err, valid)
		}
		if err != nil {
			if perr == nil || perr.Code != "invalid_json" {
				t.Fatalf("%q: invalid, parseInbound says %+v", body, perr)
			}
			return
		}
		// The members found are encoding/json's, in order.
		wantKeys, kerr := topLevelKeys(body)
		if kerr != nil || len(wantKeys) != len(keys) {
			t.Fatalf("%q: keys %q, encoding/json's %q (%v)", body, keys, wantKeys, kerr)
		}
		for i, k := range keys {
			var dk string
			if json.Unmarshal([]byte(k), &dk) != nil || dk != wantKeys[i] || !json.Valid([]byte(vals[i])) {
				t.Fatalf("%q: member %d is %s:%s, want key %q", body, i, k, vals[i], wantKeys[i])
			}
		}

		// A field sent twice or a case variant of one is refused.
		if dup, variant := ambiguity(t, body); dup || variant {
			if perr == nil || perr.Code != "invalid_json" || !strings.Contains(perr.Message, "duplicate field") && !strings.Contains(perr.Message, "only in case") {
				t.Fatalf("%q: ambiguous (duplicate %v, case variant %v), parseInbound says %+v", body, dup, variant, perr)
			}
			return
		}
		var ref legacyInbound
		uerr := json.Unmarshal(body, &ref)
		var ute *json.UnmarshalTypeError
		switch {
		case uerr != nil && !errors.As(uerr, &ute):
			t.Fatalf("%q: valid, yet encoding/json says %v", body, uerr)
		case uerr != nil:
			if perr == nil || perr.Code != "invalid_type" || perr.Param != ute.Field {
				t.Fatalf("%q: encoding/json says %v, parseInbound %+v", body, uerr, perr)
			}
			return
		case ref.Model == "":
			if perr == nil || perr.Code != "missing_model" {
				t.Fatalf("%q: no model, parseInbound says %+v", body, perr)
			}
			return
		case perr != nil:
			t.Fatalf("%q: refused: %s", body, perr.Message)
		}
		legacy := inboundRequest{Model: ref.Model, Stream: ref.Stream, IncludeUsage: ref.StreamOptions != nil && ref.StreamOptions.IncludeUsage}
		if ref.MaxTokens != nil {
			legacy.MaxTokens, legacy.HasMaxTokens = *ref.MaxTokens, true
		}
		if ref.MaxCompletionTokens != nil {
			legacy.MaxCompletionTokens, legacy.HasMaxCompletionTokens = *ref.MaxCompletionTokens, true
		}
		if in != legacy {
			t.Fatalf("%q: got %+v, encoding/json %+v", body, in, legacy)
		}

		// The rewritten body says what the original did, edits applied.
		out, rerr := rewriteBody(body, in.Model, model, force, capTokens, in.maxTokensField())
		if rerr != nil {
			t.Fatalf("%q: rewrite: %v", body, rerr)
		}
		if !json.Valid(out) {
			t.Fatalf("%q: rewritten to %q, not JSON", body, out)
		}
		want := decodeMap(t, body)
		if !force && in.Model == model && capTokens <= 0 {
			if !bytes.Equal(out, body) {
				t.Fatalf("%q: rewritten to %q with nothing to change", body, out)
			}
			return
		}
		var m any
		mj, _ := json.Marshal(model)
		_ = json.Unmarshal(mj, &m)
		want["model"] = m
		if capTokens > 0 {
			delete(want, "max_tokens")
			delete(want, "max_completion_tokens")
			want[in.maxTokensField()] = json.Number(strconv.FormatInt(capTokens, 10))
		}
		if force {
			so, _ := want["stream_options"].(map[string]any)
			if so == nil {
				so = map[string]any{}
			}
			so["include_usage"] = true
			want["stream_options"] = so
		}
		if got := decodeMap(t, out); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q rewritten to %q:\n got  %v\n want %v", body, out, got, want)
		}
	})
}

func decodeMap(t *testing.T, doc []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%q: %v", doc, err)
	}
	return m
}
