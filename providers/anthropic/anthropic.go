// Package anthropic speaks Anthropic's Messages API in both directions:
// the provider module "anthropic" sends canonical chat calls to
// api.anthropic.com (or any host serving the Messages API), and Inbound
// serves clients that speak the Messages API to the gateway.
package anthropic

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(Anthropic{})
}

// DefaultBaseURL is Anthropic's API root.
const DefaultBaseURL = "https://api.anthropic.com/v1"

// DefaultVersion is the anthropic-version header sent when none is
// configured (still the current one).
const DefaultVersion = "2023-06-01"

// Anthropic is the provider module for the Messages API.
type Anthropic struct {
	providers.Upstream
	// Version is the anthropic-version header. Default DefaultVersion.
	Version string `json:"version,omitempty"`
	// MaxTokens is the max_tokens sent when the client set none (the API
	// requires one). Default providers.DefaultMaxTokens.
	MaxTokens int64 `json:"max_tokens,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Anthropic) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway.providers.anthropic",
		New: func() caddy.Module { return new(Anthropic) },
	}
}

// Provision expands placeholders, applies defaults and builds the client.
func (p *Anthropic) Provision(caddy.Context) error {
	if p.Version == "" {
		p.Version = DefaultVersion
	}
	if p.MaxTokens < 0 {
		return fmt.Errorf("anthropic: max_tokens must be positive, got %d", p.MaxTokens)
	}
	if p.MaxTokens == 0 {
		p.MaxTokens = providers.DefaultMaxTokens
	}
	return p.Upstream.Provision(DefaultBaseURL)
}

// Cleanup releases idle upstream connections.
func (p *Anthropic) Cleanup() error { return p.Upstream.Cleanup() }

// UnmarshalCaddyfile sets up the provider from the block of a
// `provider <name> anthropic` line in the ai_gateway global option. Syntax:
//
//	provider <name> anthropic {
//		base_url   <url>        # default https://api.anthropic.com/v1
//		api_key    <value>      # sent as x-api-key
//		header     <name> <value>
//		timeout    <duration>
//		version    <anthropic-version>  # default 2023-06-01
//		max_tokens <n>          # when the client sets none; default 4096
//	}
//
// The dispenser's first token is the provider type.
func (p *Anthropic) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return p.Upstream.UnmarshalBlock(d, func(d *caddyfile.Dispenser) (bool, error) {
		switch d.Val() {
		case "version":
			if !d.AllArgs(&p.Version) {
				return true, d.ArgErr()
			}
		case "max_tokens":
			var s string
			if !d.AllArgs(&s) {
				return true, d.ArgErr()
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return true, d.Errf("max_tokens %q: want a positive integer", s)
			}
			p.MaxTokens = n
		default:
			return false, nil
		}
		return true, nil
	})
}

// post sends body to {base}{path} with the provider's credentials and
// returns the response when it is a 2xx; any other answer becomes an
// *providers.Error.
func (p *Anthropic) post(ctx context.Context, path string, body []byte, stream bool) (*http.Response, error) {
	accept := providers.AcceptJSON
	if stream {
		accept = providers.AcceptEventStream
	}
	return p.Post(ctx, p.URL+path, body, accept, func(req *http.Request) {
		req.Header.Set("anthropic-version", p.Version)
		if p.Key != "" {
			req.Header.Set("x-api-key", p.Key)
		}
	}, readError)
}

// readError classifies an error answer. Anthropic's body,
// {"type":"error","error":{"type","message"}}, is one of the shapes
// providers.ReadError reads; an overloaded_error under another 5xx status
// is still an overload (retryable elsewhere).
func readError(resp *http.Response) *providers.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, providers.MaxErrorBody))
	var w wireError
	_ = json.Unmarshal(body, &w)
	e := providers.StatusError(resp, w.Error.Type, w.Error.Message)
	if w.Error.Type == "overloaded_error" && e.Status >= 500 {
		e.Status, e.Type, e.Code = http.StatusServiceUnavailable, "overloaded_error", "overloaded"
	}
	return e
}

// Chat sends a non-streamed call.
func (p *Anthropic) Chat(ctx context.Context, req *providers.ChatRequest) (*providers.ChatResponse, error) {
	w, err := encodeRequest(req, p.MaxTokens)
	if err != nil {
		return nil, err
	}
	w.Stream = false
	body, err := w.marshal()
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, "/messages", body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	return decodeResponse(raw)
}

// ChatStream starts a streamed call.
func (p *Anthropic) ChatStream(ctx context.Context, req *providers.ChatRequest) (providers.Stream, error) {
	w, err := encodeRequest(req, p.MaxTokens)
	if err != nil {
		return nil, err
	}
	w.Stream = true
	body, err := w.marshal()
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, "/messages", body, true)
	if err != nil {
		return nil, err
	}
	return newStream(resp.Body), nil
}

// CountTokens asks the upstream how many input tokens req's prompt takes
// (POST /messages/count_tokens), so that the gateway can serve that
// endpoint for Anthropic upstreams.
func (p *Anthropic) CountTokens(ctx context.Context, req *providers.ChatRequest) (int64, error) {
	body, err := encodeCountRequest(req)
	if err != nil {
		return 0, err
	}
	resp, err := p.post(ctx, "/messages/count_tokens", body, false)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		InputTokens *int64 `json:"input_tokens"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, providers.MaxErrorBody)).Decode(&out); err != nil || out.InputTokens == nil {
		return 0, &providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
			Message: "anthropic: count_tokens answered without input_tokens"}
	}
	return *out.InputTokens, nil
}

// encodeCountRequest is the count_tokens body for req: the prompt side of
// the Messages request.
func encodeCountRequest(req *providers.ChatRequest) ([]byte, error) {
	w, err := encodeRequest(req, 1)
	if err != nil {
		return nil, err
	}
	c := wireCountRequest{Model: w.Model, System: w.System, Messages: w.Messages, Tools: w.Tools, ToolChoice: w.ToolChoice, systemEncoded: w.systemEncoded}
	return c.marshal()
}

// Interface guards.
var (
	_ providers.ChatProvider = (*Anthropic)(nil)
	_ caddy.Provisioner      = (*Anthropic)(nil)
	_ caddy.CleanerUpper     = (*Anthropic)(nil)
	_ caddyfile.Unmarshaler  = (*Anthropic)(nil)
)
