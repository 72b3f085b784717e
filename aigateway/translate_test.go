package aigateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/bedrock"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/cohere"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/gemini"
)

// translatedProviders are the provider types that do not speak OpenAI's
// format, each configured against the mock's dialect for it: Caddyfile
// lines (with MOCKHOST for the mock's host:port) and the public model name.
var translatedProviders = []struct {
	name       string
	config     string
	model      string
	embeddings string // a public embedding model, "" if the provider has none
}{
	{"gemini", `provider gem gemini {
			base_url http://MOCKHOST/v1beta
			api_key ` + providerKey + `
		}
		model gemini-test gem gemini-2.0-flash
		model gemini-embed gem text-embedding-004`, "gemini-test", "gemini-embed"},
	{"anthropic", `provider ant anthropic {
			base_url http://MOCKHOST/v1
			api_key ` + providerKey + `
		}
		model claude-test ant claude-sonnet-4-5`, "claude-test", ""},
	{"cohere", `provider coh cohere {
			base_url http://MOCKHOST/v2
			api_key ` + providerKey + `
		}
		model command-test coh command-r-plus
		model cohere-embed coh embed-english-v3.0`, "command-test", "cohere-embed"},
	{"bedrock", `provider bed bedrock {
			base_url http://MOCKHOST
			region us-east-1
			access_key_id AKIDMOCK
			secret_access_key ` + providerKey + `
		}
		model nova-test bed us.amazon.nova-pro-v1:0`, "nova-test", ""},
	// OpenAI-format hosts that are translated (Mistral: strict fields,
	// 9-character tool-call ids) or reached at their own URLs (Azure).
	{"mistral", `provider mis mistral {
			base_url http://MOCKHOST/v1
			api_key ` + providerKey + `
		}
		model mistral-test mis mistral-large-latest
		model mistral-embed mis mistral-embed`, "mistral-test", "mistral-embed"},
	{"azure", `provider az azure {
			base_url http://MOCKHOST
			api_key ` + providerKey + `
			api_version 2024-10-21
		}
		model azure-test az my-gpt4o-deployment
		model azure-embed az my-embedding-deployment`, "azure-test", "azure-embed"},
}

func (e *env) loadTranslated() {
	var b strings.Builder
	for _, p := range translatedProviders {
		b.WriteString("\t\t" + strings.ReplaceAll(p.config, "MOCKHOST", strings.TrimPrefix(e.mockURL, "http://")) + "\n")
	}
	e.load(b.String())
}

var weatherTool = openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("The weather in a city"),
	Parameters: openai.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

// TestOpenAIClientToEveryProvider drives each translated provider with the
// official OpenAI SDK through the gateway: plain and streamed chat, a tool
// call (plain and streamed), the tool's result in a second turn, and
// embeddings; every answer must parse as OpenAI's and be metered.
func TestOpenAIClientToEveryProvider(t *testing.T) {
	e := newEnv(t)
	e.loadTranslated()
	k := e.createKey(map[string]any{"name": "translate"})
	client := openai.NewClient(option.WithBaseURL(gatewayURL+"/v1/"), option.WithAPIKey(k.Key), option.WithMaxRetries(0))
	ctx := context.Background()

	for _, p := range translatedProviders {
		t.Run(p.name, func(t *testing.T) {
			resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: p.model,
				Messages: []openai.ChatCompletionMessageParamUnion{
					openai.SystemMessage("be brief"),
					openai.UserMessage("hello gateway"),
				},
				MaxTokens: openai.Int(100),
			})
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			if got := resp.Choices[0].Message.Content; got != "mock reply to: hello gateway" || resp.Choices[0].FinishReason != "stop" {
				t.Fatalf("chat answer %q, finish %q", got, resp.Choices[0].FinishReason)
			}
			if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
				t.Fatalf("chat usage: %+v", resp.Usage)
			}

			stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:         p.model,
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stream to me")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "mock reply to: stream to me" || acc.Choices[0].FinishReason != "stop" {
				t.Fatalf("stream answer: %+v", acc.Choices)
			}
			if acc.Usage.CompletionTokens == 0 {
				t.Fatalf("stream usage not passed on: %+v", acc.Usage)
			}

			// A tool call, plain and streamed.
			ask := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")}
			call, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: p.model, Messages: ask,
				Tools: []openai.ChatCompletionToolUnionParam{weatherTool}})
			if err != nil {
				t.Fatalf("tool call: %v", err)
			}
			checkWeatherCall(t, "plain", call.Choices[0].FinishReason, call.Choices[0].Message.ToolCalls)
			stream = client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: p.model, Messages: ask,
				Tools: []openai.ChatCompletionToolUnionParam{weatherTool}})
			acc = openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil || len(acc.Choices) != 1 {
				t.Fatalf("streamed tool call: %v", err)
			}
			checkWeatherCall(t, "streamed", acc.Choices[0].FinishReason, acc.Choices[0].Message.ToolCalls)

			// The tool's result goes back; the id must round-trip.
			tc := call.Choices[0].Message.ToolCalls[0]
			after, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: p.model,
				Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
				Messages: append(ask, call.Choices[0].Message.ToParam(), openai.ToolMessage("sunny and warm", tc.ID))})
			if err != nil {
				t.Fatalf("tool result: %v", err)
			}
			if got := after.Choices[0].Message.Content; got != "the tool said: sunny and warm" {
				t.Fatalf("after the tool's result: %q", got)
			}

			if p.embeddings != "" {
				emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: p.embeddings,
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two"}}})
				if err != nil || len(emb.Data) != 2 || len(emb.Data[0].Embedding) == 0 || emb.Data[1].Index != 1 {
					t.Fatalf("embeddings: %v %+v", err, emb)
				}
			}
		})
	}

	// Every call was metered with its provider's tokens.
	fiveEach := func(r usageReport) bool {
		n := 0
		for _, g := range r.Groups {
			for _, p := range translatedProviders {
				if g.Group == p.model && g.Requests == 5 {
					n++
				}
			}
		}
		return n == len(translatedProviders)
	}
	rep := e.usageOf("group_by=model", fiveEach)
	for _, p := range translatedProviders {
		found := false
		for _, g := range rep.Groups {
			if g.Group == p.model {
				found = g.Requests == 5 && g.Errors == 0 && g.PromptTokens > 0 && g.CompletionTokens > 0
			}
		}
		if !found {
			t.Errorf("%s: usage %+v", p.model, rep)
		}
	}
}

func checkWeatherCall(t *testing.T, how string, finish string, calls []openai.ChatCompletionMessageToolCallUnion) {
	t.Helper()
	if finish != "tool_calls" || len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].ID == "" {
		t.Fatalf("%s tool call: finish %q, calls %+v", how, finish, calls)
	}
	var args map[string]string
	if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args["city"] != "Paris" {
		t.Fatalf("%s tool call arguments %q: %v", how, calls[0].Function.Arguments, err)
	}
}
