package bedrock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixedNow pins Created in goldens; signing in end-to-end tests needs the
// real clock, which the mock checks.
func fixedNow() time.Time { return time.Unix(1700000000, 0) }

func ptr[T any](v T) *T { return &v }

func text(s string) []providers.Part { return []providers.Part{{Type: providers.PartText, Text: s}} }

func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	goldenBytes(t, name, append(b, '\n'), func(want []byte) bool {
		var x, y any
		if json.Unmarshal(want, &x) != nil || json.Unmarshal(b, &y) != nil {
			return false
		}
		return reflect.DeepEqual(x, y)
	})
}

func goldenBytes(t *testing.T, name string, got []byte, equal func(want []byte) bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !equal(want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

var weatherTool = providers.Tool{Name: "get_weather", Description: "Weather of a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

var png = []byte("\x89PNG\r\n\x1a\n")

func TestEncodeChat(t *testing.T) {
	user := providers.Message{Role: providers.RoleUser, Parts: text("x")}
	toolTurn := []providers.Message{
		{Role: providers.RoleUser, Parts: text("weather in Paris and Rome?")},
		{Role: providers.RoleAssistant, Parts: text("Checking."), ToolCalls: []providers.ToolCall{
			{ID: "tooluse_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "tooluse_2", Name: "get_weather", Arguments: `not json`},
		}},
		{Role: providers.RoleTool, ToolCallID: "tooluse_1", Parts: text("sunny")},
		{Role: providers.RoleTool, ToolCallID: "tooluse_2", Parts: text("")},
		{Role: providers.RoleUser, Parts: text("and tomorrow?")},
	}
	for _, tt := range []struct {
		name string
		req  providers.ChatRequest
	}{
		{"basic", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("hello")}}}},
		// Every parameter: those without a Converse field are dropped.
		{"params", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("hi"), Name: "bob"}},
			MaxTokens: ptr[int64](256), Temperature: ptr(0.5), TopP: ptr(0.9), Stop: []string{"END"}, Seed: ptr[int64](7),
			FrequencyPenalty: ptr(0.1), PresencePenalty: ptr(0.1), User: "u", ReasoningEffort: "high", ParallelToolCalls: ptr(false),
			Stream: true, IncludeUsage: true, Extra: map[string]json.RawMessage{"top_k": json.RawMessage(`40`)}}},
		// System messages anywhere go to system[]; consecutive same-role
		// messages merge; empty parts and messages are dropped.
		{"systems_merge", providers.ChatRequest{Model: "m", Messages: []providers.Message{
			{Role: providers.RoleSystem, Parts: text("be brief")},
			{Role: providers.RoleUser, Parts: text("one")},
			{Role: providers.RoleSystem, Parts: text("be formal")},
			{Role: providers.RoleUser, Parts: []providers.Part{{Type: providers.PartText}, {Type: providers.PartText, Text: "two"}}},
			{Role: providers.RoleAssistant, Parts: text("ok")},
			{Role: providers.RoleAssistant},
			{Role: providers.RoleAssistant, Parts: text("more")},
			{Role: providers.RoleSystem},
			{Role: providers.RoleUser, Parts: text("three")},
		}}},
		// Parallel calls; their results grouped in one user message with
		// the text that follows; bad arguments become {}.
		{"tools_roundtrip", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool, {Name: "now"}},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceAuto}, Messages: toolTurn}},
		{"tool_choice_required", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceRequired}, Messages: []providers.Message{user}}},
		{"tool_choice_named", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceFunction, Name: "get_weather"}, Messages: []providers.Message{user}}},
		// none without tool history: no toolConfig at all.
		{"tool_choice_none", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceNone}, Messages: []providers.Message{user}}},
		// none with tool history: the tools, without a toolChoice.
		{"tool_choice_none_history", providers.ChatRequest{Model: "m", Tools: []providers.Tool{weatherTool},
			ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceNone}, Messages: toolTurn}},
		// Tool history but no tools: declared from the history.
		{"tool_history_without_tools", providers.ChatRequest{Model: "m", Messages: toolTurn}},
		{"images", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
			{Type: providers.PartText, Text: "what is this?"},
			{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/png", Data: png}},
			{Type: providers.PartImage, Image: &providers.Image{MediaType: "image/JPEG", Data: []byte{0xff, 0xd8}, Detail: "high"}},
		}}}}},
		{"response_format_text", providers.ChatRequest{Model: "m", ResponseFormat: &providers.ResponseFormat{Type: providers.FormatText}, Messages: []providers.Message{user}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeChat(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "request_"+tt.name+".json", got)
		})
	}
}

