package wirejson

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// The reader and writers are checked against encoding/json, which is
// their specification: a Reader that succeeds must give what
// json.Unmarshal gives, and the writers must give json.Marshal's bytes.

var stringSeeds = []string{
	strings.Repeat("abcdefgh", 3) + "<" + strings.Repeat("x", 9) + "\xff\"", "0123456789abcdef\n0123456789\u2028abcdefghij\\",
	``, `a`, `hello world`, `"quoted"`, `back\slash`, "tab\tnew\nline\rcr", "\b\f\x00\x1f\x7f",
	`<script>&amp;</script>`, "\u2028\u2029", "é ü 日本 😀", "\xff", "a\xc3", "\xed\xa0\x80", "\xe2\x80",
	"\xe2\x80\xa8x", `\u00e9`, `\ud83d\ude00`, `\ud83d`, `\ude00\ud83d`, `\ud83dx`, `\ud83d\u0041`,
}

func FuzzReadString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add([]byte(`"` + s + `"`))
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want string
		wantErr := json.Unmarshal(in, &want)
		var r Reader
		r.Reset(in)
		got := r.String()
		if !r.End() {
			if wantErr == nil && bytes.HasPrefix(bytes.TrimSpace(in), []byte(`"`)) {
				t.Fatalf("Reader failed on the valid string %q", in)
			}
			return
		}
		if wantErr != nil {
			t.Fatalf("Reader read %q from %q, json.Unmarshal: %v", got, in, wantErr)
		}
		if got != want {
			t.Fatalf("%q: got %q, want %q", in, got, want)
		}
	})
}

func FuzzReadNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1", "-1", "1.5", "1e3", "-1E-3", "01", "1.", ".5", "9223372036854775807",
		"9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1e400", "null", "  7  ", "-", "+1", "1x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var wantI int64
		errI := json.Unmarshal(in, &wantI)
		var r Reader
		r.Reset(in)
		if got := r.Int64(); r.End() {
			if errI != nil || got != wantI {
				t.Fatalf("Int64(%q) = %d; json: %d, %v", in, got, wantI, errI)
			}
		}
		var wantF float64
		errF := json.Unmarshal(in, &wantF)
		r.Reset(in)
		if got := r.Float64(); r.End() {
			if errF != nil || got != wantF || math.Signbit(got) != math.Signbit(wantF) {
				t.Fatalf("Float64(%q) = %v; json: %v, %v", in, got, wantF, errF)
			}
		} else if errF == nil && len(in) < 100 && !bytes.Contains(in, []byte("null")) {
			t.Fatalf("Float64 failed on %q", in)
		}
		var wantB bool
		errB := json.Unmarshal(in, &wantB)
		r.Reset(in)
		if got := r.Bool(); r.End() && (errB != nil || got != wantB) {
			t.Fatalf("Bool(%q) = %v; json: %v, %v", in, got, wantB, errB)
		}
	})
}

// depth is the nesting depth of valid JSON.
func depth(b []byte) int {
	d, maxD, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '['):
			d++
			maxD = max(maxD, d)
		case !inString && (c == '}' || c == ']'):
			d--
		}
	}
	return maxD
}

var valueSeeds = []string{
	`{}`, `[]`, `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, ` [ 1 , 2 ] `, `{"a":}`, `{"a" 1}`, `[1,]`, `{,}`,
	`"x"`, `nul`, `truex`, `[1 2]`, `{"a":1}x`, `{"a":"<b>&\u2028"}`, "{\"a\":\"\xe2\x80\xa8\"}", `{"a":1,}`,
	`[[[[[[]]]]]]`, "\t{\n\"k\" : \"v\"\r}", `-`, `1.e5`, `{"\u0041":1}`,
}

func FuzzSkip(f *testing.F) {
	for _, s := range valueSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		valid := json.Valid(in)
		var r Reader
		r.Reset(in)
		raw := r.Raw()
		ok := r.End()
		if ok != valid && (ok || depth(in) < maxDepth) {
			t.Fatalf("Skip(%q) = %v, json.Valid = %v", in, ok, valid)
		}
		if ok && !bytes.Equal(raw, bytes.TrimSpace(in)) {
			t.Fatalf("Raw(%q) = %q", in, raw)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendStringNoHTMLEscape(t *testing.T) {
	for _, s := range []string{"", "gpt-4o", `a"b\c`, "\n\r\t\x00\x1f\x7f", "é😀", "\xff\xfeok\xc3", "<&>\u2028"} {
		got := AppendStringNoHTMLEscape(nil, s)
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

// FuzzAppendStringNoHTMLEscape holds the writer to a json.Encoder that
// does not escape HTML.
func FuzzAppendStringNoHTMLEscape(f *testing.F) {
	for _, s := range []string{"", "a<b>&c", "\u2028\u2029", "\b\f\x00\x7f", "\xff\xe2\x80", strings.Repeat("<abcdefg", 4) + "\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendStringNoHTMLEscape([]byte("x"), s), encodeNoHTMLEscape(s); string(got) != "x"+string(want) {
			t.Fatalf("AppendStringNoHTMLEscape(%q) = %s, want %s", s, got, want)
		}
	})
}

