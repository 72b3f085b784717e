package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// newMockProvider provisions the module against the bundled mock.
func newMockProvider(t *testing.T, key string, headers http.Header) (*Gemini, *mockllm.Server) {
	t.Helper()
	mock := mockllm.New(mockllm.Options{APIKey: "k"})
	ts := httptest.NewServer(mock)
	t.Cleanup(ts.Close)
	p := &Gemini{Upstream: providers.Upstream{BaseURL: ts.URL + "/v1beta/", APIKey: key, Headers: headers}}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p, mock
}

func user(s string) providers.Message {
	return providers.Message{Role: providers.RoleUser, Parts: text(s)}
}

func TestE2EChat(t *testing.T) {
	p, mock := newMockProvider(t, "k", nil)
	resp, err := p.Chat(context.Background(), &providers.ChatRequest{
		Model: "gemini-test",
		Messages: []providers.Message{
			{Role: providers.RoleSystem, Parts: text("be nice")},
			user("hello   there"),
		},
		User: "someone",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Text() != "mock reply to: hello there" || resp.Choices[0].FinishReason != providers.FinishStop {
		t.Fatalf("response = %+v", resp)
	}
	if resp.Usage.PromptTokens != 4 || resp.Usage.CompletionTokens != 5 || resp.Model != "gemini-test" || resp.ID == "" {
		t.Errorf("usage/model/id = %+v %q %q", resp.Usage, resp.Model, resp.ID)
	}
	reqs := mock.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d upstream requests", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1beta/models/gemini-test:generateContent" || r.RawQuery != "" {
		t.Errorf("upstream URL = %s?%s", r.Path, r.RawQuery)
	}
	if r.Header.Get("x-goog-api-key") != "k" || r.Header.Get("Authorization") != "" {
		t.Errorf("key headers = %v", r.Header)
	}
	if strings.Contains(string(r.Body), "someone") {
		t.Errorf("user sent upstream: %s", r.Body)
	}
}

func TestE2EStream(t *testing.T) {
	p, mock := newMockProvider(t, "k", nil)
	s, err := p.ChatStream(context.Background(), &providers.ChatRequest{Model: "gemini-test", Messages: []providers.Message{user("one two three")}, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := drain(t, s, 100)
	checkOrder(t, evs)
	var sb strings.Builder
	texts := 0
	for _, ev := range evs {
		if ev.Type == providers.EventText {
			sb.WriteString(ev.Text)
			texts++
		}
	}
	if sb.String() != "mock reply to: one two three" || texts < 2 {
		t.Errorf("text = %q in %d events", sb.String(), texts)
	}
	last := evs[len(evs)-1]
	fin := evs[len(evs)-2]
	if evs[0].Type != providers.EventStart || fin.Type != providers.EventFinish || fin.FinishReason != providers.FinishStop ||
		last.Type != providers.EventUsage || *last.Usage != (providers.Usage{PromptTokens: 3, CompletionTokens: 6}) {
		t.Errorf("events = %+v", evs)
	}
	r := mock.Requests()[0]
	if r.Path != "/v1beta/models/gemini-test:streamGenerateContent" || r.RawQuery != "alt=sse" || r.Header.Get("x-goog-api-key") != "k" {
		t.Errorf("upstream request = %s?%s %v", r.Path, r.RawQuery, r.Header)
	}
}

func TestE2EToolCalls(t *testing.T) {
	p, _ := newMockProvider(t, "k", nil)
	req := &providers.ChatRequest{
		Model:    "gemini-test",
		Messages: []providers.Message{user("What is the weather in Paris?")},
		Tools:    []providers.Tool{weatherTool, timeTool},
	}
	resp, err := p.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	c := resp.Choices[0]
	want := []providers.ToolCall{{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris"}`}}
	if c.FinishReason != providers.FinishToolCalls || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0] != want[0] {
		t.Fatalf("choice = %+v", c)
	}

	s, err := p.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s, 100)
	_ = s.Close()
	checkOrder(t, evs)
	var call, args, fin *providers.Event
	for i := range evs {
		switch evs[i].Type {
		case providers.EventToolCall:
			call = &evs[i]
		case providers.EventToolArgs:
			args = &evs[i]
		case providers.EventFinish:
			fin = &evs[i]
		}
	}
	if call == nil || call.ToolID != "call_0" || call.ToolName != "get_weather" || args == nil || args.Text != `{"city":"Paris"}` ||
		fin == nil || fin.FinishReason != providers.FinishToolCalls {
		t.Fatalf("events = %+v", evs)
	}

	// The result goes back, named by the call it answers.
	req.Messages = append(req.Messages,
		providers.Message{Role: providers.RoleAssistant, ToolCalls: c.Message.ToolCalls},
		providers.Message{Role: providers.RoleTool, ToolCallID: "call_0", Parts: text("18C and sunny")})
	resp, err = p.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "the tool said: 18C and sunny" {
		t.Errorf("reply = %q", got)
	}
}

func TestE2EEmbed(t *testing.T) {
	p, mock := newMockProvider(t, "k", nil)
	one, err := p.Embed(context.Background(), &providers.EmbeddingRequest{Model: "text-embedding-004", Inputs: []string{"hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Vectors) != 1 || len(one.Vectors[0]) != mockllm.EmbeddingDimensions || one.Vectors[0][0] != mockllm.Embed("hello")[0] || one.Usage.PromptTokens != 2 {
		t.Errorf("single = %+v", one)
	}
	many, err := p.Embed(context.Background(), &providers.EmbeddingRequest{Model: "text-embedding-004", Inputs: []string{"a", "bb", "hello world"}, Dimensions: ptr[int64](4)})
	if err != nil {
		t.Fatal(err)
	}
	if len(many.Vectors) != 3 || len(many.Vectors[2]) != 4 || many.Vectors[2][1] != mockllm.Embed("hello world")[1] || many.Usage.PromptTokens != 1+1+3 {
		t.Errorf("batch = %+v", many)
	}
	reqs := mock.Requests()
	if reqs[0].Path != "/v1beta/models/text-embedding-004:embedContent" || reqs[1].Path != "/v1beta/models/text-embedding-004:batchEmbedContents" {
		t.Errorf("paths = %s, %s", reqs[0].Path, reqs[1].Path)
	}
	for _, r := range reqs {
		if r.Header.Get("x-goog-api-key") != "k" {
			t.Errorf("no key on %s", r.Path)
		}
	}
}

func TestE2EErrors(t *testing.T) {
	ctx := context.Background()
	req := &providers.ChatRequest{Model: "gemini-test", Messages: []providers.Message{user("hi")}}
	asError := func(t *testing.T, err error) *providers.Error {
		t.Helper()
		var pe *providers.Error
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want *providers.Error", err)
		}
		return pe
	}

	p, _ := newMockProvider(t, "k", http.Header{"X-Mock-Status": {"429"}})
	_, err := p.Chat(ctx, req)
	if pe := asError(t, err); pe.Status != 429 || pe.Type != "rate_limit_error" {
		t.Errorf("429 → %+v", pe)
	}
	_, err = p.ChatStream(ctx, req)
	if pe := asError(t, err); pe.Status != 429 {
		t.Errorf("stream 429 → %+v", pe)
	}
	_, err = p.Embed(ctx, &providers.EmbeddingRequest{Model: "e", Inputs: []string{"x"}})
	if pe := asError(t, err); pe.Status != 429 {
		t.Errorf("embed 429 → %+v", pe)
	}

	p, _ = newMockProvider(t, "k", http.Header{"X-Mock-Status": {"503"}})
	_, err = p.Chat(ctx, req)
	if pe := asError(t, err); pe.Status != 503 || pe.Type != "overloaded_error" {
		t.Errorf("503 → %+v", pe)
	}

	p, _ = newMockProvider(t, "wrong-key", nil)
	_, err = p.Chat(ctx, req)
	if pe := asError(t, err); pe.Status != 502 || pe.Code != "upstream_auth_failed" || strings.Contains(pe.Message, "wrong-key") {
		t.Errorf("bad key → %+v", pe)
	}

	// A stream cut off by the upstream ends with an error event.
	p, _ = newMockProvider(t, "k", http.Header{"X-Mock-Fail-After": {"2"}})
	s, err := p.ChatStream(ctx, &providers.ChatRequest{Model: "gemini-test", Messages: []providers.Message{user("one two three")}})
	if err != nil {
		t.Fatal(err)
	}
	evs := drain(t, s, 100)
	_ = s.Close()
	if last := evs[len(evs)-1]; last.Type != providers.EventError || last.Err.Status != 502 {
		t.Errorf("cut-off stream events = %+v", evs)
	}

	// A translation error is returned before anything is sent.
	p, mock := newMockProvider(t, "k", nil)
	_, err = p.Chat(ctx, &providers.ChatRequest{Model: "gemini-test", Messages: []providers.Message{{Role: providers.RoleUser, Parts: []providers.Part{
		{Type: providers.PartImage, Image: &providers.Image{URL: "https://example.com/a.png"}}}}}})
	if pe := asError(t, err); pe.Status != 400 {
		t.Errorf("http image → %+v", pe)
	}
	if n := len(mock.Requests()); n != 0 {
		t.Errorf("%d requests sent for an untranslatable call", n)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`gemini {
		base_url https://example.com/v1beta
		api_key {env.GEMINI_API_KEY}
		header X-Goog-User-Project my-project
		timeout 30s
	}`)
	var p Gemini
	if err := p.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if p.BaseURL != "https://example.com/v1beta" || p.APIKey != "{env.GEMINI_API_KEY}" || p.Headers.Get("X-Goog-User-Project") != "my-project" || p.Timeout == 0 {
		t.Errorf("parsed %+v", p.Upstream)
	}
	if err := (&Gemini{}).UnmarshalCaddyfile(caddyfile.NewTestDispenser(`gemini { project x }`)); err == nil {
		t.Error("unknown option accepted")
	}
	var q Gemini
	if err := q.Provision(caddy.Context{}); err != nil || q.URL != DefaultBaseURL {
		t.Errorf("default base URL = %q, %v", q.URL, err)
	}
	raw, _ := json.Marshal(Gemini{})
	if string(raw) != "{}" {
		t.Errorf("empty config JSON = %s", raw)
	}
	if id := (Gemini{}).CaddyModule().ID; id != "ai_gateway.providers.gemini" {
		t.Errorf("module ID %q", id)
	}
}
