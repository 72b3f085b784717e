package aigateway

import (
	"bytes"
	"encoding/json"
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
