package mockllm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The AWS Bedrock Runtime dialect: POST /model/{modelId}/converse (JSON)
// and /model/{modelId}/converse-stream (binary AWS event-stream frames,
// application/vnd.amazon.eventstream).
//
// Authentication is AWS Signature Version 4 (service "bedrock", any
// region) with access key id BedrockAccessKeyID and Options.APIKey as the
// secret key: the signature is verified over the method, the path as sent,
// the query, the signed headers and the body's SHA-256; X-Amz-Date must be
// within 15 minutes of the server's clock. A Bedrock API key
// ("Authorization: Bearer <Options.APIKey>") is accepted too. The verifier
// is written here, apart from the gateway's signer, so that a bug in one
// shows up against the other.
//
// Errors are {"message": "..."} with the exception name in
// x-amzn-ErrorType (ValidationException for 400, ThrottlingException for
// 429, ...); an authentication failure is a 403 as on AWS.
//
// Replies follow the OpenAI mock's rules, plus tools: when the request
// offers tools and the last user message contains "weather", the answer
// calls the first tool with {"city":"Paris"} (streamed in two input
// pieces, stopReason tool_use); when the last message holds a tool result,
// the answer is "the tool said: <result>". The request is validated the way
// Bedrock does (alternating roles starting with user, non-empty content,
// toolConfig present when the history holds tool blocks).
//
// X-Mock-Fail-After N: a stream ends after N frames with an exception frame
// whose :exception-type is the X-Mock-Exception header's value (default
// modelStreamErrorException), or, with X-Mock-Exception: abort, with a
// reset connection. A non-streamed call is aborted.
func init() {
	registerDialect(Dialect{
		Name:       "bedrock",
		Match:      bedrockMatch,
		Authorized: bedrockAuthorized,
		WriteError: writeBedrockError,
		Serve:      serveBedrock,
	})
}

// BedrockAccessKeyID is the access key id the mock's Bedrock dialect
// expects in SigV4 signatures; the secret key is Options.APIKey.
const BedrockAccessKeyID = "AKIDMOCK"

// HeaderException names the exception type a Bedrock stream ends with
// under X-Mock-Fail-After ("abort" resets the connection instead).
const HeaderException = "X-Mock-Exception"

func bedrockMatch(path string) bool {
	rest, ok := strings.CutPrefix(path, "/model/")
	return ok && (strings.HasSuffix(rest, "/converse") || strings.HasSuffix(rest, "/converse-stream"))
}

// bedrockAuthorized accepts a bearer key, or a SigV4 Authorization header
// for BedrockAccessKeyID. The signature itself covers the body, which is
// not at hand here: serveBedrock verifies it.
func bedrockAuthorized(r *http.Request, key string) bool {
	auth := r.Header.Get("Authorization")
	if v, ok := strings.CutPrefix(auth, "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(v), []byte(key)) == 1
	}
	a, ok := parseBedrockAuth(auth)
	return ok && a.accessKey == BedrockAccessKeyID
}

// bedrockAuth is a parsed SigV4 Authorization header.
type bedrockAuth struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

func parseBedrockAuth(h string) (a bedrockAuth, ok bool) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return a, false
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(f), "=")
		if !found {
			return a, false
		}
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return a, false
	}
	return bedrockAuth{accessKey: cred[0], date: cred[1], region: cred[2], service: cred[3],
		signedHeaders: strings.Split(fields["SignedHeaders"], ";"), signature: fields["Signature"]}, true
}

