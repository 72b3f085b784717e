package anthropic

import (
	"encoding/json"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestUsageFromWireSanitized: negative and absurd counts are clamped into
// [0, providers.MaxUsageTokens] before they are added up, and marked.
func TestUsageFromWireSanitized(t *testing.T) {
	tests := []struct {
		name  string
		usage string
		want  providers.Usage
	}{
		{"in range", `{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":2}`,
			providers.Usage{PromptTokens: 16, CompletionTokens: 3, CachedTokens: 4, CacheWriteTokens: 2}},
		{"negative input", `{"input_tokens":-1000000,"output_tokens":3}`, providers.Usage{CompletionTokens: 3, Adjusted: true}},
		{"negative cache read", `{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":-20}`,
			providers.Usage{PromptTokens: 10, CompletionTokens: 3, Adjusted: true}},
		{"sum overflow", `{"input_tokens":9223372036854775807,"output_tokens":1,"cache_read_input_tokens":9223372036854775807}`,
			providers.Usage{PromptTokens: 1073741824, CompletionTokens: 1, CachedTokens: 1073741824, Adjusted: true}},
	}
	for _, tt := range tests {
		var w wireUsage
		if err := json.Unmarshal([]byte(tt.usage), &w); err != nil {
			t.Fatal(err)
		}
		if got := usageFromWire(w); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
