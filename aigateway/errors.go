package aigateway

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Client-facing errors are *providers.Error: one type carrying status,
// type, code and message, rendered by each inbound dialect in its own shape.

func errInvalidKey(msg string) *providers.Error {
	return &providers.Error{Status: http.StatusUnauthorized, Type: "authentication_error", Code: "invalid_api_key", Message: msg}
}

func errBadRequest(code, param, msg string) *providers.Error {
	return &providers.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: msg}
}

func errModelNotAllowed(model string) *providers.Error {
	return &providers.Error{Status: http.StatusForbidden, Type: "permission_error", Code: "model_not_allowed", Param: "model",
		Message: "this API key may not use the model '" + model + "'"}
}

func errModelNotFound(model string) *providers.Error {
	return &providers.Error{Status: http.StatusNotFound, Type: "not_found_error", Code: "model_not_found", Param: "model",
		Message: "the model '" + model + "' does not exist on this gateway"}
}

func errUpstream(status int, msg string) *providers.Error {
	code := "upstream_error"
	if status == http.StatusGatewayTimeout {
		code = "upstream_timeout"
	}
	return &providers.Error{Status: status, Type: "server_error", Code: code, Message: msg}
}

func errStoreUnavailable() *providers.Error {
	return &providers.Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "store_unavailable",
		Message: "the key store is unavailable, try again"}
}

// errStoreFull is the answer to a request the gateway cannot record: its
// store's disk is below the free-space reserve. The message does not name
// the directory; the gateway's log does.
func errStoreFull() *providers.Error {
	return &providers.Error{Status: http.StatusInsufficientStorage, Type: "server_error", Code: "insufficient_storage",
		Message: "the gateway's store is out of disk space; requests are refused until space is freed"}
}

// storeFailure is the client error for a store error: 507 when the disk is
// full, else 503.
func storeFailure(err error) *providers.Error {
	if errors.Is(err, keystore.ErrNoSpace) {
		return errStoreFull()
	}
	return errStoreUnavailable()
}

// writeError writes e in the client's dialect.
func writeError(w http.ResponseWriter, d providers.Inbound, e *providers.Error) {
	body, ct := d.EncodeError(e)
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", ct)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}
