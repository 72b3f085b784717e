package anthropic

import (
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/providertest"
)

// FuzzEncodeRequest translates any OpenAI request into this provider's
// format: no panic, and a clear 400 for what cannot be translated.
func FuzzEncodeRequest(f *testing.F) {
	providertest.FuzzEncodeRequest(f, func(req *providers.ChatRequest) (any, error) { return encodeRequest(req, 4096) })
}
