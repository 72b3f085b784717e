package aigateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
)

// billingUpstream is an OpenAI-compatible upstream that bills each chat
// request with usage(body) and answers, after delay, in JSON or, when
// asked, SSE with a usage chunk.
func billingUpstream(t *testing.T, delay time.Duration, usage func(body []byte) (prompt, completion int64)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, 400)
			return
		}
		p, c := usage(body)
		time.Sleep(delay)
		u := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, p, c, p+c)
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":%s}`, req.Model, u)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":null}]}\n\n", req.Model)
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", req.Model)
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],\"usage\":%s}\n\n", req.Model, u)
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// byteBilled bills the worst case of a byte-level tokenizer: a prompt
// token per byte of message text plus 8 per message for the chat
// template, imageTokens per image part, and the whole max_tokens.
func byteBilled(imageTokens int64) func(body []byte) (int64, int64) {
	return func(body []byte) (int64, int64) {
		var req struct {
			MaxTokens int64 `json:"max_tokens"`
			Messages  []struct {
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		var prompt int64
		for _, m := range req.Messages {
			prompt += 8
			var text string
			if json.Unmarshal(m.Content, &text) == nil {
				prompt += int64(len(text))
				continue
			}
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			_ = json.Unmarshal(m.Content, &parts)
			for _, p := range parts {
				if p.Type == "image_url" {
					prompt += imageTokens
				}
				prompt += int64(len(p.Text))
			}
		}
		return prompt, req.MaxTokens
	}
}

// TestBudgetHoldsForBytePricedPrompts: an upstream that bills a token per
// byte of text (100 concurrent requests of Chinese text, then of images by
// URL billed at the model's image maximum) cannot push settled spend past
// the budget by more than one request's reservation: the prompt is
// reserved at a bound, not at ~4 bytes a token.
func TestBudgetHoldsForBytePricedPrompts(t *testing.T) {
	e := newEnv(t)
	const imageBill = 2000 // what claude-* images are bounded by
	// Answers take a while, so that the requests are admitted together.
	url := billingUpstream(t, 200*time.Millisecond, byteBilled(imageBill))
	e.load(`		provider bytes openai_compatible {
			base_url ` + url + `/v1
			api_key k
		}
		model bytes-text bytes byte-model {
			input_price 1000000
			output_price 1000000
		}
		model bytes-images bytes claude-test {
			input_price 1000000
			output_price 1000000
		}`)
	chinese := strings.Repeat("中文字符的提示", 300) // 2,100 characters, 6,300 bytes
	image := `{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}`
	tests := []struct {
		name, body string
	}{
		{"chinese text", `{"model":"bytes-text","max_tokens":10,"messages":[{"role":"user","content":"` + chinese + `"}]}`},
		{"images by URL", `{"model":"bytes-images","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"what is in these?"},` +
			image + `,` + image + `,` + image + `]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt, completion := byteBilled(imageBill)([]byte(tt.body))
			cost := float64(prompt + completion) // $1 a token
			budget := math.Round(cost * 10.5)
			reservation := float64(governor.ReserveTokens(governor.PromptTokenBound([]byte(tt.body), governor.ImageTokenMax("claude-test")), 10, 0))
			if reservation < cost {
				t.Fatalf("a request is reserved $%v but costs $%v", reservation, cost)
			}
			k := e.createKey(map[string]any{"name": tt.name, "limits": map[string]any{"budget_usd": budget}})
			ok, refused := hammer(t, e, 100, []string{k.Key}, tt.body)
			var s spent
			e.admin("GET", "/ai_gateway/keys/"+k.ID, nil, 200, &s)
			t.Logf("%d answered, %d refused, spent $%.0f of $%.0f (a request costs $%.0f, reserves $%.0f)", ok, refused, s.Spend.SpentUSD, budget, cost, reservation)
			if ok == 0 || refused == 0 {
				t.Fatalf("%d answered, %d refused: the budget did not bite or nothing passed", ok, refused)
			}
			if s.Spend.SpentUSD > budget+reservation || s.Spend.ReservedUSD != 0 {
				t.Fatalf("spent $%v (reserved $%v) against a $%v budget: over by more than one reservation ($%v)", s.Spend.SpentUSD, s.Spend.ReservedUSD, budget, reservation)
			}
			if math.Abs(s.Spend.SpentUSD-float64(ok)*cost) > 1e-6 {
				t.Fatalf("spent $%v for %d answers of $%v", s.Spend.SpentUSD, ok, cost)
			}
		})
	}
}

// TestPriceBelongsToPublicModel: every configured model disagrees on price
// with every other, several share an upstream model, one is named like
// another's upstream model and one like a built-in model; each request is
// charged the price of the public model it was admitted for, or the
// built-in price of its upstream model when it has none, through
// ai_gateway and (by the model in the body) through ai_auth.
func TestPriceBelongsToPublicModel(t *testing.T) {
	e := newEnv(t)
	e.load(`		model expensive mock mock-gpt {
			input_price 10000
			output_price 10000
		}
		model cheap mock mock-gpt {
			input_price 1
			output_price 2
		}
		model mock-gpt mock mock-gpt {
			input_price 3
			output_price 5
		}
		model gpt-4o mock mock-gpt {
			input_price 7
			output_price 11
		}
		model builtin-4o mock gpt-4o
		model builtin-mini mock gpt-4o-mini`)
	builtin := func(name string) governor.Price {
		p, ok := governor.DefaultPrices().Lookup(name)
		if !ok {
			t.Fatalf("no built-in price for %s", name)
		}
		return p
	}
	tests := []struct {
		path, model string
		price       governor.Price
	}{
		{"/v1/chat/completions", "expensive", governor.Price{InputPerM: 10000, OutputPerM: 10000}},
		{"/v1/chat/completions", "cheap", governor.Price{InputPerM: 1, OutputPerM: 2}},
		{"/v1/chat/completions", "mock-gpt", governor.Price{InputPerM: 3, OutputPerM: 5}},
		{"/v1/chat/completions", "gpt-4o", governor.Price{InputPerM: 7, OutputPerM: 11}},
		{"/v1/chat/completions", "builtin-4o", builtin("gpt-4o")},
		{"/v1/chat/completions", "builtin-mini", builtin("gpt-4o-mini")},
		{"/proxied/v1/chat/completions", "expensive", governor.Price{InputPerM: 10000, OutputPerM: 10000}},
		{"/proxied/v1/chat/completions", "cheap", governor.Price{InputPerM: 1, OutputPerM: 2}},
	}
	for i, a := range tests {
		for _, b := range tests[i+1:] {
			if a.model != b.model && a.price == b.price {
				t.Fatalf("%s and %s have the same price: the test cannot tell them apart", a.model, b.model)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.model, func(t *testing.T) {
			k := e.createKey(map[string]any{"name": tt.model, "limits": map[string]any{"budget_usd": 1000}})
			body := `{"model":"` + tt.model + `","max_tokens":5,"messages":[{"role":"user","content":"price me these few words"}]}`
			if code, _, b := e.do("POST", tt.path, k.Key, body); code != 200 {
				t.Fatalf("%d %s", code, b)
			}
			rep := e.usageOf("key_id="+k.ID, func(r usageReport) bool { return r.requests() == 1 })
			if rep.requests() != 1 {
				t.Fatalf("usage report: %+v", rep)
			}
			g := rep.Groups[0]
			want := float64(governor.Cost(tt.price, governor.Usage{PromptTokens: g.PromptTokens, CompletionTokens: g.CompletionTokens})) / 1e6
			var s spent
			e.admin("GET", "/ai_gateway/keys/"+k.ID, nil, 200, &s)
			if g.PromptTokens == 0 || math.Abs(s.Spend.SpentUSD-want) > 1e-9 {
				t.Fatalf("%d+%d tokens charged $%v, want $%v at %+v", g.PromptTokens, g.CompletionTokens, s.Spend.SpentUSD, want, tt.price)
			}
		})
	}
}

// TestNegativeUsageAnswered: an upstream reporting negative usage still
// answers the client (JSON and streams, passed through and translated) and
// the request is recorded with 0 tokens; it used to panic the metrics.
func TestNegativeUsageAnswered(t *testing.T) {
	e := newEnv(t)
	url := billingUpstream(t, 0, func([]byte) (int64, int64) { return -1000000, -5 })
	e.load(`		provider negative openai_compatible {
			base_url ` + url + `/v1
			api_key k
		}
		model negative negative neg-model`)
	k := e.createKey(map[string]any{"name": "negative"})
	n := 0
	for _, tt := range []struct{ name, path, body string }{
		{"openai json", "/v1/chat/completions", `{"model":"negative","messages":[{"role":"user","content":"hi"}]}`},
		{"openai stream", "/v1/chat/completions", `{"model":"negative","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic json", "/v1/messages", `{"model":"negative","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`},
		{"anthropic stream", "/v1/messages", `{"model":"negative","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := e.do("POST", tt.path, k.Key, tt.body)
			if code != 200 || !strings.Contains(string(body), "ok") {
				t.Fatalf("%d %q", code, body)
			}
			if strings.HasSuffix(tt.name, "stream") && !strings.Contains(string(body), "[DONE]") && !strings.Contains(string(body), "message_stop") {
				t.Fatalf("the stream did not end: %q", body)
			}
			n++
		})
	}
	rep := e.usageOf("key_id="+k.ID, func(r usageReport) bool { return r.requests() == int64(n) })
	if rep.requests() != int64(n) {
		t.Fatalf("%d requests recorded, want %d", rep.requests(), n)
	}
	for _, g := range rep.Groups {
		if g.PromptTokens != 0 || g.CompletionTokens != 0 || g.Errors != 0 {
			t.Fatalf("recorded %+v, want 0 tokens and no errors", g)
		}
	}
}
