package anthropic

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson/wirejsontest"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// gen makes canonical requests out of fuzz input: strings of any bytes,
// raw JSON valid or not, numbers of any sign and size (NaN included), and
// slices nil, empty or not.
type gen struct{ wirejsontest.Source }

var genStrings = []string{"", "a", " ", "<b>&amp;", "\u2028\u2029", "\xff\xfe", "é日😀", "\"\\/\b\f\n\r\t\x00\x1f\x7f",
	"{}", `{"a": 1}`, ` {"q":"<x>"} `, "not json", "call_1", "image/png", "IMAGE/JPEG ", "\xe2\x80"}

func (g *gen) str() string {
	if c := g.Byte(); c < 160 {
		return genStrings[int(c)%len(genStrings)]
	}
	return string(g.Bytes(48))
}

var genRaws = []string{"", "null", " null ", "{}", `{"type":"object","properties":{"city":{"type":"string","description":"<City> & town"}}}`,
	`{ "properties" : { } }`, `{"Type":"x"}`, `{"type":"object","type":"array"}`, `{"\u0074ype":"object"}`, `[1]`, `"s"`, `{"a":}`, `5`,
	"{\"d\":\"\u2028\"}", `{"a":[1,2,{"b":null}],"z":true}`}

func (g *gen) raw() json.RawMessage {
	if c := g.Byte(); c < 200 {
		s := genRaws[int(c)%len(genRaws)]
		if s == "" {
			return nil
		}
		return json.RawMessage(s)
	}
	return json.RawMessage(g.Bytes(48))
}

func (g *gen) float() *float64 {
	var f float64
	switch c := g.Byte(); c % 8 {
	case 0:
		return nil
	case 1:
		f = math.NaN()
	case 2:
		f = math.Inf(int(c%16) - 8)
	case 3:
		f = math.Float64frombits(g.Uint64())
	default:
		f = float64(int(c)-128) / 50
	}
	return &f
}

func (g *gen) int() *int64 {
	if g.Byte()%3 == 0 {
		return nil
	}
	n := int64(int8(g.Byte()))
	return &n
}

func (g *gen) count() int { return int(g.Byte() % 4) }

var genRoles = []providers.Role{providers.RoleSystem, providers.RoleUser, providers.RoleAssistant, providers.RoleTool, providers.RoleUser, providers.RoleAssistant, "narrator"}

func (g *gen) part() providers.Part {
	switch g.Byte() % 6 {
	case 0:
		img := &providers.Image{URL: g.str(), MediaType: g.str(), Detail: g.str()}
		if g.Byte()%2 == 0 {
			img.Data = g.Bytes(48)
		}
		return providers.Part{Type: providers.PartImage, Image: img}
	case 1:
		return providers.Part{Type: providers.PartImage}
	case 2:
		return providers.Part{Type: "audio"}
	}
	return providers.Part{Type: providers.PartText, Text: g.str()}
}

