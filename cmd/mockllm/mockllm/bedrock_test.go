package mockllm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The verifier's signature computation reproduces AWS's published SigV4
// test-suite values (get-vanilla, post-vanilla,
// get-vanilla-query-order-key-case).
func TestBedrockSignatureTestSuite(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	for _, tt := range []struct{ method, url, sig string }{
		{"GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		r := httptest.NewRequest(tt.method, tt.url, nil)
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		a := bedrockAuth{accessKey: "AKIDEXAMPLE", date: "20150830", region: "us-east-1", service: "service", signedHeaders: []string{"host", "x-amz-date"}}
		if got, why := bedrockSignature(r, nil, secret, a); got != tt.sig {
			t.Errorf("%s %s: %s %s, want %s", tt.method, tt.url, got, why, tt.sig)
		}
	}
}

// signForTest signs a request the straightforward way, for the mock's
// tests only (the gateway's signer lives in providers/bedrock).
func signForTest(r *http.Request, body []byte, secret string, at time.Time) {
	stamp := at.UTC().Format("20060102T150405Z")
	r.Header.Set("X-Amz-Date", stamp)
	a := bedrockAuth{accessKey: BedrockAccessKeyID, date: stamp[:8], region: "us-east-1", service: "bedrock",
		signedHeaders: []string{"content-type", "host", "x-amz-date"}}
	sig, _ := bedrockSignature(r, body, secret, a)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+BedrockAccessKeyID+"/"+a.date+"/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="+sig)
}

