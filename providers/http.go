package providers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds the wait for an upstream's response headers.
const DefaultTimeout = 5 * time.Minute

// NewClient returns the HTTP client a provider sends with: a large
// keep-alive pool (many concurrent requests go to one host), HTTP/2 where
// the server offers it, a bound on the wait for response headers, and no
// redirects followed (a redirect to another host would carry the provider
// key there).
func NewClient(headerTimeout time.Duration) *http.Client {
	if headerTimeout <= 0 {
		headerTimeout = DefaultTimeout
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: headerTimeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Do sends req and classifies a failure to get a response as an
// *UpstreamError.
func Do(client *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		var ne net.Error
		timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
		return nil, &UpstreamError{Timeout: timeout, Err: err}
	}
	return resp, nil
}

// MaxErrorBody bounds how much of an upstream error body is read.
const MaxErrorBody = 1 << 20

// StatusError turns an upstream error response into the Error the client
// gets. message and upstreamType are what the upstream said (each codec
// parses its own error shape); they may be empty. The status mapping is the
// same for every provider:
//
//   - 401/403: the upstream refused the gateway's provider credentials,
//     which is the operator's problem: 502, and the upstream's message
//     (which can quote part of the key) is not passed on.
//   - 429: 429 rate_limit_error (insufficient_quota when the upstream says
//     quota), with Retry-After.
//   - 529 and 503: 503 overloaded_error, with Retry-After.
//   - other 5xx: 502 server_error.
//   - other 4xx: passed on with the upstream's message.
//   - anything else (a 3xx the client does not follow, a status outside
//     100-599): 502 upstream_error, without the upstream's text (UnexpectedStatus).
func StatusError(resp *http.Response, upstreamType, message string) *Error {
	status := resp.StatusCode
	if status < 400 || status > 599 {
		return UnexpectedStatus(status)
	}
	e := &Error{Status: status, Message: message, RetryAfter: RetryAfter(resp.Header)}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_auth_failed",
			Message: "the upstream provider rejected the gateway's credentials"}
	case status == http.StatusTooManyRequests:
		e.Type, e.Code = "rate_limit_error", "rate_limit_exceeded"
		if strings.Contains(upstreamType, "quota") || strings.Contains(strings.ToLower(message), "quota") {
			e.Type, e.Code = "insufficient_quota", "insufficient_quota"
		}
	case status == 529 || status == http.StatusServiceUnavailable:
		e.Status, e.Type, e.Code = http.StatusServiceUnavailable, "overloaded_error", "overloaded"
	case status >= 500:
		e.Status, e.Type, e.Code = http.StatusBadGateway, "server_error", "upstream_error"
	case status == http.StatusNotFound:
		e.Type, e.Code = "not_found_error", "model_not_found"
	case status == http.StatusRequestEntityTooLarge:
		e.Type, e.Code = "invalid_request_error", "request_too_large"
	default:
		e.Type = "invalid_request_error"
	}
	if e.Message == "" {
		e.Message = "the upstream provider answered HTTP " + strconv.Itoa(status)
	}
	return e
}

// UnexpectedStatus is the client's error for an upstream answer that is
// neither a success nor an error: a redirect (never followed, since it would
// carry the provider's credentials to wherever it points, and never passed
// on, since the client cannot follow it either) or a status outside HTTP's
// range. It is the upstream's fault: 502 upstream_error.
func UnexpectedStatus(status int) *Error {
	msg := "the upstream provider answered HTTP " + strconv.Itoa(status)
	if status >= 300 && status < 400 {
		msg += " (a redirect, which the gateway does not follow)"
	}
	return &Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error", Message: msg}
}

// RetryAfter reads Retry-After (seconds) or retry-after-ms, 0 if absent.
func RetryAfter(h http.Header) int {
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			return n
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := time.Until(t); d > 0 {
				return int(d.Seconds()) + 1
			}
		}
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			return (n + 999) / 1000
		}
	}
	return 0
}

// ReadError reads an upstream error response and classifies it with
// StatusError, taking the message from the usual shapes:
// {"error":{"message","type"}} (OpenAI, Anthropic, Gemini, Mistral),
// {"message":...} (Bedrock, Cohere) and {"error":"..."}.
func ReadError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	var shaped struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Type    string          `json:"type"`
	}
	var msg, typ string
	if json.Unmarshal(body, &shaped) == nil {
		msg, typ = shaped.Message, shaped.Type
		var inner struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Status  string `json:"status"`
		}
		var s string
		switch {
		case json.Unmarshal(shaped.Error, &inner) == nil && inner.Message != "":
			msg, typ = inner.Message, inner.Type
			if typ == "" {
				typ = strings.ToLower(inner.Status)
			}
		case json.Unmarshal(shaped.Error, &s) == nil && s != "":
			msg = s
		}
	}
	return StatusError(resp, typ, msg)
}
