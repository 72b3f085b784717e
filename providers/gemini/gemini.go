// Package gemini provides the "gemini" provider module: Google's Gemini
// Developer API (the Generative Language API), spoken natively so that
// tools, images, JSON output, usage details and streams translate exactly.
//
// The codec lives in request.go (canonical → Gemini), response.go and
// stream.go (Gemini → canonical), schema.go (JSON Schema → Gemini's OpenAPI
// subset), errors.go and embed.go.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(Gemini{})
}

// DefaultBaseURL is the Gemini Developer API root, version included.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Gemini is the provider for the Gemini Developer API. Its key is sent in
// the x-goog-api-key header, never in the query string (URLs end up in
// logs).
type Gemini struct {
	providers.Upstream
}

// CaddyModule returns the Caddy module information.
func (Gemini) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  providers.Namespace + ".gemini",
		New: func() caddy.Module { return new(Gemini) },
	}
}

// Provision expands placeholders and builds the upstream HTTP client.
func (p *Gemini) Provision(caddy.Context) error {
	return p.Upstream.Provision(DefaultBaseURL)
}

// Cleanup releases idle upstream connections.
func (p *Gemini) Cleanup() error { return p.Upstream.Cleanup() }

// UnmarshalCaddyfile sets up the provider from the block of a
// `provider <name> gemini` line in the ai_gateway global option. Syntax:
//
//	provider <name> gemini {
//		base_url <url>       # default https://generativelanguage.googleapis.com/v1beta
//		api_key  <value>     # e.g. {env.GEMINI_API_KEY}
//		header   <name> <value>
//		timeout  <duration>
//	}
//
// The dispenser's first token is the provider type.
func (p *Gemini) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return p.Upstream.UnmarshalBlock(d, nil)
}

// Chat sends a non-streamed generateContent call.
func (p *Gemini) Chat(ctx context.Context, req *providers.ChatRequest) (*providers.ChatResponse, error) {
	body, err := encodeRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, req.Model, "generateContent", "", body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	out, err := decodeResponse(raw, req.Model, req.N)
	if err != nil {
		if pe, ok := err.(*providers.Error); ok {
			pe.Message = scrub(pe.Message, p.Key)
		}
		return nil, err
	}
	return out, nil
}

// ChatStream sends a streamGenerateContent call with alt=sse (without it
// Gemini streams one JSON array, which is not SSE).
func (p *Gemini) ChatStream(ctx context.Context, req *providers.ChatRequest) (providers.Stream, error) {
	body, err := encodeRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, req.Model, "streamGenerateContent", "alt=sse", body, true)
	if err != nil {
		return nil, err
	}
	return newStream(resp.Body, req.Model, p.Key), nil
}

// maxResponseBody bounds a non-streamed answer; a bigger one is an
// upstream fault, not something to buffer without end.
const maxResponseBody = 64 << 20

// readBody reads a complete 2xx answer, classifying a cut-off read as an
// upstream failure.
func readBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	if len(b) > maxResponseBody {
		return nil, &providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_error",
			Message: "the upstream provider's answer is larger than the gateway accepts"}
	}
	return b, nil
}

// modelPath returns the URL path of a model's resource: "models/<m>" for a
// bare name (or one already prefixed) and "tunedModels/<m>" for a tuned one.
// The name is escaped so that it can name nothing but that one resource.
func modelPath(model string) (string, error) {
	coll, name := "models", model
	if rest, ok := strings.CutPrefix(model, "models/"); ok {
		name = rest
	} else if rest, ok := strings.CutPrefix(model, "tunedModels/"); ok {
		coll, name = "tunedModels", rest
	}
	if name == "" || name == "." || name == ".." {
		return "", providers.BadRequest("model", "invalid Gemini model name %q", model)
	}
	return coll + "/" + url.PathEscape(name), nil
}

// post sends one call to {base}/{model}:{method}. A non-2xx answer becomes
// a *providers.Error (the body is closed); a 2xx response is returned open.
func (p *Gemini) post(ctx context.Context, model, method, query string, body []byte, stream bool) (*http.Response, error) {
	mp, err := modelPath(model)
	if err != nil {
		return nil, err
	}
	u := p.URL + "/" + mp + ":" + method
	if query != "" {
		u += "?" + query
	}
	accept := providers.AcceptJSON
	if stream {
		accept = providers.AcceptEventStream
	}
	return p.Post(ctx, u, body, accept, func(req *http.Request) {
		if p.Key != "" {
			req.Header.Set("x-goog-api-key", p.Key)
		}
	}, func(resp *http.Response) *providers.Error { return readError(resp, p.Key) })
}

// marshal encodes a wire value without escaping <, > and & (Gemini does
// not need it, and it keeps bodies byte-comparable with what clients sent).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Interface guards.
var (
	_ providers.ChatProvider = (*Gemini)(nil)
	_ providers.Embedder     = (*Gemini)(nil)
	_ caddy.Provisioner      = (*Gemini)(nil)
	_ caddy.CleanerUpper     = (*Gemini)(nil)
	_ caddyfile.Unmarshaler  = (*Gemini)(nil)
)

// NeedsInlineImages reports that images must be sent as bytes: the gateway
// fetches image URLs before the request reaches this provider.
func (*Gemini) NeedsInlineImages() bool { return true }

var _ providers.InlineImages = (*Gemini)(nil)