// bedrockVerify checks r's SigV4 signature against secret; it returns why
// it fails, or "".
func bedrockVerify(r *http.Request, body []byte, secret string) string {
	a, ok := parseBedrockAuth(r.Header.Get("Authorization"))
	if !ok {
		return "malformed Authorization header"
	}
	if a.accessKey != BedrockAccessKeyID || a.service != "bedrock" {
		return "wrong access key or service in the credential scope"
	}
	stamp := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", stamp)
	if err != nil || !strings.HasPrefix(stamp, a.date) {
		return "X-Amz-Date missing, malformed, or not the credential scope's date"
	}
	if d := time.Since(t); d > 15*time.Minute || d < -15*time.Minute {
		return "Signature expired: X-Amz-Date is more than 15 minutes from the server's time"
	}
	if !sort.StringsAreSorted(a.signedHeaders) || !bedrockContains(a.signedHeaders, "host") || !bedrockContains(a.signedHeaders, "x-amz-date") {
		return "SignedHeaders must be sorted and include host and x-amz-date"
	}

	bodySum := sha256.Sum256(body)
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != hex.EncodeToString(bodySum[:]) {
		return "X-Amz-Content-Sha256 does not match the body"
	}
	want, why := bedrockSignature(r, body, secret, a)
	if why != "" {
		return why
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return ""
}

// bedrockSignature computes the signature r should carry under the
// credential scope and signed headers of a, or says what is missing. The
// canonical request is built here independently of the gateway's signer.
func bedrockSignature(r *http.Request, body []byte, secret string, a bedrockAuth) (sig, why string) {
	stamp := r.Header.Get("X-Amz-Date")
	var segs []string
	for _, seg := range strings.Split(r.URL.EscapedPath(), "/") {
		segs = append(segs, awsPercentEncode(seg))
	}
	uri := strings.Join(segs, "/")
	if uri == "" {
		uri = "/"
	}
	q := r.URL.Query()
	var qs []string
	for k, vs := range q {
		for _, v := range vs {
			qs = append(qs, awsPercentEncode(k)+"="+awsPercentEncode(v))
		}
	}
	sort.Strings(qs)
	var hdrs strings.Builder
	for _, name := range a.signedHeaders {
		var v string
		if name == "host" {
			v = r.Host
		} else {
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				return "", "signed header " + name + " is missing"
			}
			trimmed := make([]string, len(vals))
			for i, val := range vals {
				trimmed[i] = strings.Join(strings.Fields(val), " ")
			}
			v = strings.Join(trimmed, ",")
		}
		hdrs.WriteString(name + ":" + v + "\n")
	}
	bodySum := sha256.Sum256(body)
	payload := hex.EncodeToString(bodySum[:])
	creq := strings.Join([]string{r.Method, uri, strings.Join(qs, "&"), hdrs.String(), strings.Join(a.signedHeaders, ";"), payload}, "\n")
	creqSum := sha256.Sum256([]byte(creq))
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(creqSum[:])
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	k := []byte("AWS4" + secret)
	for _, part := range []string{a.date, a.region, a.service, "aws4_request"} {
		k = mac(k, part)
	}
	return hex.EncodeToString(mac(k, sts)), ""
}

func bedrockContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// awsPercentEncode encodes every byte outside A-Z a-z 0-9 - _ . ~ as %XX.
func awsPercentEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.~", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// bedrockErrorType names the exception Bedrock answers a status with.
func bedrockErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "ValidationException"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "AccessDeniedException"
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusRequestTimeout:
		return "ModelTimeoutException"
	case http.StatusFailedDependency:
		return "ModelErrorException"
	case http.StatusTooManyRequests:
		return "ThrottlingException"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	}
	if status >= 500 {
		return "InternalServerException"
	}
	return "ValidationException"
}

func writeBedrockError(w http.ResponseWriter, status int, msg string) {
	typ := bedrockErrorType(status)
	if status == http.StatusUnauthorized {
		// AWS answers authentication failures with 403.
		status, typ = http.StatusForbidden, "UnrecognizedClientException"
	}
	writeBedrockException(w, status, typ, msg)
}

func writeBedrockException(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Errortype", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	writeJSON(w, status, map[string]string{"message": msg})
}

// Request types, as far as the mock reads them.
type bedrockBlock struct {
	Text       *string          `json:"text"`
	Image      *json.RawMessage `json:"image"`
	ToolUse    *json.RawMessage `json:"toolUse"`
	ToolResult *struct {
		ToolUseID string `json:"toolUseId"`
		Content   []struct {
			Text *string          `json:"text"`
			JSON *json.RawMessage `json:"json"`
		} `json:"content"`
		Status string `json:"status"`
	} `json:"toolResult"`
}

type bedrockRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []bedrockBlock `json:"content"`
	} `json:"messages"`
	System []struct {
		Text string `json:"text"`
	} `json:"system"`
	InferenceConfig *struct {
		MaxTokens *int `json:"maxTokens"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec struct {
				Name        string `json:"name"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice json.RawMessage `json:"toolChoice"`
	} `json:"toolConfig"`
}

// bedrockPlan is the deterministic answer to a Converse request.
type bedrockPlan struct {
	words    []string
	toolName string
	toolID   string
	stop     string
	input    int
	output   int
}

