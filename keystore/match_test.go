package keystore

import "testing"

func TestMatchModel(t *testing.T) {
	tests := []struct {
		pattern, model string
		want           bool
	}{
		{"*", "gpt-4o", true},
		{"*", "openai/gpt-4o", true},
		{"gpt-*", "gpt-4o-mini", true},
		{"gpt-*", "claude-3", false},
		{"openai/*", "openai/gpt-4o", true},
		{"openai/*", "anthropic/claude", false},
		{"*/llama-*", "meta/llama-3", true},
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"gpt-4?", "gpt-4o", true},
		{"[gc]*", "claude", true},
		{"[", "[", false}, // a bad pattern matches nothing
	}
	for _, tt := range tests {
		if got := MatchModel(tt.pattern, tt.model); got != tt.want {
			t.Errorf("MatchModel(%q, %q) = %v, want %v", tt.pattern, tt.model, got, tt.want)
		}
	}
}
