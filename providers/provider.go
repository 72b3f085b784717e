// Package providers defines what the gateway needs from an upstream LLM
// provider. Each wire dialect lives in its own sub-package as a Caddy guest
// module in the namespace "ai_gateway.providers", so a third party can add a
// provider without touching the gateway.
//
// This package knows nothing of keys, limits or Caddy's HTTP server.
package providers

import (
	"context"
	"errors"
	"net/http"
)

// Namespace is the Caddy module namespace that provider modules register in.
const Namespace = "ai_gateway.providers"

// Operation names an API operation the gateway serves.
type Operation string

// Operations served today, named after the OpenAI API paths they answer.
const (
	OpChatCompletions Operation = "chat.completions"
	OpEmbeddings      Operation = "embeddings"
)

// Call is one request to send upstream. Body is an OpenAI-format request
// body in which the model is already the upstream model name; the provider
// adds its own credentials and URL. Client credentials are never in a Call.
type Call struct {
	Operation Operation
	// Model is the upstream model name, also in Body (Azure puts it in the
	// URL).
	Model  string
	Body   []byte
	Stream bool
	// Header holds client headers the gateway chose to forward (for example
	// OpenAI-Beta). It never holds an authorization header.
	Header http.Header
}

// Provider is what every provider module implements: chat calls in
// canonical form (see chat.go). Providers with embeddings also implement
// Embedder; providers whose wire format is OpenAI's also implement
// Passthrough.
type Provider interface {
	ChatProvider
}

// Passthrough is implemented by providers that speak the OpenAI wire
// format. When the client speaks it too, the gateway sends the client's body
// as it is (only the model rewritten) and relays the response bytes,
// metering them on the way: nothing is decoded or re-encoded.
//
// Send returns the upstream's response in the OpenAI wire format: JSON for
// non-streaming calls, `text/event-stream` chunks for streaming ones. The
// caller closes the body. An error means no response was received; it is an
// *UpstreamError when the cause is known.
type Passthrough interface {
	// PassesThrough reports whether the client's OpenAI-format body may go
	// upstream as it is. Hosts that reject fields OpenAI accepts (Mistral,
	// Groq) say no, and their requests are translated instead.
	PassesThrough() bool
	Send(ctx context.Context, call *Call) (*http.Response, error)
}

// KeyOptional is implemented by provider modules that may be used without
// an api_key: servers on the operator's own machines (openai_compatible,
// ollama, vllm, lmstudio), Bedrock (which signs with AWS credentials), the
// mock. For every other provider type, an api_key that is missing or
// expands to an empty string (an unset environment variable) stops the
// config from loading, rather than sending requests that the upstream
// refuses.
type KeyOptional interface {
	// KeyOptional reports whether this provider may go without a key.
	KeyOptional() bool
}

// UpstreamError describes a failure to get a response from the upstream.
// Its message never contains credentials.
type UpstreamError struct {
	// Timeout is true when the upstream did not answer in time.
	Timeout bool
	// Err is the underlying transport error.
	Err error
}

func (e *UpstreamError) Error() string {
	if e.Timeout {
		return "upstream timed out: " + e.Err.Error()
	}
	return "upstream unreachable: " + e.Err.Error()
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// IsTimeout reports whether err is an upstream timeout.
func IsTimeout(err error) bool {
	var ue *UpstreamError
	return errors.As(err, &ue) && ue.Timeout
}