func bedrockDo(t *testing.T, ts *httptest.Server, path, body, secret string, at time.Time, headers map[string]string) *http.Response {
	t.Helper()
	r, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	if secret != "" {
		// Sign what the server will see: host and the escaped path.
		sr := httptest.NewRequest("POST", path, nil)
		sr.Host = r.URL.Host
		sr.Header = r.Header
		signForTest(sr, []byte(body), secret, at)
	}
	resp, err := ts.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// testFrame is a decoded event-stream frame.
type testFrame struct {
	headers map[string]string
	payload map[string]any
}

// readFrames decodes event-stream frames (string headers only), checking
// both CRCs.
func readFrames(t *testing.T, b []byte) []testFrame {
	t.Helper()
	var out []testFrame
	for len(b) > 0 {
		if len(b) < 16 {
			t.Fatalf("%d trailing bytes", len(b))
		}
		total, hlen := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		if crc32.ChecksumIEEE(b[:8]) != binary.BigEndian.Uint32(b[8:]) || int(total) > len(b) ||
			crc32.ChecksumIEEE(b[:total-4]) != binary.BigEndian.Uint32(b[total-4:]) {
			t.Fatal("bad frame")
		}
		f := testFrame{headers: map[string]string{}}
		h := b[12 : 12+hlen]
		for len(h) > 0 {
			n := int(h[0])
			name := string(h[1 : 1+n])
			if h[1+n] != 7 {
				t.Fatalf("header %s of type %d", name, h[1+n])
			}
			vlen := int(binary.BigEndian.Uint16(h[2+n:]))
			f.headers[name] = string(h[4+n : 4+n+vlen])
			h = h[4+n+vlen:]
		}
		if err := json.Unmarshal(b[12+hlen:total-4], &f.payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
		b = b[total:]
	}
	return out
}

const bedrockPath = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"

func TestBedrockConverse(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "secret"})
	body := `{"system":[{"text":"be brief"}],"messages":[{"role":"user","content":[{"text":"hello there"}]}]}`
	resp := bedrockDo(t, ts, bedrockPath, body, "secret", time.Now(), nil)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var got struct {
		Output struct {
			Message struct {
				Role    string
				Content []struct{ Text string }
			}
		}
		StopReason string
		Usage      struct{ InputTokens, OutputTokens, TotalTokens int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Output.Message.Role != "assistant" || got.Output.Message.Content[0].Text != "mock reply to: hello there" ||
		got.StopReason != "end_turn" || got.Usage.InputTokens != 4 || got.Usage.OutputTokens != 5 || got.Usage.TotalTokens != 9 {
		t.Fatalf("answer %+v", got)
	}

	// A bearer key works too; a wrong one or a bad signature does not.
	resp = bedrockDo(t, ts, bedrockPath, body, "", time.Now(), map[string]string{"Authorization": "Bearer secret"})
	if resp.StatusCode != 200 {
		t.Fatalf("bearer: %d", resp.StatusCode)
	}
	for name, resp := range map[string]*http.Response{
		"wrong secret": bedrockDo(t, ts, bedrockPath, body, "other", time.Now(), nil),
		"stale date":   bedrockDo(t, ts, bedrockPath, body, "secret", time.Now().Add(-time.Hour), nil),
		"wrong bearer": bedrockDo(t, ts, bedrockPath, body, "", time.Now(), map[string]string{"Authorization": "Bearer nope"}),
		"no auth":      bedrockDo(t, ts, bedrockPath, body, "", time.Now(), nil),
	} {
		typ := strings.Split(resp.Header.Get("X-Amzn-Errortype"), ":")[0]
		m := decode[map[string]string](t, resp.Body)
		if resp.StatusCode != 403 || (typ != "InvalidSignatureException" && typ != "UnrecognizedClientException") || m["message"] == "" {
			t.Errorf("%s: %d %s %v", name, resp.StatusCode, typ, m)
		}
	}
	// A body changed after signing fails the signature.
	r, _ := http.NewRequest("POST", ts.URL+bedrockPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	sr := httptest.NewRequest("POST", bedrockPath, nil)
	sr.Host, sr.Header = r.URL.Host, r.Header
	signForTest(sr, []byte(body+" "), "secret", time.Now())
	tampered, err := ts.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	tampered.Body.Close()
	if tampered.StatusCode != 403 {
		t.Fatalf("tampered body: %d", tampered.StatusCode)
	}
}

func TestBedrockValidation(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	for _, body := range []string{
		`{"messages":[]}`,
		`{"messages":[{"role":"assistant","content":[{"text":"x"}]}]}`,
		`{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}`,
		`{"messages":[{"role":"user","content":[]}]}`,
		`{"messages":[{"role":"user","content":[{"text":" "}]}]}`,
		`{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"r"}]}}]}]}`,
		`{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":0}}`,
		`not json`,
	} {
		resp := bedrockDo(t, ts, bedrockPath, body, "", time.Now(), nil)
		if typ := resp.Header.Get("X-Amzn-Errortype"); resp.StatusCode != 400 || !strings.HasPrefix(typ, "ValidationException:") {
			t.Errorf("%s: %d %q", body, resp.StatusCode, typ)
		}
	}
}

func TestBedrockStream(t *testing.T) {
	_, ts := newTestServer(t, Options{APIKey: "secret"})
	streamPath := strings.Replace(bedrockPath, "/converse", "/converse-stream", 1)
	resp := bedrockDo(t, ts, streamPath, `{"messages":[{"role":"user","content":[{"text":"hi you"}]}],"inferenceConfig":{"maxTokens":4}}`, "secret", time.Now(), nil)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("%d %q", resp.StatusCode, ct)
	}
	b, _ := io.ReadAll(resp.Body)
	frames := readFrames(t, b)
	var types []string
	var text string
	for _, f := range frames {
		if f.headers[":message-type"] != "event" || f.headers[":content-type"] != "application/json" {
			t.Fatalf("headers %v", f.headers)
		}
		types = append(types, f.headers[":event-type"])
		if d, ok := f.payload["delta"].(map[string]any); ok {
			text += d["text"].(string)
		}
	}
	if strings.Join(types, ",") != "messageStart,contentBlockDelta,contentBlockDelta,contentBlockDelta,contentBlockDelta,contentBlockStop,messageStop,metadata" {
		t.Fatalf("events %v", types)
	}
	usage := frames[len(frames)-1].payload["usage"].(map[string]any)
	if text != "mock reply to: hi" || frames[6].payload["stopReason"] != "max_tokens" || usage["outputTokens"] != float64(4) {
		t.Fatalf("text %q frames %+v", text, frames)
	}
}

func TestBedrockTools(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	streamPath := strings.Replace(bedrockPath, "/converse", "/converse-stream", 1)
	tools := `"toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}}}}]}`
	resp := bedrockDo(t, ts, streamPath, `{"messages":[{"role":"user","content":[{"text":"Weather in Paris?"}]}],`+tools+`}`, "", time.Now(), nil)
	b, _ := io.ReadAll(resp.Body)
	frames := readFrames(t, b)
	var types []string
	var args string
	for _, f := range frames {
		types = append(types, f.headers[":event-type"])
		if d, ok := f.payload["delta"].(map[string]any); ok {
			args += d["toolUse"].(map[string]any)["input"].(string)
		}
	}
	if strings.Join(types, ",") != "messageStart,contentBlockStart,contentBlockDelta,contentBlockDelta,contentBlockStop,messageStop,metadata" ||
		frames[5].payload["stopReason"] != "tool_use" {
		t.Fatalf("events %v", types)
	}
	var parsed map[string]string
	if err := json.Unmarshal([]byte(args), &parsed); err != nil || parsed["city"] != "Paris" {
		t.Fatalf("input %q", args)
	}
	start := frames[1].payload["start"].(map[string]any)["toolUse"].(map[string]any)
	id := start["toolUseId"].(string)

	resp = bedrockDo(t, ts, bedrockPath, `{"messages":[{"role":"user","content":[{"text":"Weather in Paris?"}]},
		{"role":"assistant","content":[{"toolUse":{"toolUseId":"`+id+`","name":"get_weather","input":{"city":"Paris"}}}]},
		{"role":"user","content":[{"toolResult":{"toolUseId":"`+id+`","content":[{"text":"sunny"}],"status":"success"}}]}],`+tools+`}`, "", time.Now(), nil)
	m := decode[map[string]any](t, resp.Body)
	content := m["output"].(map[string]any)["message"].(map[string]any)["content"].([]any)[0].(map[string]any)
	if content["text"] != "the tool said: sunny" || m["stopReason"] != "end_turn" {
		t.Fatalf("after the tool: %v", m)
	}
}

func TestBedrockFailures(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	streamPath := strings.Replace(bedrockPath, "/converse", "/converse-stream", 1)
	body := `{"messages":[{"role":"user","content":[{"text":"a b c"}]}]}`
	resp := bedrockDo(t, ts, streamPath, body, "", time.Now(), map[string]string{HeaderFailAfter: "2", HeaderException: "throttlingException"})
	b, _ := io.ReadAll(resp.Body)
	frames := readFrames(t, b)
	last := frames[len(frames)-1]
	if len(frames) != 3 || last.headers[":message-type"] != "exception" || last.headers[":exception-type"] != "throttlingException" || last.payload["message"] == "" {
		t.Fatalf("frames %+v", frames)
	}
	resp = bedrockDo(t, ts, streamPath, body, "", time.Now(), map[string]string{HeaderFailAfter: "1", HeaderException: "abort"})
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("abort: the body ended cleanly")
	}
	for status, typ := range map[int]string{429: "ThrottlingException", 503: "ServiceUnavailableException", 500: "InternalServerException", 400: "ValidationException"} {
		resp := bedrockDo(t, ts, bedrockPath, body, "", time.Now(), map[string]string{HeaderStatus: strconv.Itoa(status)})
		if got := strings.Split(resp.Header.Get("X-Amzn-Errortype"), ":")[0]; resp.StatusCode != status || got != typ {
			t.Errorf("%d: %d %s", status, resp.StatusCode, got)
		}
	}
}

// The frame encoder's output for a known frame: lengths, both CRCs.
func TestBedrockFrameLayout(t *testing.T) {
	f := bedrockFrame([][2]string{{":event-type", "x"}}, []byte("{}"))
	hlen := 1 + len(":event-type") + 1 + 2 + 1
	if len(f) != 12+hlen+2+4 || binary.BigEndian.Uint32(f) != uint32(len(f)) || binary.BigEndian.Uint32(f[4:]) != uint32(hlen) {
		t.Fatalf("frame % x", f)
	}
	if !bytes.Equal(f[len(f)-6:len(f)-4], []byte("{}")) {
		t.Fatal("payload misplaced")
	}
}
