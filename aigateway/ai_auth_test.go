package aigateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestAIAuthInFrontOfReverseProxy protects a backend that reverse_proxy
// serves: the key is checked and stripped, the allow-list applies, and the
// usage of JSON and streamed responses is metered.
func TestAIAuthInFrontOfReverseProxy(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "proxied", "models": []string{"mock-*"}})
	client := openai.NewClient(option.WithBaseURL(gatewayURL+"/proxied/v1/"), option.WithAPIKey(k.Key), option.WithMaxRetries(0))
	ctx := context.Background()
	e.mock.Reset()

	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "mock-gpt",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("through the proxy")},
	})
	if err != nil || resp.Choices[0].Message.Content != "mock reply to: through the proxy" {
		t.Fatalf("chat through ai_auth: %v %+v", err, resp)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "mock-small",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream through the proxy")},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		if len(stream.Current().Choices) == 0 {
			t.Fatal("usage-only chunk reached a client that did not ask for it")
		}
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil || acc.Choices[0].Message.Content != "mock reply to: stream through the proxy" {
		t.Fatalf("stream through ai_auth: %v %+v", err, acc.Choices)
	}

	// A model outside the allow-list never reaches the backend.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	if !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "model_not_allowed" {
		t.Fatalf("disallowed model through ai_auth: %v", err)
	}
	// A bad key neither.
	bad := openai.NewClient(option.WithBaseURL(gatewayURL+"/proxied/v1/"), option.WithAPIKey("aigw_nope"), option.WithMaxRetries(0))
	_, err = bad.Models.List(ctx)
	if !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("bad key through ai_auth: %v", err)
	}

	reqs := e.mock.Requests()
	if len(reqs) != 2 {
		t.Fatalf("backend saw %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer "+providerKey {
			t.Fatalf("backend Authorization = %q", r.Header.Get("Authorization"))
		}
		for name, vals := range r.Header {
			if strings.Contains(strings.Join(vals, " "), k.Key) {
				t.Fatalf("client key reached the backend in %s", name)
			}
		}
	}
	if !strings.Contains(string(reqs[1].Body), `"include_usage":true`) {
		t.Fatalf("stream not asked for usage: %s", reqs[1].Body)
	}

	rep := e.usageOf("key_id="+k.ID+"&group_by=model", func(r usageReport) bool { return r.requests() >= 3 })
	got := map[string][3]int64{}
	for _, g := range rep.Groups {
		got[g.Group] = [3]int64{g.Requests, g.PromptTokens, g.CompletionTokens}
	}
	if got["mock-gpt"] != [3]int64{1, 3, 6} || got["mock-small"] != [3]int64{1, 4, 7} || got["gpt-4o"][0] != 1 {
		t.Fatalf("usage through ai_auth: %+v", rep)
	}
}