func TestEncodeChatRejects(t *testing.T) {
	user := []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}
	img := func(i *providers.Image) []providers.Message {
		return []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{{Type: providers.PartImage, Image: i}}}}
	}
	for _, tt := range []struct {
		name  string
		req   providers.ChatRequest
		param string
	}{
		{"n", providers.ChatRequest{Model: "m", N: 3, Messages: user}, "n"},
		{"image_url", providers.ChatRequest{Model: "m", Messages: img(&providers.Image{URL: "https://example.com/cat.png"})}, "messages[0].content"},
		{"image_type", providers.ChatRequest{Model: "m", Messages: img(&providers.Image{MediaType: "image/tiff", Data: png})}, "messages[0].content"},
		{"json_object", providers.ChatRequest{Model: "m", Messages: user, ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONObject}}, "response_format"},
		{"json_schema", providers.ChatRequest{Model: "m", Messages: user, ResponseFormat: &providers.ResponseFormat{Type: providers.FormatJSONSchema, Schema: json.RawMessage(`{}`)}}, "response_format"},
		{"required_without_tools", providers.ChatRequest{Model: "m", Messages: user, ToolChoice: &providers.ToolChoice{Mode: providers.ToolChoiceRequired}}, "tool_choice"},
		{"empty", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleSystem, Parts: text("s")}}}, "messages"},
		{"tool_without_id", providers.ChatRequest{Model: "m", Messages: append(user, providers.Message{Role: providers.RoleTool, Parts: text("r")})}, "messages[1].tool_call_id"},
		{"call_without_id", providers.ChatRequest{Model: "m", Messages: append(user, providers.Message{Role: providers.RoleAssistant,
			ToolCalls: []providers.ToolCall{{Name: "f"}}})}, "messages[1].tool_calls"},
		{"bad_role", providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: "robot", Parts: text("x")}}}, "messages[0].role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := encodeChat(&tt.req)
			var e *providers.Error
			if !errors.As(err, &e) || e.Status != 400 || e.Param != tt.param || e.Message == "" {
				t.Fatalf("got %#v, want a 400 on %s", err, tt.param)
			}
		})
	}
}