// planBedrock validates req as Bedrock would and derives the answer; msg
// is a ValidationException message when req is invalid.
func planBedrock(req *bedrockRequest, seq uint64) (p bedrockPlan, msg string) {
	if len(req.Messages) == 0 {
		return p, "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	for _, s := range req.System {
		p.input += len(strings.Fields(s.Text))
	}
	hasToolBlocks := false
	lastUser, lastResult, lastIsResult := "", "", false
	for i, m := range req.Messages {
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		if m.Role != want {
			return p, fmt.Sprintf("messages.%d.role: roles must alternate between user and assistant, starting with user (got %q)", i, m.Role)
		}
		if len(m.Content) == 0 {
			return p, fmt.Sprintf("messages.%d.content: the content field must not be empty", i)
		}
		var texts []string
		lastIsResult = false
		for j, b := range m.Content {
			n := 0
			if b.Text != nil {
				n++
				if strings.TrimSpace(*b.Text) == "" {
					return p, fmt.Sprintf("messages.%d.content.%d.text: the text field is blank", i, j)
				}
				texts = append(texts, *b.Text)
			}
			if b.Image != nil {
				n++
			}
			if b.ToolUse != nil {
				n++
				hasToolBlocks = true
				if m.Role != "assistant" {
					return p, fmt.Sprintf("messages.%d.content.%d: toolUse is only allowed in assistant messages", i, j)
				}
			}
			if b.ToolResult != nil {
				n++
				hasToolBlocks = true
				if m.Role != "user" {
					return p, fmt.Sprintf("messages.%d.content.%d: toolResult is only allowed in user messages", i, j)
				}
				var rt []string
				for _, c := range b.ToolResult.Content {
					switch {
					case c.Text != nil:
						rt = append(rt, *c.Text)
					case c.JSON != nil:
						rt = append(rt, string(*c.JSON))
					}
				}
				lastResult, lastIsResult = strings.Join(rt, " "), true
				p.input += len(strings.Fields(lastResult))
			}
			if n != 1 {
				return p, fmt.Sprintf("messages.%d.content.%d: a content block must have exactly one member", i, j)
			}
		}
		t := strings.Join(texts, " ")
		p.input += len(strings.Fields(t))
		if m.Role == "user" {
			lastUser = t
		}
	}
	if req.Messages[len(req.Messages)-1].Role != "user" {
		return p, "A conversation must end with a user message."
	}
	hasTools := req.ToolConfig != nil && len(req.ToolConfig.Tools) > 0
	if hasToolBlocks && !hasTools {
		return p, "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	}
	if req.ToolConfig != nil {
		for i, t := range req.ToolConfig.Tools {
			if t.ToolSpec.Name == "" || len(t.ToolSpec.InputSchema.JSON) == 0 {
				return p, fmt.Sprintf("toolConfig.tools.%d.toolSpec: name and inputSchema.json are required", i)
			}
		}
	}
	p.input = max(p.input, 1)
	p.stop = "end_turn"
	switch {
	case lastIsResult:
		p.words = strings.Fields("the tool said: " + truncate(lastResult, maxEchoChars))
	case hasTools && strings.Contains(strings.ToLower(lastUser), "weather"):
		p.toolName = req.ToolConfig.Tools[0].ToolSpec.Name
		p.toolID = "tooluse_mock_" + strconv.FormatUint(seq, 10)
		p.stop = "tool_use"
		p.output = len(bedrockToolPieces)
		return p, ""
	default:
		p.words = strings.Fields(replyPrefix + truncate(lastUser, maxEchoChars))
	}
	if ic := req.InferenceConfig; ic != nil && ic.MaxTokens != nil {
		if *ic.MaxTokens < 1 {
			return p, "inferenceConfig.maxTokens: must be at least 1"
		}
		if len(p.words) > *ic.MaxTokens {
			p.words, p.stop = p.words[:*ic.MaxTokens], "max_tokens"
		}
	}
	p.output = len(p.words)
	return p, ""
}

// bedrockToolPieces are the streamed pieces of the mock's tool input.
var bedrockToolPieces = []string{`{"city": `, `"Paris"}`}

func (p *bedrockPlan) usage() map[string]int {
	return map[string]int{"inputTokens": p.input, "outputTokens": p.output, "totalTokens": p.input + p.output}
}

func serveBedrock(s *Server, w http.ResponseWriter, r *http.Request, body []byte, seq uint64, k knobs) {
	w.Header().Set("X-Amzn-Requestid", "mock-bedrock-"+strconv.FormatUint(seq, 10))
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeBedrockException(w, http.StatusMethodNotAllowed, "UnknownOperationException", "method not allowed")
		return
	}
	if s.opts.APIKey != "" && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		if why := bedrockVerify(r, body, s.opts.APIKey); why != "" {
			writeBedrockException(w, http.StatusForbidden, "InvalidSignatureException", why)
			return
		}
	}
	var req bedrockRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeBedrockException(w, http.StatusBadRequest, "ValidationException", "Malformed input request: "+err.Error())
		return
	}
	plan, msg := planBedrock(&req, seq)
	if msg != "" {
		writeBedrockException(w, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/converse") {
		if k.failAfter >= 0 {
			abort()
		}
		var content []any
		if plan.toolID != "" {
			content = append(content, map[string]any{"toolUse": map[string]any{"toolUseId": plan.toolID, "name": plan.toolName,
				"input": map[string]string{"city": "Paris"}}})
		} else {
			content = append(content, map[string]string{"text": strings.Join(plan.words, " ")})
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
			"stopReason": plan.stop,
			"usage":      plan.usage(),
			"metrics":    map[string]int{"latencyMs": 1},
		})
		return
	}
	delay := s.opts.ChunkDelay
	if k.hasChunk {
		delay = k.chunkDelay
	}
	streamBedrock(w, r, &plan, delay, k.failAfter)
}

