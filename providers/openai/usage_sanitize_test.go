package openai

import (
	"encoding/json"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestDecodeUsageSanitized: negative and absurd counts from an upstream are
// clamped into [0, providers.MaxUsageTokens] and marked Adjusted, in
// answers and in stream chunks.
func TestDecodeUsageSanitized(t *testing.T) {
	tests := []struct {
		name  string
		usage string
		want  providers.Usage
	}{
		{"in range", `{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}`,
			providers.Usage{PromptTokens: 10, CompletionTokens: 3, CachedTokens: 4}},
		{"negative prompt", `{"prompt_tokens":-1000000,"completion_tokens":3}`,
			providers.Usage{CompletionTokens: 3, Adjusted: true}},
		{"negative details", `{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":-4},"completion_tokens_details":{"reasoning_tokens":-1}}`,
			providers.Usage{PromptTokens: 10, CompletionTokens: 3, Adjusted: true}},
		{"huge", `{"prompt_tokens":9223372036854775807,"completion_tokens":1000000000000}`,
			providers.Usage{PromptTokens: 1073741824, CompletionTokens: 1073741824, Adjusted: true}},
	}
	for _, tt := range tests {
		body := `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":` + tt.usage + `}`
		resp, err := DecodeChatResponse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if resp.Usage != tt.want {
			t.Errorf("%s: answer usage %+v, want %+v", tt.name, resp.Usage, tt.want)
		}
		var w wireUsage
		if err := json.Unmarshal([]byte(tt.usage), &w); err != nil {
			t.Fatal(err)
		}
		if got := decodeUsage(&w); got != tt.want {
			t.Errorf("%s: chunk usage %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