func (g *gen) request() *providers.ChatRequest {
	req := &providers.ChatRequest{Model: g.str(), MaxTokens: g.int(), Temperature: g.float(), TopP: g.float(),
		User: g.str(), N: int(g.Byte() % 3), Stream: g.Byte()%2 == 0, Seed: g.int(), FrequencyPenalty: g.float()}
	var ids []string
	for range g.count() + g.count() {
		m := providers.Message{Role: genRoles[int(g.Byte())%len(genRoles)], Name: g.str()}
		for range g.count() {
			m.Parts = append(m.Parts, g.part())
		}
		if m.Role == providers.RoleAssistant {
			for range g.count() {
				tc := providers.ToolCall{ID: g.str(), Name: g.str(), Arguments: g.str()}
				ids = append(ids, tc.ID)
				m.ToolCalls = append(m.ToolCalls, tc)
			}
		}
		if m.Role == providers.RoleTool {
			if len(ids) > 0 && g.Byte()%4 != 0 {
				m.ToolCallID = ids[int(g.Byte())%len(ids)]
			} else {
				m.ToolCallID = g.str()
			}
		}
		req.Messages = append(req.Messages, m)
	}
	for range g.count() {
		t := providers.Tool{Name: g.str(), Description: g.str(), Parameters: g.raw()}
		if g.Byte()%3 == 0 {
			strict := g.Byte()%2 == 0
			t.Strict = &strict
		}
		req.Tools = append(req.Tools, t)
	}
	switch g.Byte() % 6 {
	case 1:
		req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceAuto}
	case 2:
		req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceRequired}
	case 3:
		req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceNone}
	case 4:
		req.ToolChoice = &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: g.str()}
	case 5:
		req.ToolChoice = &providers.ToolChoice{Mode: g.str()}
	}
	if c := g.Byte() % 3; c > 0 {
		p := c == 1
		req.ParallelToolCalls = &p
	}
	switch g.Byte() % 4 {
	case 1:
		req.ResponseFormat = &providers.ResponseFormat{Type: providers.FormatJSONObject}
	case 2:
		req.ResponseFormat = &providers.ResponseFormat{Type: providers.FormatJSONSchema, Name: g.str(), Schema: g.raw()}
	case 3:
		req.ResponseFormat = &providers.ResponseFormat{Type: providers.FormatText}
	}
	if n := g.count(); n > 0 || g.Byte()%2 == 0 {
		req.Stop = make([]string, n)
		for i := range req.Stop {
			req.Stop[i] = g.str()
		}
	}
	return req
}

// sameEncoding checks that req encodes (body and count_tokens body) as the
// encoding/json encoder it replaced encoded it: the same bytes or the same
// error. Encoding the new wire value with json.Marshal, as tests do, gives
// those bytes too.
func sameEncoding(t *testing.T, req *providers.ChatRequest) {
	t.Helper()
	w, err := encodeRequest(req, 1024)
	ref, refErr := encodeRequestJSON(req, 1024)
	if !reflect.DeepEqual(err, refErr) {
		t.Fatalf("%+v:\nerror %v\nwant  %v", req, err, refErr)
	}
	if err != nil {
		return
	}
	same := func(what string, got []byte, err error, want []byte, wantErr error) {
		t.Helper()
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%s of %+v:\nerror %v\nwant  %v", what, req, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s of %+v:\n got %s\nwant %s", what, req, got, want)
		}
	}
	want, wantErr := json.Marshal(ref)
	got, err := w.marshal()
	same("marshal", got, err, want, wantErr)
	got, err = json.Marshal(w)
	same("json.Marshal", got, err, want, wantErr)

	got, err = encodeCountRequest(req)
	want, wantErr = json.Marshal(wireCountRequest{Model: ref.Model, System: ref.System, Messages: ref.Messages, Tools: ref.Tools, ToolChoice: ref.ToolChoice})
	same("count_tokens", got, err, want, wantErr)
}

// FuzzEncodeRequestReference: the hand-written request encoder writes the
// bytes of the encoding/json one for any canonical request, generated or
// decoded from an OpenAI body.
func FuzzEncodeRequestReference(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "openai", "testdata", "requests", "*.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && !bytes.Contains([]byte(s), []byte(".golden.")) {
			f.Add(b)
		}
	}
	f.Add([]byte(nil))
	f.Add(bytes.Repeat([]byte{1, 2, 3, 200, 5, 250, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 12))
	f.Add(bytes.Repeat([]byte("\x05\x81\x02\x03\x13\x04<&>\xe2\x80\xa8\x22"), 10))
	f.Fuzz(func(t *testing.T, in []byte) {
		if req, err := openai.DecodeChatRequest(in); err == nil {
			sameEncoding(t, req)
		}
		sameEncoding(t, (&gen{wirejsontest.NewSource(in)}).request())
	})
}

// The golden requests encode as before too.
func TestEncodeRequestReference(t *testing.T) {
	for _, tt := range requestCases {
		sameEncoding(t, &tt.req)
	}
}
