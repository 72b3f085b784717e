package aigateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson/wirejsontest"
)

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
	keys, err := wirejsontest.TopLevelKeys(body)
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
			soKeys, err := wirejsontest.TopLevelKeys(so)
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
		// The scan itself is held to encoding/json by wirejson's
		// FuzzMembers.
		isObject := len(bytes.TrimLeft(body, " \t\r\n")) > 0 && bytes.TrimLeft(body, " \t\r\n")[0] == '{'
		in, perr := parseInbound(body)
		if !isObject {
			if perr == nil {
				t.Fatalf("%q: not an object, accepted", body)
			}
			return
		}
		if !json.Valid(body) {
			if perr == nil || perr.Code != "invalid_json" {
				t.Fatalf("%q: invalid, parseInbound says %+v", body, perr)
			}
			return
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
