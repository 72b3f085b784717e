package bedrock

import (
	"encoding/json"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestUsageSanitized: negative and absurd counts are clamped into
// [0, providers.MaxUsageTokens] before they are added up, and marked.
func TestUsageSanitized(t *testing.T) {
	tests := []struct {
		name  string
		usage string
		want  providers.Usage
	}{
		{"in range", `{"inputTokens":10,"outputTokens":3,"cacheReadInputTokens":4,"cacheWriteInputTokens":2}`,
			providers.Usage{PromptTokens: 16, CompletionTokens: 3, CachedTokens: 4, CacheWriteTokens: 2}},
		{"negative input", `{"inputTokens":-1000000,"outputTokens":3}`, providers.Usage{CompletionTokens: 3, Adjusted: true}},
		{"negative output", `{"inputTokens":10,"outputTokens":-3}`, providers.Usage{PromptTokens: 10, Adjusted: true}},
		{"sum overflow", `{"inputTokens":9223372036854775807,"outputTokens":1,"cacheWriteInputTokens":9223372036854775807}`,
			providers.Usage{PromptTokens: 1073741824, CompletionTokens: 1, CacheWriteTokens: 1073741824, Adjusted: true}},
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
