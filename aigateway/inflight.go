package aigateway

import (
	"net/http"
	"sync/atomic"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// DefaultMaxInflightBody is the default bound of App.MaxInflightBody.
const DefaultMaxInflightBody = 256 << 20

// Weights of a request body in the in-flight budget: the copies of it that
// its path holds at once. Passthrough holds the body and its rewritten copy;
// translation holds the body, its decoded form (strings that copy the text)
// and the provider's encoding of it, plus the encoder's growth slack.
const (
	passthroughWeight = 2
	translationWeight = 4
)

// inflightBudget bounds the request-body memory of the requests in flight.
// Request bodies (up to max_request_body each, 4 MiB by default) are the
// gateway's only large per-request allocation, so bounding their sum
// bounds the memory a burst of large requests can take, which concurrency
// alone does not.
type inflightBudget struct {
	max  int64 // <= 0: no bound
	used atomic.Int64
}

func newInflightBudget(max int64) *inflightBudget {
	if max == 0 {
		max = DefaultMaxInflightBody
	}
	return &inflightBudget{max: max}
}

// acquire reserves n bytes and reports whether they fit. A request alone in
// flight always fits, whatever its size, so that no request is refused
// forever; the body limit bounds it.
func (b *inflightBudget) acquire(n int64) bool {
	if b == nil || b.max <= 0 {
		return true
	}
	if total := b.used.Add(n); total > b.max && total != n {
		b.used.Add(-n)
		return false
	}
	return true
}

// release returns what acquire reserved.
func (b *inflightBudget) release(n int64) {
	if b != nil && b.max > 0 {
		b.used.Add(-n)
	}
}

// errGatewayBusy is the answer to a request that does not fit the budget:
// retryable, like an upstream overload.
func errGatewayBusy() *providers.Error {
	return &providers.Error{Status: http.StatusServiceUnavailable, Type: "overloaded_error", Code: "gateway_busy", RetryAfter: 1,
		Message: "the gateway is holding too many large requests; retry shortly"}
}
