package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// TestOfficialSDK serves the inbound dialect to the official Go SDK: its
// requests must decode, and its parser must accept our answers, streams
// and errors.
func TestOfficialSDK(t *testing.T) {
	var mu sync.Mutex
	var got *providers.ChatRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in := Inbound{}
		fail := func(e *providers.Error) {
			b, ct := in.EncodeError(e)
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(e.Status)
			_, _ = w.Write(b)
		}
		if r.URL.Path == "/v1/messages/count_tokens" {
			req, err := in.DecodeCountTokens(body)
			if err != nil {
				fail(err.(*providers.Error))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(in.EncodeCountTokens(int64(len(req.Messages))))
			return
		}
		req, err := in.DecodeChat(body)
		if err != nil {
			fail(err.(*providers.Error))
			return
		}
		mu.Lock()
		got = req
		mu.Unlock()
		if req.Model == "overloaded" {
			fail(&providers.Error{Status: 529, Type: "overloaded_error", Message: "try later"})
			return
		}
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
			enc := in.NewStreamEncoder(w, false)
			for _, ev := range streamCases[0].events {
				_ = enc.Encode(ev)
			}
			_ = enc.End()
			return
		}
		b, _ := in.EncodeChat(&providers.ChatResponse{ID: "chatcmpl-1", Model: req.Model,
			Choices: []providers.Choice{{Message: providers.Message{Role: providers.RoleAssistant,
				Parts:     []providers.Part{{Type: providers.PartText, Text: "Checking."}},
				ToolCalls: []providers.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
				FinishReason: providers.FinishToolCalls}},
			Usage: providers.Usage{PromptTokens: 30, CompletionTokens: 7, CachedTokens: 10}})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	client := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("client-key"), option.WithMaxRetries(0))
	ctx := context.Background()

	params := sdk.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 256,
		System:    []sdk.TextBlockParam{{Text: "be terse"}},
		Messages: []sdk.MessageParam{
			sdk.NewUserMessage(sdk.NewTextBlock("weather in Paris?")),
			sdk.NewAssistantMessage(sdk.NewToolUseBlock("toolu_1", map[string]string{"city": "Paris"}, "get_weather")),
			sdk.NewUserMessage(sdk.NewToolResultBlock("toolu_1", "sunny", false), sdk.NewTextBlock("and tomorrow?")),
		},
		Tools: []sdk.ToolUnionParam{sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{
			Properties: map[string]any{"city": map[string]string{"type": "string"}}, Required: []string{"city"}}, "get_weather")},
		ToolChoice:    sdk.ToolChoiceParamOfTool("get_weather"),
		StopSequences: []string{"END"},
		Metadata:      sdk.MetadataParam{UserID: sdk.String("u1")},
	}
	msg, err := client.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	req := got
	mu.Unlock()
	if req.Model != "claude-test" || *req.MaxTokens != 256 || len(req.Messages) != 5 ||
		req.Messages[0].Role != providers.RoleSystem || req.Messages[2].ToolCalls[0].Arguments != `{"city":"Paris"}` ||
		req.Messages[3].Role != providers.RoleTool || req.Messages[3].ToolCallID != "toolu_1" || req.Messages[4].Text() != "and tomorrow?" ||
		req.ToolChoice.Name != "get_weather" || req.Stop[0] != "END" || req.User != "u1" || len(req.Tools) != 1 {
		t.Errorf("decoded SDK request: %+v", req)
	}
	if msg.ID != "msg_chatcmpl-1" || msg.StopReason != sdk.StopReasonToolUse || len(msg.Content) != 2 ||
		msg.Content[0].Text != "Checking." || msg.Content[1].Name != "get_weather" || string(msg.Content[1].Input) != `{"city":"Paris"}` ||
		msg.Usage.InputTokens != 20 || msg.Usage.CacheReadInputTokens != 10 || msg.Usage.OutputTokens != 7 {
		t.Errorf("SDK message: %+v", msg)
	}

	// The stream, through the SDK's decoder and accumulator.
	stream := client.Messages.NewStreaming(ctx, params)
	var acc sdk.Message
	var events []string
	for stream.Next() {
		ev := stream.Current()
		events = append(events, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.Type, err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Content) != 3 || acc.Content[0].Text != "Let me check." || acc.Content[1].Type != "tool_use" ||
		string(acc.Content[1].Input) != `{"city":"Paris"}` || acc.Content[2].Name != "now" || string(acc.Content[2].Input) != `{}` ||
		acc.StopReason != sdk.StopReasonToolUse || acc.Usage.InputTokens != 20 || acc.Usage.CacheReadInputTokens != 100 || acc.Usage.OutputTokens != 40 {
		t.Errorf("accumulated %v: %+v", events, acc)
	}

	// Errors.
	params.Model = "overloaded"
	_, err = client.Messages.New(ctx, params)
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" {
		t.Errorf("error: %v", err)
	}
	params.Model = ""
	if _, err = client.Messages.New(ctx, params); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" {
		t.Errorf("error: %v", err)
	}

	n, err := client.Messages.CountTokens(ctx, sdk.MessageCountTokensParams{Model: "claude-test",
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("hi"))}})
	if err != nil || n.InputTokens != 1 {
		t.Errorf("CountTokens: %+v %v", n, err)
	}
}
