package governor

import (
	"math"
	"testing"
)

func TestCost(t *testing.T) {
	gpt4o := Price{InputPerM: 2.5, OutputPerM: 10, CachedInputPerM: 1.25}
	sonnet := Price{InputPerM: 3, OutputPerM: 15, CachedInputPerM: 0.3, CacheWritePerM: 3.75}
	plain := Price{InputPerM: 1, OutputPerM: 2}
	tests := []struct {
		name string
		p    Price
		u    Usage
		want int64
	}{
		{"zero usage", gpt4o, Usage{}, 0},
		{"prompt and completion", gpt4o, Usage{PromptTokens: 1000, CompletionTokens: 500}, 2500 + 5000},
		{"cached prompt", gpt4o, Usage{PromptTokens: 1000, CachedTokens: 400}, 600*2.5 + 400*1.25},
		{"cache reads and writes", sonnet,
			Usage{PromptTokens: 10000, CachedTokens: 2000, CacheWriteTokens: 3000, CompletionTokens: 1000},
			5000*3 + 2000*0.3 + 3000*3.75 + 1000*15}, // 41850
		{"no cache prices fall back to input", plain,
			Usage{PromptTokens: 100, CachedTokens: 50, CacheWriteTokens: 20, CompletionTokens: 10}, 100 + 20},
		{"one million tokens is the list price", sonnet, Usage{PromptTokens: 1e6, CompletionTokens: 1e6}, 18e6},
		{"rounds up a fraction", Price{InputPerM: 0.15}, Usage{PromptTokens: 1}, 1},
		{"rounds up 1.05", Price{InputPerM: 0.15}, Usage{PromptTokens: 7}, 2},
		{"no float-noise round up", Price{InputPerM: 0.15}, Usage{PromptTokens: 1000}, 150},
		{"no float-noise round up (0.1+0.2)", Price{InputPerM: 0.1, OutputPerM: 0.2}, Usage{PromptTokens: 1, CompletionTokens: 1}, 1},
		{"negative tokens clamp to zero", gpt4o, Usage{PromptTokens: -100, CompletionTokens: -5, CachedTokens: -3, CacheWriteTokens: -9}, 0},
		{"negative cached counts as zero", gpt4o, Usage{PromptTokens: 100, CachedTokens: -50}, 250},
		{"negative prices clamp to zero", Price{InputPerM: -1, OutputPerM: -2}, Usage{PromptTokens: 100, CompletionTokens: 100}, 0},
		{"NaN price is zero", Price{InputPerM: math.NaN(), OutputPerM: 1}, Usage{PromptTokens: 100, CompletionTokens: 3}, 3},
		{"cached beyond prompt still charged", Price{InputPerM: 1, CachedInputPerM: 0.5}, Usage{PromptTokens: 10, CachedTokens: 20}, 10},
		{"absurd tokens saturate", gpt4o, Usage{PromptTokens: math.MaxInt64, CompletionTokens: math.MaxInt64}, math.MaxInt64},
		{"absurd price saturates", Price{InputPerM: 1e300}, Usage{PromptTokens: 1}, math.MaxInt64},
		{"infinite price saturates", Price{InputPerM: math.Inf(1)}, Usage{PromptTokens: 1}, math.MaxInt64},
		{"infinite price, zero tokens", Price{InputPerM: math.Inf(1), OutputPerM: 1}, Usage{CompletionTokens: 2}, 2},
		{"just below the int64 edge", Price{InputPerM: 1}, Usage{PromptTokens: 1 << 62}, 1 << 62},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cost(tc.p, tc.u); got != tc.want {
				t.Fatalf("Cost = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestCostRoundingExhaustive checks ceil rounding against exact integer
// arithmetic for prices with two decimals.
func TestCostRoundingExhaustive(t *testing.T) {
	for _, cents := range []int64{1, 2, 3, 5, 7, 8, 10, 15, 25, 30, 40, 60, 110, 125, 250, 375, 1875} {
		p := Price{InputPerM: float64(cents) / 100}
		for n := int64(0); n < 5000; n++ {
			want := (n*cents + 99) / 100
			if got := Cost(p, Usage{PromptTokens: n}); got != want {
				t.Fatalf("price %.2f, %d tokens: Cost = %d, want %d", p.InputPerM, n, got, want)
			}
		}
	}
}

func TestEstimates(t *testing.T) {
	for _, tc := range []struct {
		bytes int
		want  int64
	}{
		{-1, 1}, {0, 1}, {1, 1}, {4, 1}, {5, 2}, {8, 2}, {4000, 1000}, {4001, 1001},
	} {
		if got := EstimatePromptTokens(tc.bytes); got != tc.want {
			t.Errorf("EstimatePromptTokens(%d) = %d, want %d", tc.bytes, got, tc.want)
		}
	}
	for _, tc := range []struct{ prompt, maxTokens, defaultMax, want int64 }{
		{100, 500, 4096, 600},
		{100, 0, 4096, 4196},
		{100, -1, 4096, 4196},
		{100, 0, 0, 100},
		{100, 0, -7, 100},
		{-5, 10, 0, 10},
		{math.MaxInt64, 1, 0, math.MaxInt64},
		{1, math.MaxInt64, 0, math.MaxInt64},
	} {
		if got := ReserveTokens(tc.prompt, tc.maxTokens, tc.defaultMax); got != tc.want {
			t.Errorf("ReserveTokens(%d, %d, %d) = %d, want %d", tc.prompt, tc.maxTokens, tc.defaultMax, got, tc.want)
		}
	}
}
