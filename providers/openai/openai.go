// Package openai is the OpenAI wire format: the provider modules "openai"
// (api.openai.com) and "openai_compatible" (any host that serves the OpenAI
// API: vLLM, Ollama, LM Studio, Groq, ...), and the codec that decodes and
// encodes OpenAI requests, responses and streams, for upstreams and for
// clients alike.
package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(OpenAI{})
	caddy.RegisterModule(Compatible{})
}

// DefaultBaseURL is OpenAI's API root.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config is the configuration shared by every OpenAI-format provider.
type Config struct {
	providers.Upstream

	// quirks adapt translated requests to the host.
	quirks Quirks
	// noPassthrough makes the handler translate even OpenAI-format
	// requests, for hosts that reject fields OpenAI accepts.
	noPassthrough bool
	// endpoint builds the URL of an API path for a model; nil: URL+path.
	endpoint func(path, model string) string
	// auth sets the upstream credential; nil: Authorization: Bearer.
	auth func(h http.Header)
}

// OpenAI is the provider for api.openai.com.
type OpenAI struct {
	Config
}

// CaddyModule returns the Caddy module information.
func (OpenAI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway.providers.openai",
		New: func() caddy.Module { return new(OpenAI) },
	}
}

// Provision expands placeholders and builds the upstream HTTP client.
func (p *OpenAI) Provision(ctx caddy.Context) error {
	return p.provision(ctx, DefaultBaseURL)
}

// Compatible is the provider for any host that serves the OpenAI API.
// Its base_url is required.
type Compatible struct {
	Config
}

// CaddyModule returns the Caddy module information.
func (Compatible) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway.providers.openai_compatible",
		New: func() caddy.Module { return new(Compatible) },
	}
}

// Provision expands placeholders and builds the upstream HTTP client.
func (p *Compatible) Provision(ctx caddy.Context) error {
	if p.BaseURL == "" {
		return errors.New("openai_compatible: base_url is required")
	}
	// Most compatible hosts (vLLM, Ollama, Mistral, Groq...) know only
	// max_tokens.
	p.quirks.MaxTokensField = "max_tokens"
	return p.provision(ctx, "")
}

func (c *Config) provision(_ caddy.Context, defaultBase string) error {
	return c.Upstream.Provision(defaultBase)
}

// Cleanup releases idle upstream connections.
func (c *Config) Cleanup() error {
	return c.Upstream.Cleanup()
}

// Send sends an OpenAI-format call as it is (Passthrough).
func (c *Config) Send(ctx context.Context, call *providers.Call) (*http.Response, error) {
	var path string
	switch call.Operation {
	case providers.OpChatCompletions:
		path = "/chat/completions"
	case providers.OpEmbeddings:
		path = "/embeddings"
	default:
		return nil, fmt.Errorf("operation %q not supported", call.Operation)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.urlFor(path, call.Model), bytes.NewReader(call.Body))
	if err != nil {
		return nil, err
	}
	for name, vals := range call.Header {
		req.Header[name] = vals
	}
	c.setHeaders(req.Header, call.Stream)
	return providers.Do(c.Client, req)
}

// PassesThrough reports whether OpenAI-format bodies go upstream as they are.
func (c *Config) PassesThrough() bool { return !c.noPassthrough }

func (c *Config) urlFor(path, model string) string {
	if c.endpoint != nil {
		return c.endpoint(path, model)
	}
	return c.URL + path
}

func (c *Config) setHeaders(h http.Header, stream bool) {
	c.SetHeaders(h)
	h.Set("Content-Type", "application/json")
	if stream {
		h.Set("Accept", providers.AcceptEventStream)
	} else {
		h.Set("Accept", providers.AcceptJSON)
	}
	c.setAuth(h)
}

// setAuth sets the upstream credential.
func (c *Config) setAuth(h http.Header) {
	switch {
	case c.auth != nil:
		c.auth(h)
	case c.Key != "":
		h.Set("Authorization", "Bearer "+c.Key)
	}
}

// post sends a JSON body and returns the response, or the upstream's
// error as a *providers.Error.
func (c *Config) post(ctx context.Context, path, model string, body []byte, stream bool) (*http.Response, error) {
	accept := providers.AcceptJSON
	if stream {
		accept = providers.AcceptEventStream
	}
	return c.Post(ctx, c.urlFor(path, model), body, accept, func(req *http.Request) { c.setAuth(req.Header) }, nil)
}

