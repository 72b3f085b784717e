// Package mockllm implements a deterministic, dependency-free mock of the
// OpenAI HTTP API. It is the upstream used by the gateway's quickstart, its
// integration tests and its benchmarks.
//
// # Endpoints
//
//   - POST /v1/chat/completions: non-streaming and streaming (SSE) chat
//     completions. The reply is "mock reply to: " followed by the text of the
//     last user message (truncated to 200 characters), with whitespace
//     normalised to single spaces. If max_completion_tokens (or, failing that,
//     max_tokens) is positive the reply is cut to that many words and
//     finish_reason becomes "length"; otherwise it is "stop". n > 1 yields n
//     identical choices.
//   - POST /v1/embeddings: one 8-dimensional, unit-length vector per input,
//     derived from a SHA-256 hash of that input. encoding_format "base64"
//     returns little-endian float32 bytes, base64-encoded.
//   - GET /v1/models and GET /v1/models/{id}: the configured model list.
//   - GET /healthz: {"status":"ok"}; never requires authentication.
//
// Anything else answers 404 (405 for a known path with the wrong method) with
// an OpenAI-style error body.
//
// # Token accounting
//
// A "token" is a whitespace-separated word. For chat, prompt_tokens is the
// number of words across the text of all messages (at least 1) and
// completion_tokens is the number of words in the reply, times n. For
// embeddings, a string input counts its words (at least 1) and a token-array
// input counts its elements.
//
// # Test-control headers
//
// Every request may carry these headers to drive the mock's behaviour for
// that request alone. An unparsable value is answered with 400.
//
//   - X-Mock-Delay: a Go duration ("200ms", "1s") or a bare integer of
//     milliseconds. The server waits this long before doing anything else
//     (before authentication and before writing headers). It returns early,
//     writing nothing, if the client goes away.
//   - X-Mock-Status: an HTTP status in 400..599. After authentication the
//     server replies with that status and an OpenAI-style error body whose
//     type matches OpenAI's for that status (e.g. "server_error" for 5xx,
//     "requests"/"rate_limit_exceeded" for 429).
//   - X-Mock-Chunk-Delay: a duration as for X-Mock-Delay; overrides
//     Options.ChunkDelay for a streaming response.
//   - X-Mock-Fail-After: a non-negative integer N. A streaming response is
//     aborted (via panic(http.ErrAbortHandler), which resets the connection or
//     stream without a clean end) after N data events have been written and
//     flushed; N = 0 aborts right after the headers. A non-streaming
//     chat completion, or an embeddings request, is aborted before any
//     response is written.
//
// # Recording
//
// Every request the handler receives, including rejected ones, is recorded
// (method, path, a clone of its headers and its body) and can be inspected
// with [Server.Requests], e.g. to assert that the gateway forwarded its own
// provider key rather than the client's.
package mockllm

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Names of the request headers that drive per-request test behaviour. See the
// package documentation for their semantics.
const (
	// HeaderStatus makes the server reply with the given error status.
	HeaderStatus = "X-Mock-Status"
	// HeaderDelay makes the server wait before answering.
	HeaderDelay = "X-Mock-Delay"
	// HeaderChunkDelay overrides Options.ChunkDelay for one streaming request.
	HeaderChunkDelay = "X-Mock-Chunk-Delay"
	// HeaderFailAfter aborts the response after the given number of events.
	HeaderFailAfter = "X-Mock-Fail-After"
)

// DefaultModels is the model list served when Options.Models is empty.
var DefaultModels = []string{"mock-gpt", "mock-gpt-mini", "mock-small", "mock-embedding"}

// ModelsCreated is the fixed "created" timestamp reported for every model by
// GET /v1/models (2024-01-01T00:00:00Z).
const ModelsCreated int64 = 1704067200

// SystemFingerprint is the system_fingerprint reported in chat completions.
const SystemFingerprint = "fp_mockllm"

// DefaultMaxRecorded is the number of requests retained by Server.Requests
// when Options.MaxRecorded is zero.
const DefaultMaxRecorded = 10000

// maxBodyBytes bounds the size of a request body the server will read.
const maxBodyBytes = 64 << 20

