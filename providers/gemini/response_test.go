package gemini

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func TestDecodeResponseGolden(t *testing.T) {
	for _, f := range inputs(t, "response", ".json") {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := decodeResponse(raw, "requested-model", 1)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(resp)
			checkGolden(t, golden(f), got)
		})
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":       `<html>`,
		"empty object":  `{}`,
		"no candidates": `{"candidates":[],"usageMetadata":{"promptTokenCount":1}}`,
		"bad index":     `{"candidates":[{"index":-1,"finishReason":"STOP"}]}`,
		"error body":    `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeResponse([]byte(body), "m", 1)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *providers.Error", err)
			}
			if pe.Status < 500 {
				t.Errorf("status %d, want a 5xx", pe.Status)
			}
		})
	}
}

func TestBlockedPromptGivesNChoices(t *testing.T) {
	resp, err := decodeResponse([]byte(`{"promptFeedback":{"blockReason":"SAFETY"}}`), "m", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 3 {
		t.Fatalf("%d choices, want 3", len(resp.Choices))
	}
	for i, c := range resp.Choices {
		if c.Index != i || c.FinishReason != providers.FinishContentFilter || len(c.Message.Parts) != 0 {
			t.Errorf("choice %d = %+v", i, c)
		}
	}
}

func TestMapFinish(t *testing.T) {
	for _, c := range []struct {
		reason string
		tools  bool
		want   providers.FinishReason
	}{
		{"STOP", false, providers.FinishStop},
		{"STOP", true, providers.FinishToolCalls},
		{"MAX_TOKENS", false, providers.FinishLength},
		{"MAX_TOKENS", true, providers.FinishLength},
		{"SAFETY", false, providers.FinishContentFilter},
		{"RECITATION", false, providers.FinishContentFilter},
		{"BLOCKLIST", false, providers.FinishContentFilter},
		{"PROHIBITED_CONTENT", false, providers.FinishContentFilter},
		{"SPII", false, providers.FinishContentFilter},
		{"IMAGE_SAFETY", false, providers.FinishContentFilter},
		{"LANGUAGE", false, providers.FinishContentFilter},
		{"OTHER", false, providers.FinishStop},
		{"MALFORMED_FUNCTION_CALL", true, providers.FinishStop},
		{"FINISH_REASON_UNSPECIFIED", false, providers.FinishStop},
		{"SOMETHING_NEW", false, providers.FinishStop},
		{"", false, providers.FinishStop},
	} {
		if got := mapFinish(c.reason, c.tools); got != c.want {
			t.Errorf("mapFinish(%q, %v) = %q, want %q", c.reason, c.tools, got, c.want)
		}
	}
}
