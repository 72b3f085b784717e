package cohere

import (
	"encoding/json"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestUsageSanitized: negative and absurd counts are clamped into
// [0, providers.MaxUsageTokens] and marked.
func TestUsageSanitized(t *testing.T) {
	tests := []struct {
		name  string
		usage string
		want  providers.Usage
	}{
		{"in range", `{"tokens":{"input_tokens":10,"output_tokens":3},"cached_tokens":4}`,
			providers.Usage{PromptTokens: 10, CompletionTokens: 3, CachedTokens: 4}},
		{"negative input", `{"tokens":{"input_tokens":-1000000,"output_tokens":3}}`, providers.Usage{CompletionTokens: 3, Adjusted: true}},
		{"negative billed", `{"billed_units":{"input_tokens":10,"output_tokens":-3}}`, providers.Usage{PromptTokens: 10, Adjusted: true}},
		{"huge", `{"tokens":{"input_tokens":1e300,"output_tokens":1}}`, providers.Usage{PromptTokens: 1073741824, CompletionTokens: 1, Adjusted: true}},
	}
	for _, tt := range tests {
		var u usage
		if err := json.Unmarshal([]byte(tt.usage), &u); err != nil {
			t.Fatal(err)
		}
		if got := u.canonical(); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
