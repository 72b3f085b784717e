package governor

import (
	"math"
	"strings"
	"testing"
)

// TestPromptTokenBound: the bound is at least a token per byte of text
// however it is written, adds the image maximum per image part (by URL or
// inline, whose bytes it does not count), and the tool overhead.
func TestPromptTokenBound(t *testing.T) {
	chinese := strings.Repeat("中文", 1000) // 2,000 characters, 6,000 bytes
	dataURL := "data:image/png;base64," + strings.Repeat("A", 10000)
	tests := []struct {
		name      string
		body      string
		atLeast   int64 // what a byte-level tokenizer can bill at most
		wantExact int64 // 0: not checked
	}{
		{"english", `{"model":"m","messages":[{"role":"user","content":"hello there"}]}`, 11 + 8, 0},
		{"chinese", `{"model":"m","messages":[{"role":"user","content":"` + chinese + `"}]}`, 6000 + 8, 0},
		{"escaped", `{"model":"m","messages":[{"role":"user","content":"\u4e2d\n"}]}`, 4 + 8, 0},
		{"image by URL", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}`, 100 + 1000, 0},
		{"two images, spaced", `{"messages":[{"content":[{"type": "image_url", "image_url" : {"url":"https://x/a.png"}},{"type":"image_url","image_url":"https://x/b.png"}]}]}`, 2000, 0},
		{"anthropic image", `{"messages":[{"content":[{"type":"image","source":{"type":"url","url":"https://x/a.png"}}]}]}`, 1000, 0},
		{"inline image", `{"messages":[{"content":[{"type":"image_url","image_url":{"url":"` + dataURL + `"}}]}]}`, 1000, 0},
		{"tools", `{"tools":[{"type":"function","function":{"name":"f"}}],"messages":[]}`, ToolPromptOverhead, 0},
		{"empty", ``, 1, 1},
	}
	for _, tt := range tests {
		got := PromptTokenBound([]byte(tt.body), 1000)
		if got < tt.atLeast || (tt.wantExact != 0 && got != tt.wantExact) {
			t.Errorf("%s: bound %d, want at least %d", tt.name, got, tt.atLeast)
		}
	}
	// An inline image counts as an image, not as its 10,000 bytes.
	inline := `{"messages":[{"content":[{"type":"image_url","image_url":{"url":"` + dataURL + `"}}]}]}`
	if got := PromptTokenBound([]byte(inline), 1000); got >= int64(len(inline)) {
		t.Errorf("inline image: bound %d counts the data URL's bytes (%d)", got, len(inline))
	}
	// Text that merely mentions images or tools, escaped, adds nothing.
	text := `{"messages":[{"content":"\"image_url\": \"image\", \"tools\""}]}`
	if got := PromptTokenBound([]byte(text), 1000); got != int64(len(text)) {
		t.Errorf("escaped mentions: bound %d, want %d", got, len(text))
	}
	if got := PromptTokenBound([]byte(`{"image_url":{},"image_url":{}}`), math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("saturation: %d", got)
	}
}

func TestImageTokenMax(t *testing.T) {
	for model, want := range map[string]int64{
		"gpt-4o":              1_500,
		"gpt-4o-mini":         48_200,
		"gpt-4o-mini-2024":    48_200,
		"openai/gpt-4.1-mini": 2_500,
		"claude-sonnet-4":     2_000,
		"llava-local":         DefaultImageTokenMax,
		"":                    DefaultImageTokenMax,
	} {
		if got := ImageTokenMax(model); got != want {
			t.Errorf("ImageTokenMax(%q) = %d, want %d", model, got, want)
		}
	}
}