// encodeNoHTMLEscape is what a json.Encoder that does not escape HTML
// writes for s, without the newline.
func encodeNoHTMLEscape(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-6, 9.99e-7, 1e20, 1e21, 1e-7, 123456789.125,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 0.1, 2.0 / 3} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		want, wantErr := json.Marshal(v)
		got, err := AppendFloat([]byte("x"), v)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("AppendFloat(%v): error %v, want %v", v, err, wantErr)
		}
		if err == nil && string(got) != "x"+string(want) {
			t.Fatalf("AppendFloat(%v) = %s, want x%s", v, got, want)
		}
	})
}

func FuzzAppendRaw(f *testing.F) {
	for _, s := range valueSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(nil))
	f.Add([]byte(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		type holder struct {
			R json.RawMessage `json:"r"`
		}
		if len(raw) == 0 && raw != nil {
			raw = nil // the fuzzer's empty input: a nil RawMessage is the common case
		}
		want, wantErr := json.Marshal(holder{raw})
		got, err := AppendRaw([]byte(`{"r":`), raw)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("AppendRaw(%q): error %v, want %v", raw, err, wantErr)
		}
		if err != nil {
			if err.Error() != wantErr.Error() {
				t.Fatalf("AppendRaw(%q): error %q, want %q", raw, err, wantErr)
			}
			return
		}
		if got = append(got, '}'); !bytes.Equal(got, want) {
			t.Fatalf("AppendRaw(%q) = %s, want %s", raw, got, want)
		}
	})
}

func TestAppendRawEmpty(t *testing.T) {
	_, wantErr := json.Marshal(struct{ R json.RawMessage }{json.RawMessage{}})
	if _, err := AppendRaw(nil, []byte{}); err == nil || err.Error() != wantErr.Error() {
		t.Fatalf("AppendRaw(empty): %v, want %v", err, wantErr)
	}
}

// TestObject covers the key rules: known keys once each, unknown keys
// skipped unless encoding/json might match them to a field.
func TestObject(t *testing.T) {
	fields := []string{"id", "type"}
	read := func(in string) (id, typ string, ok bool) {
		var r Reader
		r.Reset([]byte(in))
		o := r.Object(fields)
		for o.Next() {
			switch o.Key() {
			case "id":
				id = r.String()
			case "type":
				typ = r.String()
			}
		}
		return id, typ, r.End()
	}
	for _, tt := range []struct {
		in      string
		id, typ string
		ok      bool
	}{
		{`{"id":"a","type":"b"}`, "a", "b", true},
		{`{"other":{"x":[1,2]},"id":"a"}`, "a", "", true},
		{`null`, "", "", true},
		{`{}`, "", "", true},
		{`{"id":"a","id":"b"}`, "", "", false},
		{`{"ID":"a"}`, "", "", false},
		{`{"Type":"a"}`, "", "", false},
		{`{"\u0069d":"a"}`, "", "", false},
		{`{"ıd":"a"}`, "", "", false},
		{`{"id":1}`, "", "", false},
		{`[]`, "", "", false},
		{`{"id":"a"} x`, "", "", false},
	} {
		id, typ, ok := read(tt.in)
		if ok != tt.ok || (ok && (id != tt.id || typ != tt.typ)) {
			t.Errorf("%s: got %q %q %v, want %q %q %v", tt.in, id, typ, ok, tt.id, tt.typ, tt.ok)
		}
	}
}

func TestSlice(t *testing.T) {
	for _, tt := range []struct {
		in      string
		nilness bool
		n       int
	}{{`null`, true, 0}, {`[]`, false, 0}, {`["a","b"]`, false, 2}} {
		var r Reader
		r.Reset([]byte(tt.in))
		var s []string
		Slice(&r, &s, func(v *string, r *Reader) { *v = r.String() })
		if !r.End() || (s == nil) != tt.nilness || len(s) != tt.n {
			t.Errorf("%s: %#v", tt.in, s)
		}
	}
}

func TestSymbolDoesNotAllocate(t *testing.T) {
	var r Reader
	in := []byte(`"content_block_delta"`)
	known := []string{"message_start", "content_block_delta"}
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		if r.Symbol(known) != "content_block_delta" {
			t.Fatal("wrong symbol")
		}
	}); n != 0 {
		t.Errorf("Symbol allocates %v times", n)
	}
}

func FuzzAppendCompact(f *testing.F) {
	for _, s := range valueSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var want bytes.Buffer
		wantErr := json.Compact(&want, src)
		got, err := AppendCompact([]byte("x"), src)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("AppendCompact(%q): error %v, want %v", src, err, wantErr)
		}
		if err == nil && string(got) != "x"+want.String() {
			t.Fatalf("AppendCompact(%q) = %s, want x%s", src, got, want.Bytes())
		}
	})
}

