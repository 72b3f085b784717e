package aigateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestAnthropicClientToAnyProvider uses the official Anthropic Go SDK
// against the gateway's /v1/messages, routed by model to an OpenAI-format,
// a Gemini-format and an Anthropic-format upstream: messages, streaming,
// tool use and the tool's result, token counting, and errors in Anthropic's
// shape.
func TestAnthropicClientToAnyProvider(t *testing.T) {
	e := newEnv(t)
	e.loadTranslated()
	k := e.createKey(map[string]any{"name": "anthropic-sdk", "models": []string{"gpt-test", "gemini-test", "claude-test", "command-test", "nova-test"}})
	client := sdk.NewClient(option.WithBaseURL(gatewayURL+"/"), option.WithAPIKey(k.Key), option.WithMaxRetries(0))
	ctx := context.Background()
	weather := sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]string{"type": "string"}}, Required: []string{"city"}}, "get_weather")

	for _, model := range []string{"gpt-test", "gemini-test", "claude-test", "command-test", "nova-test"} {
		t.Run(model, func(t *testing.T) {
			msg, err := client.Messages.New(ctx, sdk.MessageNewParams{
				Model: sdk.Model(model), MaxTokens: 200,
				System:   []sdk.TextBlockParam{{Text: "be brief"}},
				Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("hello from claude code"))},
			})
			if err != nil {
				t.Fatalf("message: %v", err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "mock reply to: hello from claude code" || msg.StopReason != sdk.StopReasonEndTurn {
				t.Fatalf("message: %+v", msg)
			}
			if msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
				t.Fatalf("usage: %+v", msg.Usage)
			}

			// Streaming, through the SDK's own accumulator.
			stream := client.Messages.NewStreaming(ctx, sdk.MessageNewParams{
				Model: sdk.Model(model), MaxTokens: 200,
				Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("stream this please"))},
			})
			var acc sdk.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatalf("accumulate: %v", err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if len(acc.Content) != 1 || acc.Content[0].Text != "mock reply to: stream this please" || acc.StopReason != sdk.StopReasonEndTurn || acc.Usage.OutputTokens == 0 {
				t.Fatalf("streamed message: %+v", acc)
			}

			// Tool use, plain and streamed, then the result.
			ask := []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("What's the weather in Paris?"))}
			call, err := client.Messages.New(ctx, sdk.MessageNewParams{Model: sdk.Model(model), MaxTokens: 200, Messages: ask, Tools: []sdk.ToolUnionParam{weather}})
			if err != nil {
				t.Fatalf("tool use: %v", err)
			}
			checkToolUse(t, "plain", call)
			stream = client.Messages.NewStreaming(ctx, sdk.MessageNewParams{Model: sdk.Model(model), MaxTokens: 200, Messages: ask, Tools: []sdk.ToolUnionParam{weather}})
			acc = sdk.Message{}
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					t.Fatalf("accumulate: %v", err)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("streamed tool use: %v", err)
			}
			checkToolUse(t, "streamed", &acc)

			var toolUse sdk.ContentBlockUnion
			for _, b := range call.Content {
				if b.Type == "tool_use" {
					toolUse = b
				}
			}
			after, err := client.Messages.New(ctx, sdk.MessageNewParams{Model: sdk.Model(model), MaxTokens: 200, Tools: []sdk.ToolUnionParam{weather},
				Messages: append(ask, call.ToParam(), sdk.NewUserMessage(sdk.NewToolResultBlock(toolUse.ID, "sunny and warm", false)))})
			if err != nil {
				t.Fatalf("tool result: %v", err)
			}
			if len(after.Content) != 1 || after.Content[0].Text != "the tool said: sunny and warm" {
				t.Fatalf("after the tool's result: %+v", after.Content)
			}
		})
	}

	// Token counting where the upstream can count.
	n, err := client.Messages.CountTokens(ctx, sdk.MessageCountTokensParams{Model: "claude-test",
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("count these four words"))}})
	if err != nil || n.InputTokens == 0 {
		t.Fatalf("count_tokens: %+v %v", n, err)
	}

	// Errors arrive in Anthropic's shape, as the SDK types them.
	var apiErr *sdk.Error
	_, err = client.Messages.New(ctx, sdk.MessageNewParams{Model: "gpt-other", MaxTokens: 10,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("x"))}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Type() != "permission_error" {
		t.Fatalf("model not allowed: %v", err)
	}
	bad := sdk.NewClient(option.WithBaseURL(gatewayURL+"/"), option.WithAPIKey("aigw_wrong"), option.WithMaxRetries(0))
	_, err = bad.Messages.New(ctx, sdk.MessageNewParams{Model: "gpt-test", MaxTokens: 10,
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("x"))}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Type() != "authentication_error" {
		t.Fatalf("bad key: %v", err)
	}
}

func checkToolUse(t *testing.T, how string, m *sdk.Message) {
	t.Helper()
	if m.StopReason != sdk.StopReasonToolUse {
		t.Fatalf("%s tool use: stop reason %q: %+v", how, m.StopReason, m.Content)
	}
	for _, b := range m.Content {
		if b.Type != "tool_use" {
			continue
		}
		var in map[string]string
		if b.Name != "get_weather" || b.ID == "" || json.Unmarshal(b.Input, &in) != nil || in["city"] != "Paris" {
			t.Fatalf("%s tool use block: %+v (input %s)", how, b, b.Input)
		}
		return
	}
	t.Fatalf("%s tool use: no tool_use block in %+v", how, m.Content)
}
