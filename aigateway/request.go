package aigateway

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// DefaultMaxRequestBody bounds request bodies when no limit is configured.
const DefaultMaxRequestBody = 4 << 20

// inboundRequest holds the few fields of an OpenAI-format request that the
// gateway acts on. The body itself travels on as bytes. parseInbound (in
// requestbody.go) fills it.
type inboundRequest struct {
	Model  string
	Stream bool
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
	// The completion bounds, each with whether it was sent (not null).
	MaxTokens, MaxCompletionTokens       int64
	HasMaxTokens, HasMaxCompletionTokens bool
}

// maxTokensField is the name a cap on the completion is written under:
// the one the client used, max_tokens when it used none (every
// OpenAI-compatible host knows that one).
func (r *inboundRequest) maxTokensField() string {
	if r.HasMaxCompletionTokens {
		return "max_completion_tokens"
	}
	return "max_tokens"
}

// maxTokens is the completion bound the client asked for, 0 for none.
func (r *inboundRequest) maxTokens() int64 {
	switch {
	case r.HasMaxCompletionTokens:
		return r.MaxCompletionTokens
	case r.HasMaxTokens:
		return r.MaxTokens
	}
	return 0
}

func (r *inboundRequest) includeUsage() bool {
	return r.IncludeUsage
}

func errTooLarge() *providers.Error {
	return &providers.Error{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
		Message: "the request body is larger than this gateway accepts"}
}

// readJSONBody checks the content type and reads at most limit bytes.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *providers.Error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/json") {
			closeIfBodyUnread(w, r)
			return nil, &providers.Error{Status: http.StatusUnsupportedMediaType, Type: "invalid_request_error", Code: "unsupported_media_type",
				Message: "the request body must be JSON (Content-Type: application/json)"}
		}
	}
	if limit <= 0 {
		limit = DefaultMaxRequestBody
	}
	if cl := r.ContentLength; cl > 0 {
		// The length is known (net/http holds the body to it): refuse an
		// oversized body unread, and read the rest in one allocation.
		if cl > limit {
			closeIfBodyUnread(w, r)
			return nil, errTooLarge()
		}
		body := make([]byte, cl)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, errBadRequest("invalid_body", "", "could not read the request body")
		}
		return body, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge()
		}
		return nil, errBadRequest("invalid_body", "", "could not read the request body")
	}
	return body, nil
}
