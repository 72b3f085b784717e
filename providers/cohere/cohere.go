// Package cohere provides the "cohere" provider module: Cohere's v2 API
// (POST /v2/chat, streamed as server-sent events, and POST /v2/embed),
// translated to and from the gateway's canonical chat and embedding types.
package cohere

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/sse"
)

func init() {
	caddy.RegisterModule(Cohere{})
}

// DefaultBaseURL is Cohere's v2 API root.
const DefaultBaseURL = "https://api.cohere.com/v2"

// DefaultInputType is the embed input_type sent when the request does not
// name one (in Extra["input_type"]): Cohere's v3+ embedding models require
// it, and texts sent through an OpenAI-style embeddings call are most often
// documents to index.
const DefaultInputType = "search_document"

// now is the clock for the Created field Cohere does not send; tests pin it.
var now = time.Now

// Cohere is the provider for Cohere's v2 API. Its key is sent as
// "Authorization: Bearer".
type Cohere struct {
	providers.Upstream
}

// CaddyModule returns the Caddy module information.
func (Cohere) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway.providers.cohere",
		New: func() caddy.Module { return new(Cohere) },
	}
}

// Provision expands placeholders and builds the upstream HTTP client.
func (p *Cohere) Provision(caddy.Context) error {
	return p.Upstream.Provision(DefaultBaseURL)
}

// Cleanup releases idle upstream connections.
func (p *Cohere) Cleanup() error { return p.Upstream.Cleanup() }

// UnmarshalCaddyfile sets up the provider from the block of a
// `provider <name> cohere` line in the ai_gateway global option. Syntax:
//
//	provider <name> cohere {
//		base_url <url>        # default https://api.cohere.com/v2
//		api_key  <value>      # e.g. {env.COHERE_API_KEY}
//		header   <name> <value>
//		timeout  <duration>
//	}
//
// The dispenser's first token is the provider type.
func (p *Cohere) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return p.UnmarshalBlock(d, nil)
}

// Chat sends a chat call and translates the answer.
func (p *Cohere) Chat(ctx context.Context, req *providers.ChatRequest) (*providers.ChatResponse, error) {
	wire, err := encodeChat(req, false)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, "/chat", wire, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	return decodeChat(body, req.Model)
}

// ChatStream sends a streamed chat call; the returned Stream translates
// Cohere's events as they arrive.
func (p *Cohere) ChatStream(ctx context.Context, req *providers.ChatRequest) (providers.Stream, error) {
	wire, err := encodeChat(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, "/chat", wire, true)
	if err != nil {
		return nil, err
	}
	return newStream(resp.Body, req.Model), nil
}

// Embed sends an embed call for float vectors.
func (p *Cohere) Embed(ctx context.Context, req *providers.EmbeddingRequest) (*providers.EmbeddingResponse, error) {
	wire, err := encodeEmbed(req)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, "/embed", wire, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	return decodeEmbed(body, req)
}

// post sends a JSON body to path and returns a 2xx response; any other
// status is read and returned as a *providers.Error.
func (p *Cohere) post(ctx context.Context, path string, v any, stream bool) (*http.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	accept := providers.AcceptJSON
	if stream {
		accept = providers.AcceptEventStream
	}
	return p.Post(ctx, p.URL+path, b, accept, func(req *http.Request) {
		if p.Key != "" {
			req.Header.Set("Authorization", "Bearer "+p.Key)
		}
	}, readError)
}

// readError classifies a Cohere error answer ({"message": "..."}) with the
// shared mapping, plus Cohere's 402 (payment required: the account is out
// of credit), which is a quota problem rather than a bad request.
func readError(resp *http.Response) *providers.Error {
	e := providers.ReadError(resp)
	if resp.StatusCode == http.StatusPaymentRequired {
		e.Type, e.Code = "insufficient_quota", "insufficient_quota"
	}
	return e
}

// newStream wraps a streamed answer's body (tests feed it raw bytes).
func newStream(body io.ReadCloser, model string) *stream {
	return &stream{body: body, r: sse.NewReader(body), model: model, tools: map[int]int{}, kinds: map[int]string{}}
}

// upstreamFault is the Error for a stream the upstream broke or ended
// badly after the 200.
func upstreamFault(format string, args ...any) *providers.Error {
	e := providers.BadRequest("", format, args...)
	e.Status, e.Type, e.Code = http.StatusBadGateway, "server_error", "upstream_error"
	return e
}

// Interface guards.
var (
	_ providers.ChatProvider = (*Cohere)(nil)
	_ providers.Embedder     = (*Cohere)(nil)
	_ caddy.Provisioner      = (*Cohere)(nil)
	_ caddy.CleanerUpper     = (*Cohere)(nil)
	_ caddyfile.Unmarshaler  = (*Cohere)(nil)
)
