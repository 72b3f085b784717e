package providers

import (
	"math"
	"testing"
)

func TestSanitizeUsage(t *testing.T) {
	tests := []struct {
		name string
		in   Usage
		want Usage
	}{
		{"in range", Usage{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 2}, Usage{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 2}},
		{"zero", Usage{}, Usage{}},
		{"negative prompt", Usage{PromptTokens: -1000000, CompletionTokens: 5}, Usage{CompletionTokens: 5, Adjusted: true}},
		{"negative everything", Usage{-1, -2, -3, -4, -5, false}, Usage{Adjusted: true}},
		{"huge", Usage{PromptTokens: math.MaxInt64, CompletionTokens: 1 << 40}, Usage{PromptTokens: MaxUsageTokens, CompletionTokens: MaxUsageTokens, Adjusted: true}},
		{"at the bound", Usage{PromptTokens: MaxUsageTokens}, Usage{PromptTokens: MaxUsageTokens}},
		{"min int", Usage{ReasoningTokens: math.MinInt64}, Usage{Adjusted: true}},
	}
	for _, tt := range tests {
		if got := SanitizeUsage(tt.in); got != tt.want {
			t.Errorf("%s: SanitizeUsage(%+v) = %+v, want %+v", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestUsageCountsBeforeSums: counts clamped one by one before they are
// added up cannot overflow into a negative (free) total.
func TestUsageCountsBeforeSums(t *testing.T) {
	var c UsageCounts
	sum := c.Of(math.MaxInt64) + c.Of(math.MaxInt64) + c.Of(5)
	u := c.Usage(Usage{PromptTokens: sum})
	if u.PromptTokens != MaxUsageTokens || !u.Adjusted {
		t.Fatalf("sum of two MaxInt64 counts: %+v", u)
	}
	var ok UsageCounts
	if u := ok.Usage(Usage{PromptTokens: ok.Of(3) + ok.Of(4)}); u.PromptTokens != 7 || u.Adjusted {
		t.Fatalf("in-range sum: %+v", u)
	}
}