// Options configures a Server. The zero value is a usable configuration: no
// authentication, no delay between stream chunks and DefaultModels.
type Options struct {
	// APIKey, if non-empty, must be presented by every request (except
	// GET /healthz) as "Authorization: Bearer <APIKey>"; otherwise the
	// server replies 401 with an OpenAI-style invalid_api_key error.
	APIKey string
	// ChunkDelay is the pause between consecutive server-sent events of a
	// streaming response. The X-Mock-Chunk-Delay header overrides it.
	ChunkDelay time.Duration
	// Models lists the model IDs returned by GET /v1/models. When empty,
	// DefaultModels is used. Requests may name any model regardless.
	Models []string
	// MaxRecorded bounds how many requests Requests retains (the most recent
	// ones are kept). Zero means DefaultMaxRecorded; a negative value
	// disables recording, which long-running servers and benchmarks want.
	MaxRecorded int
}

// Recorded is one request as received by a Server.
type Recorded struct {
	// Method is the HTTP method, e.g. "POST".
	Method string
	// Path is the URL path, e.g. "/v1/chat/completions".
	Path string
	// RawQuery is the encoded query string, without the '?'.
	RawQuery string
	// Header is a clone of the request headers.
	Header http.Header
	// Body is the complete request body (up to 64 MiB).
	Body []byte
}

// Server is a mock OpenAI API. It implements http.Handler and is safe for
// concurrent use. Create one with New.
type Server struct {
	opts   Options
	models []string
	seq    atomic.Uint64

	mu   sync.Mutex
	reqs []Recorded
}

// New returns a Server configured by opts.
func New(opts Options) *Server {
	models := opts.Models
	if len(models) == 0 {
		models = DefaultModels
	}
	if opts.MaxRecorded == 0 {
		opts.MaxRecorded = DefaultMaxRecorded
	}
	return &Server{opts: opts, models: append([]string(nil), models...)}
}

// Requests returns a copy of the requests received since New or the last
// Reset, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.reqs))
	for i, r := range s.reqs {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// Reset forgets all recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

func (s *Server) record(r *http.Request, body []byte) {
	if s.opts.MaxRecorded < 0 {
		return
	}
	rec := Recorded{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     body,
	}
	s.mu.Lock()
	if len(s.reqs) >= s.opts.MaxRecorded {
		n := copy(s.reqs, s.reqs[len(s.reqs)-s.opts.MaxRecorded+1:])
		clear(s.reqs[n:])
		s.reqs = s.reqs[:n]
	}
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.seq.Add(1)
	w.Header().Set("X-Request-Id", "req_mock_"+strconv.FormatUint(n, 10))

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	s.record(r, body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "mockllm: reading request body: "+err.Error(), "", "")
		return
	}

	k, err := parseKnobs(r.Header)
	if err != nil {
		writeError(w, http.StatusBadRequest, "mockllm: "+err.Error(), "", "")
		return
	}
	if k.delay > 0 && !sleep(r, k.delay) {
		return
	}

	path := strings.TrimSuffix(r.URL.Path, "/")
	if path == "/healthz" {
		if !allowMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}

	// Other wire dialects (Anthropic, Gemini, ...) claim their own paths and
	// carry the key and errors their own way; see dialects.go.
	for _, d := range dialects {
		if !d.Match(path) {
			continue
		}
		if s.opts.APIKey != "" && !d.Authorized(r, s.opts.APIKey) {
			d.WriteError(w, http.StatusUnauthorized, "mockllm: invalid or missing API key")
			return
		}
		if k.status != 0 {
			d.WriteError(w, k.status, fmt.Sprintf("mockllm: simulated %d %s (%s)", k.status, http.StatusText(k.status), HeaderStatus))
			return
		}
		d.Serve(s, w, r, body, n, k)
		return
	}

	if !s.authorized(w, r) {
		return
	}
	if k.status != 0 {
		writeError(w, k.status, fmt.Sprintf("mockllm: simulated %d %s (%s)", k.status, http.StatusText(k.status), HeaderStatus), "", "")
		return
	}

	switch {
	case path == "/v1/chat/completions":
		if allowMethod(w, r, http.MethodPost) {
			s.chatCompletions(w, r, body, n, k)
		}
	case path == "/v1/embeddings":
		if allowMethod(w, r, http.MethodPost) {
			s.embeddings(w, body, k)
		}
	case path == "/v1/models":
		if allowMethod(w, r, http.MethodGet) {
			s.listModels(w)
		}
	case strings.HasPrefix(path, "/v1/models/"):
		if allowMethod(w, r, http.MethodGet) {
			s.getModel(w, strings.TrimPrefix(path, "/v1/models/"))
		}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "", "unknown_url")
	}
}

