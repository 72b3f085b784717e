package aigateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
)

// TestOpenAISDKThroughGateway uses the official OpenAI Go SDK, which nobody
// here wrote, as the client: chat, streaming chat, embeddings and the model
// list go through the gateway to the mock upstream, which must receive the
// provider's key and never the client's.
func TestOpenAISDKThroughGateway(t *testing.T) {
	e := newEnv(t)
	k := e.createKey(map[string]any{"name": "sdk", "models": []string{"gpt-test", "embed-test"}})
	client := openai.NewClient(option.WithBaseURL(gatewayURL+"/v1/"), option.WithAPIKey(k.Key), option.WithMaxRetries(0))
	ctx := context.Background()
	e.mock.Reset()

	// Plain chat.
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")},
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "mock reply to: hello gateway" {
		t.Fatalf("chat answer: %+v", resp.Choices)
	}
	if resp.Usage.PromptTokens != 2 || resp.Usage.CompletionTokens != 5 {
		t.Fatalf("chat usage: %+v", resp.Usage)
	}

	// Streaming chat, without asking for usage: the SDK must see a normal
	// stream (the usage chunk the gateway asked for stays at the gateway).
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream to me")},
	})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		c := stream.Current()
		if len(c.Choices) == 0 {
			t.Fatalf("client got a usage-only chunk it did not ask for: %s", c.RawJSON())
		}
		acc.AddChunk(c)
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := acc.Choices[0].Message.Content; got != "mock reply to: stream to me" || chunks < 3 {
		t.Fatalf("stream content %q in %d chunks", got, chunks)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Fatalf("stream finish reason %q", acc.Choices[0].FinishReason)
	}

	// Streaming chat asking for usage: the client gets the usage chunk.
	stream = client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "gpt-test",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count my tokens")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var usageSeen bool
	for stream.Next() {
		if u := stream.Current().Usage; u.TotalTokens > 0 {
			usageSeen = u.PromptTokens == 3 && u.CompletionTokens == 6
		}
	}
	if err := stream.Err(); err != nil || !usageSeen {
		t.Fatalf("stream with include_usage: err %v, usage seen %v", err, usageSeen)
	}

	// Embeddings.
	emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "embed-test",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("embed me")},
	})
	if err != nil || len(emb.Data) != 1 || len(emb.Data[0].Embedding) != mockllm.EmbeddingDimensions {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}

	// The model list holds only what this key may use.
	page, err := client.Models.List(ctx)
	if err != nil {
		t.Fatalf("models: %v", err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "embed-test,gpt-test" {
		t.Fatalf("models listed: %v", ids)
	}

	// A model the key may not use is refused with a typed SDK error.
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-other",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	var apiErr *openai.Error
	if !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.Code != "model_not_allowed" {
		t.Fatalf("disallowed model: %v", err)
	}

	// What the upstream received: the provider key, the upstream model name,
	// never the client's key.
	reqs := e.mock.Requests()
	if len(reqs) != 4 {
		t.Fatalf("upstream got %d requests, want 4 (the model list is answered by the gateway)", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+providerKey {
			t.Fatalf("upstream Authorization = %q", got)
		}
		for name, vals := range r.Header {
			for _, v := range vals {
				if strings.Contains(v, k.Key) {
					t.Fatalf("client key forwarded upstream in %s", name)
				}
			}
		}
		if strings.Contains(string(r.Body), k.Key) {
			t.Fatal("client key forwarded upstream in the body")
		}
		if !strings.Contains(string(r.Body), `"model":"mock-gpt"`) && !strings.Contains(string(r.Body), `"model":"mock-embedding"`) {
			t.Fatalf("upstream model not substituted: %s", r.Body)
		}
	}

	// Every call was metered, streams included.
	rep := e.usageOf("key_id="+k.ID+"&group_by=model", func(r usageReport) bool { return r.requests() >= 5 })
	got := map[string][3]int64{}
	for _, g := range rep.Groups {
		got[g.Group] = [3]int64{g.Requests, g.PromptTokens, g.CompletionTokens}
	}
	if got["gpt-test"] != [3]int64{3, 2 + 3 + 3, 5 + 6 + 6} {
		t.Fatalf("usage for gpt-test: %v (all: %+v)", got["gpt-test"], rep)
	}
	if got["gpt-other"][0] != 1 || got["embed-test"][0] != 1 {
		t.Fatalf("usage: %+v", rep)
	}
}

func asOpenAIError(err error, target **openai.Error) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}