// maxResponse bounds a non-streamed upstream answer.
const maxResponse = 64 << 20

// Chat sends a canonical chat request and decodes the answer.
func (c *Config) Chat(ctx context.Context, req *providers.ChatRequest) (*providers.ChatResponse, error) {
	r := *req
	r.Stream = false
	body, err := EncodeChatRequest(&r, &c.quirks)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, "/chat/completions", req.Model, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	return DecodeChatResponse(b)
}

// ChatStream sends a canonical chat request and streams the answer.
func (c *Config) ChatStream(ctx context.Context, req *providers.ChatRequest) (providers.Stream, error) {
	r := *req
	r.Stream = true
	body, err := EncodeChatRequest(&r, &c.quirks)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, "/chat/completions", req.Model, body, true)
	if err != nil {
		return nil, err
	}
	return NewStream(resp.Body), nil
}

// Embed computes embeddings.
func (c *Config) Embed(ctx context.Context, req *providers.EmbeddingRequest) (*providers.EmbeddingResponse, error) {
	input, _ := json.Marshal(req.Inputs)
	if raw, ok := req.Extra["input"]; ok && len(req.Inputs) == 0 {
		input = raw // token arrays, passed as they came
	}
	body, err := json.Marshal(wireEmbeddingRequest{Model: req.Model, Input: input, Dimensions: req.Dimensions, User: req.User})
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, "/embeddings", req.Model, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	var w wireEmbeddingResponse
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("decoding the upstream's embeddings: %w", err)
	}
	out := &providers.EmbeddingResponse{Model: w.Model, Vectors: make([][]float32, len(w.Data))}
	for _, d := range w.Data {
		if d.Index < 0 || d.Index >= len(out.Vectors) {
			return nil, fmt.Errorf("the upstream's embeddings have an index out of range")
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, err
		}
		out.Vectors[d.Index] = v
	}
	if w.Usage != nil {
		out.Usage = decodeUsage(w.Usage)
	}
	return out, nil
}

// decodeVector reads an embedding given as floats or as base64
// little-endian float32s.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	var fs []float32
	if json.Unmarshal(raw, &fs) == nil {
		return fs, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("the upstream's embedding is neither floats nor base64")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		return nil, fmt.Errorf("the upstream's base64 embedding is malformed")
	}
	fs = make([]float32, len(b)/4)
	for i := range fs {
		fs[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return fs, nil
}

// UnmarshalCaddyfile sets up the provider from the block of a
// `provider <name> openai|openai_compatible` line in the ai_gateway global
// option. Syntax:
//
//	provider <name> openai|openai_compatible {
//		base_url <url>
//		api_key  <value>
//		header   <name> <value>
//		timeout  <duration>
//	}
//
// The dispenser's first token is the provider type.
func (c *Config) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return c.UnmarshalBlock(d, func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "mock_without_key" {
			return false, nil
		}
		// Removed: it turned a missing key into canned answers in production.
		return true, d.Err("mock_without_key was removed: a provider whose api_key is empty no longer starts; " +
			"to try the gateway without a key, use the provider type mock (provider <name> mock), which cmd/caddy includes")
	})
}

// UnmarshalCaddyfile parses the provider block (see Config) and requires a
// base_url, so that a missing one is an error naming the Caddyfile line.
func (p *Compatible) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if err := p.Config.UnmarshalCaddyfile(d); err != nil {
		return err
	}
	if p.BaseURL == "" {
		d.Reset() // name the provider's own line
		d.Next()
		return d.Err("openai_compatible: base_url is required")
	}
	return nil
}

// KeyOptional reports true: hosts that serve the OpenAI API locally (vLLM,
// Ollama, LM Studio...) usually want no key.
func (*Compatible) KeyOptional() bool { return true }

// Interface guards.
var (
	_ providers.KeyOptional = (*Compatible)(nil)
	_ providers.Provider    = (*OpenAI)(nil)
	_ providers.Provider    = (*Compatible)(nil)
	_ providers.Passthrough = (*OpenAI)(nil)
	_ providers.Embedder    = (*OpenAI)(nil)
	_ caddy.Provisioner     = (*OpenAI)(nil)
	_ caddy.Provisioner     = (*Compatible)(nil)
	_ caddy.CleanerUpper    = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler = (*Compatible)(nil)
)

func errBaseURLRequired(typ string) error {
	return errors.New(typ + ": base_url is required")
}