// bedrockFrame encodes one event-stream message with string headers.
func bedrockFrame(headers [][2]string, payload []byte) []byte {
	var h bytes.Buffer
	for _, kv := range headers {
		h.WriteByte(byte(len(kv[0])))
		h.WriteString(kv[0])
		h.WriteByte(7) // string
		_ = binary.Write(&h, binary.BigEndian, uint16(len(kv[1])))
		h.WriteString(kv[1])
	}
	total := 12 + h.Len() + len(payload) + 4
	out := make([]byte, 0, total)
	out = binary.BigEndian.AppendUint32(out, uint32(total))
	out = binary.BigEndian.AppendUint32(out, uint32(h.Len()))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
	out = append(out, h.Bytes()...)
	out = append(out, payload...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
}

// BedrockEventFrame returns the event-stream frame of a converse-stream
// event: eventType (messageStart, contentBlockDelta, ...) with payload v
// as JSON.
func BedrockEventFrame(eventType string, v any) []byte {
	b, _ := json.Marshal(v)
	return bedrockFrame([][2]string{{":event-type", eventType}, {":content-type", "application/json"}, {":message-type", "event"}}, b)
}

// BedrockExceptionFrame returns the frame of a mid-stream exception such
// as "throttlingException".
func BedrockExceptionFrame(exceptionType, message string) []byte {
	b, _ := json.Marshal(map[string]string{"message": message})
	return bedrockFrame([][2]string{{":exception-type", exceptionType}, {":content-type", "application/json"}, {":message-type", "exception"}}, b)
}

// streamBedrock writes plan as converse-stream frames: messageStart, the
// content block(s), messageStop, then metadata with the usage.
func streamBedrock(w http.ResponseWriter, r *http.Request, plan *bedrockPlan, delay time.Duration, failAfter int) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	exception := r.Header.Get(HeaderException)
	if exception == "" {
		exception = "modelStreamErrorException"
	}
	frames := 0
	send := func(eventType string, v map[string]any) bool {
		if failAfter >= 0 && frames >= failAfter {
			if exception == "abort" {
				abort()
			}
			_, _ = w.Write(BedrockExceptionFrame(exception, fmt.Sprintf("mockllm: simulated %s after %d frames (%s)", exception, frames, HeaderFailAfter)))
			_ = rc.Flush()
			return false
		}
		if frames > 0 && !sleep(r, delay) {
			return false
		}
		// Bedrock pads payloads with a "p" field to hide their length.
		v["p"] = strings.Repeat("x", frames%7)
		if _, err := w.Write(BedrockEventFrame(eventType, v)); err != nil || rc.Flush() != nil {
			return false
		}
		frames++
		return true
	}
	if !send("messageStart", map[string]any{"role": "assistant"}) {
		return
	}
	if plan.toolID != "" {
		if !send("contentBlockStart", map[string]any{"contentBlockIndex": 0, "start": map[string]any{"toolUse": map[string]string{"toolUseId": plan.toolID, "name": plan.toolName}}}) {
			return
		}
		for _, piece := range bedrockToolPieces {
			if !send("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"toolUse": map[string]string{"input": piece}}}) {
				return
			}
		}
	} else {
		for i, word := range plan.words {
			if i < len(plan.words)-1 {
				word += " "
			}
			if !send("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": word}}) {
				return
			}
		}
	}
	if !send("contentBlockStop", map[string]any{"contentBlockIndex": 0}) ||
		!send("messageStop", map[string]any{"stopReason": plan.stop}) {
		return
	}
	send("metadata", map[string]any{"usage": plan.usage(), "metrics": map[string]int{"latencyMs": 1}})
}
