package gemini

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
		{"in range", `{"promptTokenCount":10,"candidatesTokenCount":3,"thoughtsTokenCount":2,"cachedContentTokenCount":4}`,
			providers.Usage{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 4, ReasoningTokens: 2}},
		{"negative prompt", `{"promptTokenCount":-1000000,"candidatesTokenCount":3}`, providers.Usage{CompletionTokens: 3, Adjusted: true}},
		{"negative thoughts", `{"promptTokenCount":10,"candidatesTokenCount":3,"thoughtsTokenCount":-7}`,
			providers.Usage{PromptTokens: 10, CompletionTokens: 3, Adjusted: true}},
		{"sum overflow", `{"promptTokenCount":9223372036854775807,"toolUsePromptTokenCount":9223372036854775807,"candidatesTokenCount":1}`,
			providers.Usage{PromptTokens: 1073741824, CompletionTokens: 1, Adjusted: true}},
	}
	for _, tt := range tests {
		var u usageMetadata
		if err := json.Unmarshal([]byte(tt.usage), &u); err != nil {
			t.Fatal(err)
		}
		if got := u.usage(); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
