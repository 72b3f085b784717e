package wirejson_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson/wirejsontest"
)

// scanAll scans doc and returns its top-level members' keys and values as
// text, and the scan error.
func scanAll(doc []byte) (keys, vals []string, err error) {
	s := wirejson.NewMembers(doc, 0)
	for m, ok := s.Next(); ok; m, ok = s.Next() {
		keys = append(keys, string(doc[m.KeyStart:m.KeyEnd]))
		vals = append(vals, string(m.Value(doc)))
	}
	return keys, vals, s.Err()
}

// scanDocs are documents valid and not, for the scanner to tell apart as
// json.Valid does.
var scanDocs = []string{
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

func TestScanValidity(t *testing.T) {
	for _, doc := range scanDocs {
		_, _, err := scanAll([]byte(doc))
		if got, want := err == nil, json.Valid([]byte(doc)); got != want {
			t.Errorf("%q: scanner says valid=%v (%v), json.Valid says %v", doc, got, err, want)
		}
	}
}

func TestScanNotObject(t *testing.T) {
	for _, doc := range []string{`[1,2]`, `"x"`, `1`, `null`, `true`, ` [] `} {
		_, _, err := scanAll([]byte(doc))
		if se, ok := err.(*wirejson.SyntaxError); !ok || !se.NotObject {
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

// maxNestingDepth is encoding/json's limit on nested arrays and objects.
const maxNestingDepth = 10000

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

// chatRequest is an OpenAI chat request body of about 2 KB.
var chatRequest = []byte(`{"model":"gpt-4o","stream":true,"temperature":0.2,"max_tokens":1024,` +
	`"messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},` +
	`{"role":"user","content":"` + strings.Repeat(`Summarize the \"following\" text in one sentence please. `, 32) + `"},` +
	`{"role":"assistant","content":"Sure. \u00e9\ud83d\ude00"}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Get the weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`)

func TestScanAllocations(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		s := wirejson.NewMembers(chatRequest, 0)
		for m, ok := s.Next(); ok; m, ok = s.Next() {
			m.KeyIs(chatRequest, "model")
			m.Match(chatRequest, []string{"stream", "max_tokens"})
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("scanning allocates %v times", allocs)
	}
}

func TestKeyMatching(t *testing.T) {
	long := strings.Repeat("x", 100)
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
		{`"\u0041` + strings.Repeat("a", 200) + `"`, "model", false, false},
		// Names too long for the stack buffer.
		{`"` + long + `\u0041"`, long + "A", true, true},
		{`"` + strings.Repeat(`\u212a`, 40) + `"`, strings.Repeat("k", 40), false, true},
	}
	for _, tt := range tests {
		doc := []byte(`{` + tt.key + `:1}`)
		s := wirejson.NewMembers(doc, 0)
		m, ok := s.Next()
		if !ok {
			t.Fatalf("%s: %v", tt.key, s.Err())
		}
		if got := m.KeyIs(doc, tt.name); got != tt.is {
			t.Errorf("KeyIs(%s, %s) = %v", tt.key, tt.name, got)
		}
		if got := m.KeyFoldsTo(doc, tt.name); got != tt.folds {
			t.Errorf("KeyFoldsTo(%s, %s) = %v", tt.key, tt.name, got)
		}
	}
}

func TestMatch(t *testing.T) {
	names := []string{"model", "stream", "stream_options"}
	tests := []struct {
		key   string
		index int
		exact bool
	}{
		{`"model"`, 0, true}, {`"stream_options"`, 2, true}, {`"\u0073tream"`, 1, true},
		{`"Stream"`, 1, false}, {`"STREAM_\u004fPTIONS"`, 2, false}, {`"x"`, -1, false}, {`"streams"`, -1, false},
	}
	for _, tt := range tests {
		doc := []byte(`{` + tt.key + `:1}`)
		s := wirejson.NewMembers(doc, 0)
		m, _ := s.Next()
		if i, exact := m.Match(doc, names); i != tt.index || exact != tt.exact {
			t.Errorf("Match(%s) = %d, %v; want %d, %v", tt.key, i, exact, tt.index, tt.exact)
		}
	}
}

// FuzzMembers holds the scanner to encoding/json: it accepts what
// json.Valid accepts (beginning with an object), and finds the members
// encoding/json's tokenizer finds, in order.
func FuzzMembers(f *testing.F) {
	for _, doc := range append(scanDocs[:len(scanDocs):len(scanDocs)], string(chatRequest), `[1,2]`, ` "x"`, "null") {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, vals, err := scanAll(doc)
		trimmed := bytes.TrimLeft(doc, " \t\r\n")
		if len(trimmed) > 0 && trimmed[0] != '{' {
			if se, ok := err.(*wirejson.SyntaxError); !ok || !se.NotObject || se.Offset != len(doc)-len(trimmed) {
				t.Fatalf("%q: not an object, scanner says %v", doc, err)
			}
			return
		}
		if valid := json.Valid(doc); valid != (err == nil) {
			t.Fatalf("%q: scanner valid=%v (%v), json.Valid %v", doc, err == nil, err, valid)
		}
		if err != nil {
			return
		}
		wantKeys, kerr := wirejsontest.TopLevelKeys(doc)
		if kerr != nil || len(wantKeys) != len(keys) {
			t.Fatalf("%q: keys %q, encoding/json's %q (%v)", doc, keys, wantKeys, kerr)
		}
		for i, k := range keys {
			var dk string
			if json.Unmarshal([]byte(k), &dk) != nil || dk != wantKeys[i] || !json.Valid([]byte(vals[i])) {
				t.Fatalf("%q: member %d is %s:%s, want key %q", doc, i, k, vals[i], wantKeys[i])
			}
		}
	})
}