func TestInterned(t *testing.T) {
	var r Reader
	in := []byte(`{"id":"chatcmpl-1","model":"gpt-4o"}`)
	fields := []string{"id", "model"}
	read := func() (id, model string) {
		r.Reset(in)
		o := r.Object(fields)
		for o.Next() {
			switch o.Key() {
			case "id":
				id = r.Interned()
			case "model":
				model = r.Interned()
			}
		}
		return id, model
	}
	read()
	if n := testing.AllocsPerRun(100, func() {
		if id, model := read(); id != "chatcmpl-1" || model != "gpt-4o" || !r.End() {
			t.Fatalf("%q %q", id, model)
		}
	}); n != 0 {
		t.Errorf("Interned allocates %v times for a repeated string", n)
	}
}

var benchTexts = map[string]string{
	"plain":   strings.Repeat("The forecast for Paris says light rain this afternoon, so take an umbrella. ", 8),
	"escapes": strings.Repeat("The forecast for Paris says \"light rain\" this afternoon,\nso take an umbrella. ", 8),
	"unicode": strings.Repeat("Météo à Paris : pluie légère cet après-midi, prenez un parapluie. 東京は晴れ。", 8),
}

func BenchmarkAppendString(b *testing.B) {
	for _, name := range []string{"plain", "escapes", "unicode"} {
		s := benchTexts[name]
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 2*len(s))
			b.SetBytes(int64(len(s)))
			for range b.N {
				buf = AppendString(buf[:0], s)
			}
		})
	}
}

func BenchmarkReadString(b *testing.B) {
	for _, name := range []string{"plain", "escapes", "unicode"} {
		in, _ := json.Marshal(benchTexts[name])
		b.Run(name, func(b *testing.B) {
			var r Reader
			b.SetBytes(int64(len(in)))
			for range b.N {
				r.Reset(in)
				r.stringBytes()
			}
		})
	}
}

// TestStringsWordWise puts each kind of byte that needs a look at every
// position of a long plain string, in and around the eight-byte words the
// fast paths test at once.
func TestStringsWordWise(t *testing.T) {
	plain := strings.Repeat("abcdefgh", 3) + "ijklm"
	for _, special := range []string{`"`, `\`, "\x00", "\x1f", "<", ">", "&", "\x7f", "é", "\xff", "\u2028", "😀"} {
		for i := 0; i <= len(plain); i++ {
			s := plain[:i] + special + plain[i:]
			want, _ := json.Marshal(s)
			if got := AppendString(nil, s); !bytes.Equal(got, want) {
				t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
			}
			if got, want := AppendStringNoHTMLEscape(nil, s), encodeNoHTMLEscape(s); !bytes.Equal(got, want) {
				t.Fatalf("AppendStringNoHTMLEscape(%q) = %s, want %s", s, got, want)
			}
			var r Reader
			r.Reset(want)
			if got := r.String(); !r.End() || got != strings.ToValidUTF8(s, "\ufffd") {
				t.Fatalf("String(%s) = %q", want, got)
			}
			raw := append(append([]byte(`"`), s...), '"')
			var wantS string
			wantErr := json.Unmarshal(raw, &wantS)
			r.Reset(raw)
			got := r.String()
			if ok := r.End(); ok != (wantErr == nil) || (ok && got != wantS) {
				t.Fatalf("String(%q) = %q, %v; json: %q, %v", raw, got, ok, wantS, wantErr)
			}
		}
	}
}

// FuzzParseInt holds ParseInt to json.Unmarshal into an int64.
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "7", "-1", "1.5", "1e3", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "99999999999999999999", `"5"`, "null", "true", "[1]", "-"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		// A value as Members gives it; null, which json.Unmarshal takes
		// for no value, is not a number to ParseInt.
		if !json.Valid(v) || len(bytes.TrimSpace(v)) != len(v) || string(v) == "null" {
			return
		}
		var want int64
		werr := json.Unmarshal(v, &want)
		got, ok := ParseInt(v)
		if ok != (werr == nil) || got != want {
			t.Fatalf("ParseInt(%s) = %d, %v; json.Unmarshal: %d, %v", v, got, ok, want, werr)
		}
	})
}

// Keys are unescaped as encoding/json unescapes them (the scanner once
// copied invalid UTF-8 as it was, which could not match an ASCII name
// either: it now becomes U+FFFD, as in strings).
func TestUnescapeKeyMatchesJSON(t *testing.T) {
	for _, key := range []string{`"a\"\\\/\b\f\n\r\tb"`, `"\u00e9\uD83D\uDE00\ud800x\udc00\uD83D\u0041"`, `"\uD83D\uD83D\uDE00"`, "\"\xff\""} {
		var want string
		if err := json.Unmarshal([]byte(key), &want); err != nil {
			t.Fatal(err)
		}
		var buf [maxStackKey]byte
		got, ok := unescapeKey(buf[:0], []byte(key[1:len(key)-1]), 30)
		if !ok || string(got) != want {
			t.Errorf("%s: got %q want %q", key, got, want)
		}
	}
}
