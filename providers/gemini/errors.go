package gemini

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// apiError is Google's error shape:
// {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}.
type apiError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Details []errorDetail `json:"details"`
}

// errorDetail holds the fields of the google.rpc detail types read here:
// ErrorInfo.reason and RetryInfo.retryDelay.
type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
}

// statusCodes maps a google.rpc status to its HTTP code, for an error that
// comes without one (inside a stream).
var statusCodes = map[string]int{
	"INVALID_ARGUMENT":    http.StatusBadRequest,
	"FAILED_PRECONDITION": http.StatusBadRequest,
	"OUT_OF_RANGE":        http.StatusBadRequest,
	"UNAUTHENTICATED":     http.StatusUnauthorized,
	"PERMISSION_DENIED":   http.StatusForbidden,
	"NOT_FOUND":           http.StatusNotFound,
	"ALREADY_EXISTS":      http.StatusConflict,
	"ABORTED":             http.StatusConflict,
	"RESOURCE_EXHAUSTED":  http.StatusTooManyRequests,
	"CANCELLED":           499,
	"INTERNAL":            http.StatusInternalServerError,
	"UNKNOWN":             http.StatusInternalServerError,
	"DATA_LOSS":           http.StatusInternalServerError,
	"NOT_IMPLEMENTED":     http.StatusNotImplemented,
	"UNIMPLEMENTED":       http.StatusNotImplemented,
	"UNAVAILABLE":         http.StatusServiceUnavailable,
	"DEADLINE_EXCEEDED":   http.StatusGatewayTimeout,
}

// readError turns a non-2xx answer into the client-facing error.
func readError(resp *http.Response, key string) *providers.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, providers.MaxErrorBody))
	e := parseError(body)
	if e == nil {
		// Not Google's shape (a proxy in between?): the shared reader.
		pe := providers.ReadError(&http.Response{StatusCode: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(body))})
		pe.Message = scrub(pe.Message, key)
		return pe
	}
	return e.toError(resp.StatusCode, resp.Header, key)
}

// parseError reads {"error":{...}}, or [{"error":{...}}] as the non-SSE
// stream endpoint answers; nil for anything else.
func parseError(body []byte) *apiError {
	var env struct {
		Error *apiError `json:"error"`
	}
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(t, &arr) != nil || len(arr) == 0 {
			return nil
		}
		t = arr[0]
	}
	if json.Unmarshal(t, &env) != nil || env.Error == nil {
		return nil
	}
	return env.Error
}

// toError classifies a Gemini error with the shared status mapping, then
// refines it: a rejected API key (Gemini answers 400 API_KEY_INVALID, not
// 401) is the operator's problem like a 401; RESOURCE_EXHAUSTED is a rate
// limit even though its message talks of quota; RetryInfo gives the retry
// delay when no Retry-After header does. status is the HTTP status, 0 for
// an error inside a stream (then code or the rpc status decide).
func (e *apiError) toError(status int, h http.Header, key string) *providers.Error {
	if status == 0 {
		status = e.Code
		if status < 400 || status > 599 {
			status = statusCodes[e.Status]
		}
		if status == 0 {
			status = http.StatusInternalServerError
		}
	}
	if h == nil {
		h = http.Header{}
	}
	retry := 0
	for _, d := range e.Details {
		if strings.HasPrefix(d.Reason, "API_KEY_") {
			status = http.StatusUnauthorized
		}
		if d.RetryDelay != "" {
			if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
				retry = int((dur + time.Second - 1) / time.Second)
			}
		}
	}
	if e.Status == "UNAUTHENTICATED" || e.Status == "PERMISSION_DENIED" {
		status = http.StatusUnauthorized
	}
	out := providers.StatusError(&http.Response{StatusCode: status, Header: h}, strings.ToLower(e.Status), scrub(e.Message, key))
	if status == http.StatusTooManyRequests {
		out.Type, out.Code = "rate_limit_error", "rate_limit_exceeded"
	}
	if out.RetryAfter == 0 && retry > 0 && (out.Status == http.StatusTooManyRequests || out.Status == http.StatusServiceUnavailable) {
		out.RetryAfter = retry
	}
	return out
}

// scrub removes the provider key from a message, should the upstream ever
// quote it.
func scrub(msg, key string) string {
	if key == "" || len(key) < 4 {
		return msg
	}
	return strings.ReplaceAll(msg, key, "[redacted]")
}
