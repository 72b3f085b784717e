package aigateway

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// DefaultMaxRequestBody bounds request bodies when no limit is configured.
const DefaultMaxRequestBody = 4 << 20

// inboundRequest holds the few fields of an OpenAI-format request that the
// gateway acts on. The body itself travels on as bytes.
type inboundRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int64 `json:"max_tokens"`
	MaxCompletionTokens *int64 `json:"max_completion_tokens"`
}

// maxTokensField is the name a cap on the completion is written under:
// the one the client used, max_tokens when it used none (every
// OpenAI-compatible host knows that one).
func (r *inboundRequest) maxTokensField() string {
	if r.MaxCompletionTokens != nil {
		return "max_completion_tokens"
	}
	return "max_tokens"
}

// maxTokens is the completion bound the client asked for, 0 for none.
func (r *inboundRequest) maxTokens() int64 {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

func (r *inboundRequest) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// readJSONBody checks the content type and reads at most limit bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *providers.Error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/json") {
			return nil, &providers.Error{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
				Message: "the request body must be JSON (Content-Type: application/json)"}
		}
	}
	if limit <= 0 {
		limit = DefaultMaxRequestBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &providers.Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
				Message: "the request body is larger than this gateway accepts"}
		}
		return nil, errBadRequest("invalid_body", "", "could not read the request body")
	}
	return body, nil
}

// parseInbound decodes the fields the gateway needs. It rejects bodies that
// are not one JSON object, and a missing model.
func parseInbound(body []byte) (inboundRequest, *providers.Error) {
	var in inboundRequest
	if len(body) == 0 {
		return in, errBadRequest("invalid_json", "", "the request body is empty; expected a JSON object")
	}
	if err := json.Unmarshal(body, &in); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return in, errBadRequest("invalid_type", ute.Field, "invalid type for '"+ute.Field+"': expected "+ute.Type.String())
		}
		return in, errBadRequest("invalid_json", "", "the request body is not valid JSON: "+err.Error())
	}
	if in.Model == "" {
		return in, errBadRequest("missing_model", "model", "you must provide a model parameter")
	}
	return in, nil
}

// rewriteBody returns body with the model (now current) replaced by model,
// the completion bound set to capTokens under capField when capTokens > 0, and, when forceUsage is
// set, stream_options.include_usage turned on, so the gateway can meter a
// stream the client did not ask usage for. It returns body itself when
// nothing changes.
func rewriteBody(body []byte, current, model string, forceUsage bool, capTokens int64, capField string) ([]byte, error) {
	if !forceUsage && current == model && capTokens <= 0 {
		return body, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	m, _ := json.Marshal(model)
	fields["model"] = m
	if capTokens > 0 {
		// The key's cap replaces the client's bound (or its absence), under
		// the name the client used.
		delete(fields, "max_tokens")
		delete(fields, "max_completion_tokens")
		fields[capField], _ = json.Marshal(capTokens)
	}
	if forceUsage {
		var so map[string]json.RawMessage
		if raw, ok := fields["stream_options"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &so); err != nil {
				return nil, err
			}
		}
		if so == nil {
			so = make(map[string]json.RawMessage, 1)
		}
		so["include_usage"] = json.RawMessage("true")
		raw, _ := json.Marshal(so)
		fields["stream_options"] = raw
	}
	return json.Marshal(fields)
}