func TestDecodeChat(t *testing.T) {
	now = fixedNow
	t.Cleanup(func() { now = time.Now })
	for _, name := range []string{"text", "tool_use", "max_tokens", "content_filtered", "stop_sequence"} {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "response_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeChat(body, "anthropic.claude-3-5-sonnet-20240620-v1:0", "req-1")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "response_"+name+".golden.json", got)
		})
	}
	for _, bad := range []string{`nope`, `{}`, `{"output":{}}`} {
		if _, err := decodeChat([]byte(bad), "m", ""); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// event is an Event as written in the golden JSON-lines files.
type event struct {
	Type         string           `json:"type"`
	Text         string           `json:"text,omitempty"`
	ToolIndex    int              `json:"tool_index,omitempty"`
	ToolID       string           `json:"tool_id,omitempty"`
	ToolName     string           `json:"tool_name,omitempty"`
	FinishReason string           `json:"finish_reason,omitempty"`
	ID           string           `json:"id,omitempty"`
	Model        string           `json:"model,omitempty"`
	Created      int64            `json:"created,omitempty"`
	Usage        *providers.Usage `json:"usage,omitempty"`
	Err          *providers.Error `json:"error,omitempty"`
}

var typeNames = map[providers.EventType]string{
	providers.EventStart: "start", providers.EventText: "text", providers.EventToolCall: "tool_call",
	providers.EventToolArgs: "tool_args", providers.EventFinish: "finish", providers.EventUsage: "usage", providers.EventError: "error",
}

// drain reads a stream to its end, checking the event order contract.
func drain(t testing.TB, s providers.Stream, limit int) []event {
	t.Helper()
	var out []event
	for i := 0; ; i++ {
		ev, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if i > limit {
			t.Fatalf("more than %d events: the stream does not end", limit)
		}
		if len(out) > 0 && out[len(out)-1].Type == "error" {
			t.Fatalf("event after EventError: %+v", ev)
		}
		if (i == 0) != (ev.Type == providers.EventStart) {
			t.Fatalf("event %d is %v: EventStart must come first, once", i, ev.Type)
		}
		out = append(out, event{Type: typeNames[ev.Type], Text: ev.Text, ToolIndex: ev.ToolIndex, ToolID: ev.ToolID,
			ToolName: ev.ToolName, FinishReason: string(ev.FinishReason), ID: ev.ID, Model: ev.Model, Created: ev.Created, Usage: ev.Usage, Err: ev.Err})
	}
}

// frames builds the event-stream bytes a testdata/*.frames.jsonl file
// describes, with the mock's encoder (written apart from the decoder).
func frames(t testing.TB, name string) []byte {
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Event     string          `json:"event"`
			Payload   json.RawMessage `json:"payload"`
			Exception string          `json:"exception"`
			Message   string          `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if line.Exception != "" {
			out = append(out, mockllm.BedrockExceptionFrame(line.Exception, line.Message)...)
		} else {
			out = append(out, mockllm.BedrockEventFrame(line.Event, line.Payload)...)
		}
	}
	return out
}

var streamCases = []string{"text", "tool_calls", "tool_no_args", "reasoning", "guardrail", "throttled", "model_error", "no_metadata", "truncated", "empty"}

func jsonLines(t *testing.T, evs []event) []byte {
	var b bytes.Buffer
	for _, ev := range evs {
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestStream(t *testing.T) {
	now = fixedNow
	t.Cleanup(func() { now = time.Now })
	for _, name := range streamCases {
		t.Run(name, func(t *testing.T) {
			s := newStream(io.NopCloser(bytes.NewReader(frames(t, "stream_"+name+".frames.jsonl"))), "anthropic.claude-3-5-sonnet-20240620-v1:0", "req-1")
			got := jsonLines(t, drain(t, s, 1000))
			goldenBytes(t, "stream_"+name+".golden.jsonl", got, func(want []byte) bool { return bytes.Equal(want, got) })
			if s.Close() != nil || s.Close() != nil {
				t.Fatal("Close failed")
			}
		})
	}
}

// oneByte delivers its input a byte per Read: every frame spans reads.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestStreamAcrossReads(t *testing.T) {
	in := frames(t, "stream_tool_calls.frames.jsonl")
	whole := drain(t, newStream(io.NopCloser(bytes.NewReader(in)), "m", ""), 1000)
	split := drain(t, newStream(io.NopCloser(oneByte{bytes.NewReader(in)}), "m", ""), 1000)
	if !reflect.DeepEqual(whole, split) || whole[len(whole)-1].Type != "usage" {
		t.Fatalf("byte-by-byte reads changed the events:\n%v\n%v", whole, split)
	}
}

// rawFrame encodes a frame from raw header bytes, for header types the
// mock never sends.
func rawFrame(headers, payload []byte) []byte {
	total := 12 + len(headers) + len(payload) + 4
	out := binary.BigEndian.AppendUint32(nil, uint32(total))
	out = binary.BigEndian.AppendUint32(out, uint32(len(headers)))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
	out = append(append(out, headers...), payload...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
}

func header(name string, typ byte, value []byte) []byte {
	b := append([]byte{byte(len(name))}, name...)
	return append(append(b, typ), value...)
}

func strHeader(name, v string) []byte {
	return header(name, hdrString, append(binary.BigEndian.AppendUint16(nil, uint16(len(v))), v...))
}

func TestFrameHeaderTypes(t *testing.T) {
	var h []byte
	h = append(h, header("t", hdrTrue, nil)...)
	h = append(h, header("f", hdrFalse, nil)...)
	h = append(h, header("b", hdrByte, []byte{1})...)
	h = append(h, header("s", hdrInt16, []byte{0, 1})...)
	h = append(h, header("i", hdrInt32, []byte{0, 0, 0, 1})...)
	h = append(h, header("l", hdrInt64, make([]byte, 8))...)
	h = append(h, header("bytes", hdrBytes, []byte{0, 3, 'a', 'b', 'c'})...)
	h = append(h, header("ts", hdrTimestamp, make([]byte, 8))...)
	h = append(h, header("uuid", hdrUUID, make([]byte, 16))...)
	h = append(h, strHeader(":event-type", "messageStart")...)
	h = append(h, strHeader(":message-type", "event")...)
	d := frameReader{r: bytes.NewReader(rawFrame(h, []byte(`{"role":"assistant"}`)))}
	f, err := d.next()
	if err != nil {
		t.Fatal(err)
	}
	if f.headers[":event-type"] != "messageStart" || f.headers[":message-type"] != "event" || len(f.headers) != 2 || string(f.payload) != `{"role":"assistant"}` {
		t.Fatalf("frame %+v", f)
	}
	if _, err := d.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
	// An unknown type cannot be skipped: an error.
	d = frameReader{r: bytes.NewReader(rawFrame(header("x", 42, nil), nil))}
	if _, err := d.next(); err == nil {
		t.Fatal("unknown header type accepted")
	}
}

func TestFrameCorruption(t *testing.T) {
	good := mockllm.BedrockEventFrame("messageStart", map[string]string{"role": "assistant"})
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x20
		return b
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"prelude length", flip(3), errPreludeCRC},
		{"prelude crc", flip(9), errPreludeCRC},
		{"header byte", flip(14), errMessageCRC},
		{"payload byte", flip(len(good) - 6), errMessageCRC},
		{"message crc", flip(len(good) - 1), errMessageCRC},
		{"cut in prelude", good[:7], errTruncatedFrame},
		{"cut in body", good[:len(good)-3], errTruncatedFrame},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := frameReader{r: bytes.NewReader(tt.in)}
			if _, err := d.next(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// Through the stream: an EventError, then the end.
			evs := drain(t, newStream(io.NopCloser(bytes.NewReader(tt.in)), "m", ""), 10)
			if last := evs[len(evs)-1]; last.Type != "error" || last.Err.Status != 502 {
				t.Fatalf("events %+v", evs)
			}
		})
	}
	// Lengths that cannot be right are refused before any allocation.
	for _, lengths := range [][2]uint32{{8, 0}, {maxFrame + 1, 0}, {100, 90}} {
		pre := binary.BigEndian.AppendUint32(nil, lengths[0])
		pre = binary.BigEndian.AppendUint32(pre, lengths[1])
		pre = binary.BigEndian.AppendUint32(pre, crc32.ChecksumIEEE(pre))
		d := frameReader{r: bytes.NewReader(append(pre, make([]byte, 200)...))}
		if _, err := d.next(); err == nil {
			t.Errorf("lengths %v accepted", lengths)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name       string
		status     int
		errType    string
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"validation", 400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", `{"message":"The model returned the following errors: max_tokens: must be positive"}`,
			400, "invalid_request_error", "The model returned the following errors: max_tokens: must be positive"},
		{"access_denied", 403, "AccessDeniedException", `{"message":"User: arn:aws:iam::123:user/x is not authorized"}`,
			502, "server_error", "the upstream provider rejected the gateway's credentials"},
		{"bad_signature", 403, "InvalidSignatureException", `{"message":"The request signature we calculated does not match"}`,
			502, "server_error", "the upstream provider rejected the gateway's credentials"},
		{"unrecognized_client", 403, "UnrecognizedClientException", `{"Message":"The security token included in the request is invalid."}`,
			502, "server_error", "the upstream provider rejected the gateway's credentials"},
		{"not_found", 404, "ResourceNotFoundException", `{"message":"Model not found"}`, 404, "not_found_error", "Model not found"},
		{"timeout", 408, "ModelTimeoutException", `{"message":"Model has timed out"}`, 504, "server_error", "Model has timed out"},
		{"model_error", 424, "ModelErrorException", `{"message":"The model failed"}`, 502, "server_error", "The model failed"},
		{"throttled", 429, "ThrottlingException", `{"message":"Too many requests, please wait before trying again."}`,
			429, "rate_limit_error", "Too many requests, please wait before trying again."},
		{"not_ready", 429, "ModelNotReadyException", `{"message":"Model is not ready"}`, 503, "overloaded_error", "Model is not ready"},
		{"internal", 500, "InternalServerException", `{"message":"internal"}`, 502, "server_error", "internal"},
		{"unavailable", 503, "ServiceUnavailableException", `{"message":"busy"}`, 503, "overloaded_error", "busy"},
		{"body_type", 400, "", `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}`, 400, "invalid_request_error", "bad"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.errType != "" {
					w.Header().Set("X-Amzn-ErrorType", tt.errType)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			p := provisioned(t, Bedrock{Upstream: providers.Upstream{BaseURL: srv.URL}, Region: "us-east-1", AccessKeyID: "AKID", SecretAccessKey: "secret-key"})
			req := &providers.ChatRequest{Model: "m", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("x")}}}
			_, err := p.Chat(context.Background(), req)
			var e *providers.Error
			if !errors.As(err, &e) || e.Status != tt.wantStatus || e.Type != tt.wantType || e.Message != tt.wantMsg {
				t.Fatalf("got %+v", err)
			}
			if _, err := p.ChatStream(context.Background(), req); !errors.As(err, &e) || e.Status != tt.wantStatus {
				t.Fatalf("stream: got %v", err)
			}
		})
	}
}

func provisioned(t *testing.T, b Bedrock) *Bedrock {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	p := &b
	if err := p.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p
}

func TestProvision(t *testing.T) {
	t.Setenv("BEDROCK_TEST_AK", "AKIDENV")
	t.Setenv("BEDROCK_TEST_SK", "secret-env")
	t.Setenv("BEDROCK_TEST_REGION", "eu-central-1")
	p := provisioned(t, Bedrock{Region: "{env.BEDROCK_TEST_REGION}", AccessKeyID: "{env.BEDROCK_TEST_AK}", SecretAccessKey: "{env.BEDROCK_TEST_SK}"})
	if p.URL != "https://bedrock-runtime.eu-central-1.amazonaws.com" || p.region != "eu-central-1" ||
		p.creds != (credentials{AccessKeyID: "AKIDENV", SecretAccessKey: "secret-env"}) {
		t.Fatalf("provisioned %q %q %+v", p.URL, p.region, p.creds)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	for _, b := range []Bedrock{
		{AccessKeyID: "a", SecretAccessKey: "b"},                                // no region
		{Region: "us-east-1.evil.com/", AccessKeyID: "a", SecretAccessKey: "b"}, // not a region
		{Region: "us-east-1", AccessKeyID: "a"},                                 // no secret
		{Region: "us-east-1", AccessKeyID: "{env.BEDROCK_TEST_UNSET}", SecretAccessKey: "b"},
	} {
		if err := b.Provision(ctx); err == nil {
			t.Errorf("%+v provisioned", b)
		}
	}
	// A Bedrock API key alone is enough.
	if err := (&Bedrock{Region: "us-west-2", Upstream: providers.Upstream{APIKey: "bedrock-api-key"}}).Provision(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`bedrock {
		region us-west-2
		access_key_id {env.AWS_ACCESS_KEY_ID}
		secret_access_key {env.AWS_SECRET_ACCESS_KEY}
		session_token {env.AWS_SESSION_TOKEN}
		base_url https://vpce.example/
		header X-Team ai
		timeout 1m
	}`)
	var p Bedrock
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if p.Region != "us-west-2" || p.AccessKeyID != "{env.AWS_ACCESS_KEY_ID}" || p.SecretAccessKey != "{env.AWS_SECRET_ACCESS_KEY}" ||
		p.SessionToken != "{env.AWS_SESSION_TOKEN}" || p.BaseURL != "https://vpce.example/" || p.Headers.Get("X-Team") != "ai" || time.Duration(p.Timeout) != time.Minute {
		t.Fatalf("parsed %+v", p)
	}
	for _, bad := range []string{"bedrock {\n region\n}", "bedrock {\n region a b\n}", "bedrock {\n profile x\n}", "bedrock extra"} {
		if err := new(Bedrock).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestEndToEnd runs the provider against the bundled mock's Bedrock
// dialect, which verifies the SigV4 signature with its own code.
func TestEndToEnd(t *testing.T) {
	mock := mockllm.New(mockllm.Options{APIKey: "mock-secret"})
	srv := httptest.NewServer(mock)
	defer srv.Close()
	const model = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
	p := provisioned(t, Bedrock{Upstream: providers.Upstream{BaseURL: srv.URL}, Region: "us-east-1",
		AccessKeyID: mockllm.BedrockAccessKeyID, SecretAccessKey: "mock-secret", SessionToken: "session-tok"})
	ctx := context.Background()
	user := func(s string) providers.Message { return providers.Message{Role: providers.RoleUser, Parts: text(s)} }

	resp, err := p.Chat(ctx, &providers.ChatRequest{Model: model, Messages: []providers.Message{
		{Role: providers.RoleSystem, Parts: text("be nice")}, user("hello there")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "mock reply to: hello there" || resp.Choices[0].FinishReason != providers.FinishStop ||
		resp.Usage.PromptTokens != 4 || resp.Usage.CompletionTokens != 5 || resp.ID == "" {
		t.Fatalf("chat: %+v", resp)
	}
	reqs := mock.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/model/"+model+"/converse" || !strings.HasPrefix(last.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDMOCK/") ||
		last.Header.Get("X-Amz-Security-Token") != "session-tok" {
		t.Fatalf("the mock saw %s %v", last.Path, last.Header)
	}

	// Streamed text, cut by maxTokens; an ARN model id (':' and '/').
	arn := "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + model
	s, err := p.ChatStream(ctx, &providers.ChatRequest{Model: arn, MaxTokens: ptr[int64](4), Messages: []providers.Message{user("one two three")}})
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s, 100)
	_ = s.Close()
	var sb strings.Builder
	for _, ev := range evs {
		sb.WriteString(ev.Text)
	}
	if n := len(evs); sb.String() != "mock reply to: one" || evs[n-2].FinishReason != "length" || evs[n-1].Type != "usage" || evs[n-1].Usage.CompletionTokens != 4 {
		t.Fatalf("stream: %+v", evs)
	}

	// A streamed tool call, then its result.
	tools := []providers.Tool{weatherTool}
	s, err = p.ChatStream(ctx, &providers.ChatRequest{Model: model, Tools: tools, Messages: []providers.Message{user("what is the weather?")}})
	if err != nil {
		t.Fatal(err)
	}
	evs = drain(t, s, 100)
	_ = s.Close()
	var call providers.ToolCall
	pieces := 0
	for _, ev := range evs {
		switch ev.Type {
		case "tool_call":
			call.ID, call.Name = ev.ToolID, ev.ToolName
		case "tool_args":
			call.Arguments += ev.Text
			pieces++
		}
	}
	if call.Name != "get_weather" || call.ID == "" || pieces < 2 || evs[len(evs)-2].FinishReason != "tool_calls" {
		t.Fatalf("tool stream: %+v", evs)
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(call.Arguments), &args); err != nil || args["city"] != "Paris" {
		t.Fatalf("arguments %q", call.Arguments)
	}
	resp, err = p.Chat(ctx, &providers.ChatRequest{Model: model, Messages: []providers.Message{
		user("what is the weather?"),
		{Role: providers.RoleAssistant, ToolCalls: []providers.ToolCall{call}},
		{Role: providers.RoleTool, ToolCallID: call.ID, Parts: text("sunny, 21C")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "the tool said: sunny, 21C" {
		t.Fatalf("after the tool: %q", got)
	}
	resp, err = p.Chat(ctx, &providers.ChatRequest{Model: model, Tools: tools, Messages: []providers.Message{user("weather please")}})
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Choices[0]; c.FinishReason != providers.FinishToolCalls || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Arguments != `{"city":"Paris"}` {
		t.Fatalf("tool call: %+v", c)
	}

	// A wrong secret: the mock's verifier refuses the signature, and the
	// client learns only that the gateway's credentials were refused.
	bad := provisioned(t, Bedrock{Upstream: providers.Upstream{BaseURL: srv.URL}, Region: "us-east-1",
		AccessKeyID: mockllm.BedrockAccessKeyID, SecretAccessKey: "wrong"})
	_, err = bad.Chat(ctx, &providers.ChatRequest{Model: model, Messages: []providers.Message{user("x")}})
	var e *providers.Error
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "upstream_auth_failed" {
		t.Fatalf("wrong secret: %v", err)
	}

	// A Bedrock API key: bearer, no signature.
	bearer := provisioned(t, Bedrock{Upstream: providers.Upstream{BaseURL: srv.URL, APIKey: "mock-secret"}, Region: "us-east-1"})
	if _, err := bearer.Chat(ctx, &providers.ChatRequest{Model: model, Messages: []providers.Message{user("x")}}); err != nil {
		t.Fatal(err)
	}
	reqs = mock.Requests()
	if h := reqs[len(reqs)-1].Header; h.Get("Authorization") != "Bearer mock-secret" || h.Get("X-Amz-Date") != "" {
		t.Fatalf("bearer request headers %v", h)
	}
}

func TestEndToEndFailures(t *testing.T) {
	srv := httptest.NewServer(mockllm.New(mockllm.Options{APIKey: "k"}))
	defer srv.Close()
	p := provisioned(t, Bedrock{Upstream: providers.Upstream{BaseURL: srv.URL}, Region: "us-east-1", AccessKeyID: mockllm.BedrockAccessKeyID, SecretAccessKey: "k"})
	req := &providers.ChatRequest{Model: "amazon.nova-pro-v1:0", Messages: []providers.Message{{Role: providers.RoleUser, Parts: text("a b c d e")}}}
	for _, tt := range []struct {
		exception string
		status    int
	}{{"", 502}, {"throttlingException", 429}, {"serviceUnavailableException", 503}, {"abort", 502}} {
		p.HeaderVals = http.Header{mockllm.HeaderFailAfter: {"3"}}
		if tt.exception != "" {
			p.HeaderVals.Set(mockllm.HeaderException, tt.exception)
		}
		s, err := p.ChatStream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		evs := drain(t, s, 100)
		_ = s.Close()
		if last := evs[len(evs)-1]; len(evs) != 4 || last.Type != "error" || last.Err.Status != tt.status {
			t.Errorf("%q: events %+v", tt.exception, evs)
		}
	}
	for _, status := range []int{400, 429, 503} {
		p.HeaderVals = http.Header{mockllm.HeaderStatus: {strconv.Itoa(status)}}
		_, err := p.Chat(context.Background(), req)
		var e *providers.Error
		if !errors.As(err, &e) || e.Status != status {
			t.Errorf("X-Mock-Status %d: %v", status, err)
		}
	}
}

func FuzzDecodeChat(f *testing.F) {
	files, _ := filepath.Glob("testdata/response_*.json")
	for _, name := range files {
		if !strings.HasSuffix(name, ".golden.json") {
			b, _ := os.ReadFile(name)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := decodeChat(b, "m", "")
		if err == nil && len(resp.Choices) != 1 {
			t.Fatal("a decoded answer must have one choice")
		}
		var e *providers.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("error of type %T", err)
		}
	})
}

func FuzzStream(f *testing.F) {
	for _, name := range streamCases {
		f.Add(frames(f, "stream_"+name+".frames.jsonl"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Each frame is at least 16 bytes and yields a few events.
		evs := drain(t, newStream(io.NopCloser(bytes.NewReader(b)), "m", ""), len(b)+8)
		if len(evs) == 0 {
			t.Fatal("no events: an empty or broken stream must end in EventError")
		}
		if last := evs[len(evs)-1]; last.Type != "error" && last.Type != "usage" {
			t.Fatalf("the stream ended on %q, neither usage nor an error", last.Type)
		}
	})
}

// FuzzStreamEvents fuzzes the event handling behind valid framing (random
// bytes rarely get past the CRCs): each input line is
// "<message-type> <event-or-exception-type> <payload>", framed with
// correct checksums.
func FuzzStreamEvents(f *testing.F) {
	f.Add([]byte("event messageStart {}\nevent contentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\"hi\"}}\nevent messageStop {\"stopReason\":\"end_turn\"}\nevent metadata {\"usage\":{\"inputTokens\":1}}"))
	f.Add([]byte("event contentBlockStart {\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"t\",\"name\":\"f\"}}}\nevent contentBlockDelta {\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{}\"}}}\nevent contentBlockStop {\"contentBlockIndex\":1}\nevent messageStop {\"stopReason\":\"tool_use\"}"))
	f.Add([]byte("exception throttlingException {\"message\":\"slow down\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var in []byte
		for _, line := range bytes.Split(b, []byte("\n")) {
			parts := bytes.SplitN(line, []byte(" "), 3)
			for len(parts) < 3 {
				parts = append(parts, nil)
			}
			key := ":event-type"
			if string(parts[0]) == "exception" {
				key = ":exception-type"
			}
			h := append(strHeader(":message-type", string(parts[0])), strHeader(key, string(parts[1]))...)
			in = append(in, rawFrame(h, parts[2])...)
		}
		evs := drain(t, newStream(io.NopCloser(bytes.NewReader(in)), "m", ""), 4*len(b)+8)
		if last := evs[len(evs)-1]; last.Type != "error" && last.Type != "usage" {
			t.Fatalf("the stream ended on %q, neither usage nor an error", last.Type)
		}
	})
}
