package aigateway

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is an error a client sees, in the OpenAI error shape:
// {"error":{"message","type","param","code"}}.
type apiError struct {
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
}

func (e *apiError) Error() string { return e.Message }

// Error constructors for the cases the gateway itself detects.
func errInvalidKey(msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key", Message: msg}
}

func errBadRequest(code, param, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: msg}
}

func errModelNotAllowed(model string) *apiError {
	return &apiError{Status: http.StatusForbidden, Type: "invalid_request_error", Code: "model_not_allowed", Param: "model",
		Message: "this API key may not use the model '" + model + "'"}
}

func errModelNotFound(model string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
		Message: "the model '" + model + "' does not exist on this gateway"}
}

func errUpstream(status int, msg string) *apiError {
	code := "upstream_error"
	if status == http.StatusGatewayTimeout {
		code = "upstream_timeout"
	}
	return &apiError{Status: status, Type: "api_error", Code: code, Message: msg}
}

func errInternal(msg string) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: "api_error", Code: "internal_error", Message: msg}
}

// openAIErrorBody is the wire shape of an OpenAI error.
type openAIErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// writeError writes e as an OpenAI-style error response.
func writeError(w http.ResponseWriter, e *apiError) {
	var body openAIErrorBody
	body.Error.Message = e.Message
	body.Error.Type = e.Type
	if e.Param != "" {
		body.Error.Param = &e.Param
	}
	if e.Code != "" {
		body.Error.Code = &e.Code
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(b, '\n'))
}