// authorized reports whether r carries the configured API key, writing a 401
// error response if it does not.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.APIKey == "" {
		return true
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.opts.APIKey)) == 1 {
		return true
	}
	msg := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
	if auth != "" {
		msg = "Incorrect API key provided: " + redact(strings.TrimSpace(token)) + "."
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mockllm"`)
	writeError(w, http.StatusUnauthorized, msg, "", "invalid_api_key")
	return false
}

// redact shortens a key the way OpenAI does in its error messages.
func redact(key string) string {
	if len(key) <= 8 {
		return strings.Repeat("*", len(key))
	}
	return key[:3] + strings.Repeat("*", 8) + key[len(key)-4:]
}

func allowMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path), "", "method_not_allowed")
	return false
}

// knobs holds the parsed test-control headers of one request.
type knobs struct {
	status     int
	delay      time.Duration
	chunkDelay time.Duration
	hasChunk   bool
	failAfter  int // -1 when unset
}

func parseKnobs(h http.Header) (knobs, error) {
	k := knobs{failAfter: -1}
	var err error
	if v := h.Get(HeaderStatus); v != "" {
		k.status, err = strconv.Atoi(strings.TrimSpace(v))
		if err != nil || k.status < 400 || k.status > 599 {
			return k, fmt.Errorf("invalid %s %q: want an HTTP status in 400..599", HeaderStatus, v)
		}
	}
	if v := h.Get(HeaderDelay); v != "" {
		if k.delay, err = parseDelay(v); err != nil {
			return k, fmt.Errorf("invalid %s %q: %v", HeaderDelay, v, err)
		}
	}
	if v := h.Get(HeaderChunkDelay); v != "" {
		if k.chunkDelay, err = parseDelay(v); err != nil {
			return k, fmt.Errorf("invalid %s %q: %v", HeaderChunkDelay, v, err)
		}
		k.hasChunk = true
	}
	if v := h.Get(HeaderFailAfter); v != "" {
		k.failAfter, err = strconv.Atoi(strings.TrimSpace(v))
		if err != nil || k.failAfter < 0 {
			return k, fmt.Errorf("invalid %s %q: want a non-negative integer", HeaderFailAfter, v)
		}
	}
	return k, nil
}

// parseDelay accepts a Go duration or a bare integer number of milliseconds.
func parseDelay(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms < 0 {
			return 0, errors.New("negative delay")
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New(`want a duration such as "200ms" or a number of milliseconds`)
	}
	if d < 0 {
		return 0, errors.New("negative delay")
	}
	return d, nil
}

// sleep waits for d or until the request's context is done, reporting
// whether the full delay elapsed.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// apiError is the OpenAI error envelope.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// writeError writes an OpenAI-style error body. Empty param and code are
// encoded as null; the type is derived from the status as OpenAI does.
func writeError(w http.ResponseWriter, status int, msg, param, code string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "requests"
		if code == "" {
			code = "rate_limit_exceeded"
		}
	case status >= 500:
		typ = "server_error"
	}
	body := apiError{Error: apiErrorBody{Message: msg, Type: typ}}
	if param != "" {
		body.Error.Param = &param
	}
	if code != "" {
		body.Error.Code = &code
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// model is one entry of the /v1/models list.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func newModel(id string) model {
	return model{ID: id, Object: "model", Created: ModelsCreated, OwnedBy: "mockllm"}
}

func (s *Server) listModels(w http.ResponseWriter) {
	data := make([]model, len(s.models))
	for i, id := range s.models {
		data[i] = newModel(id)
	}
	writeJSON(w, http.StatusOK, struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{"list", data})
}

func (s *Server) getModel(w http.ResponseWriter, id string) {
	for _, m := range s.models {
		if m == id {
			writeJSON(w, http.StatusOK, newModel(id))
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist", id), "model", "model_not_found")
}

// abort ends the handler without a clean response, as a crashed or
// disconnected upstream would.
func abort() {
	panic(http.ErrAbortHandler)
}
