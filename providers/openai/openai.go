// Package openai provides the provider modules that speak the OpenAI wire
// format: "openai" (api.openai.com) and "openai_compatible" (any host that
// implements the OpenAI API: vLLM, Ollama, LM Studio, Groq, ...).
package openai

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/cmd/mockllm/mockllm"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(OpenAI{})
	caddy.RegisterModule(Compatible{})
}

// DefaultBaseURL is OpenAI's API root.
const DefaultBaseURL = "https://api.openai.com/v1"

// DefaultTimeout bounds the wait for the upstream's response headers.
const DefaultTimeout = 5 * time.Minute

// Config is the configuration shared by every OpenAI-format provider.
type Config struct {
	// BaseURL is the API root, up to and including the version segment,
	// e.g. "https://api.openai.com/v1" or "http://localhost:11434/v1".
	// Caddy placeholders such as {env.X} are expanded once at provisioning.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey is the provider's own key, sent as "Authorization: Bearer".
	// Placeholders such as {env.OPENAI_API_KEY} are expanded once at
	// provisioning. It is never logged.
	APIKey string `json:"api_key,omitempty"`
	// Headers are extra headers sent on every upstream request (values may
	// use placeholders).
	Headers http.Header `json:"headers,omitempty"`
	// Timeout bounds the wait for the upstream's response headers (for a
	// stream, the first byte). Default 5m.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MockWithoutKey serves requests from the bundled mock upstream when
	// APIKey expands to an empty string. Meant for the quickstart and demos:
	// a warning is logged at start.
	MockWithoutKey bool `json:"mock_without_key,omitempty"`

	baseURL  string
	apiKey   string
	headers  http.Header
	client   *http.Client
	mockStop func()
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
	if p.BaseURL == "" && !p.MockWithoutKey {
		return errors.New("openai_compatible: base_url is required")
	}
	return p.provision(ctx, "")
}

func (c *Config) provision(ctx caddy.Context, defaultBase string) error {
	repl := caddy.NewReplacer()
	c.baseURL = strings.TrimRight(repl.ReplaceKnown(c.BaseURL, ""), "/")
	if c.baseURL == "" {
		c.baseURL = defaultBase
	}
	c.apiKey = repl.ReplaceKnown(c.APIKey, "")
	c.headers = make(http.Header, len(c.Headers))
	for name, vals := range c.Headers {
		for _, v := range vals {
			c.headers.Add(name, repl.ReplaceKnown(v, ""))
		}
	}
	timeout := time.Duration(c.Timeout)
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if c.apiKey == "" && c.MockWithoutKey {
		if err := c.startMock(ctx.Logger()); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(c.baseURL, "http://") && !strings.HasPrefix(c.baseURL, "https://") {
		return fmt.Errorf("base_url %q: must start with http:// or https://", c.baseURL)
	}
	c.client = &http.Client{
		Transport: NewTransport(timeout),
		// Never follow redirects: a redirect to another host would carry the
		// provider key there.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// startMock serves the bundled mock upstream on a loopback port and points
// the provider at it, with a random provider key that the mock requires.
func (c *Config) startMock(log *zap.Logger) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the bundled mock upstream: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	c.apiKey = "mock-" + hex.EncodeToString(b[:])
	srv := &http.Server{Handler: mockllm.New(mockllm.Options{APIKey: c.apiKey}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	c.mockStop = func() { _ = srv.Close() }
	c.baseURL = "http://" + ln.Addr().String() + "/v1"
	log.Warn("no provider API key set: answering from the bundled mock upstream (mock_without_key)",
		zap.String("mock_url", c.baseURL))
	return nil
}

// Cleanup stops the bundled mock upstream if this provider started one and
// releases idle upstream connections.
func (c *Config) Cleanup() error {
	if c.mockStop != nil {
		c.mockStop()
		c.mockStop = nil
	}
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// NewTransport returns an HTTP transport tuned for an API upstream: a large
// keep-alive pool (many concurrent requests go to one host), HTTP/2 where the
// server offers it, and a bound on the wait for response headers.
func NewTransport(headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: headerTimeout,
	}
}

// Send sends the call to the OpenAI-format upstream. The response is already
// in the OpenAI format, so it is returned as it is.
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(call.Body))
	if err != nil {
		return nil, err
	}
	for name, vals := range call.Header {
		req.Header[name] = vals
	}
	for name, vals := range c.headers {
		req.Header[name] = vals
	}
	req.Header.Set("Content-Type", "application/json")
	if call.Stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var ne net.Error
		timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
		return nil, &providers.UpstreamError{Timeout: timeout, Err: err}
	}
	return resp, nil
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
//		mock_without_key
//	}
//
// The dispenser's first token is the provider type.
func (c *Config) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider type
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "base_url":
			if !d.AllArgs(&c.BaseURL) {
				return d.ArgErr()
			}
		case "api_key":
			if !d.AllArgs(&c.APIKey) {
				return d.ArgErr()
			}
		case "header":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return d.ArgErr()
			}
			if c.Headers == nil {
				c.Headers = make(http.Header)
			}
			c.Headers.Add(name, value)
		case "timeout":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil {
				return d.Errf("timeout %q: %v", s, err)
			}
			if dur <= 0 {
				return d.Errf("timeout must be positive, got %s", s)
			}
			c.Timeout = caddy.Duration(dur)
		case "mock_without_key":
			if d.NextArg() {
				return d.ArgErr()
			}
			c.MockWithoutKey = true
		default:
			return d.Errf("unknown provider option %q", d.Val())
		}
	}
	return nil
}

// UnmarshalCaddyfile parses the provider block (see Config) and requires a
// base_url, so that a missing one is an error naming the Caddyfile line.
func (p *Compatible) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if err := p.Config.UnmarshalCaddyfile(d); err != nil {
		return err
	}
	if p.BaseURL == "" && !p.MockWithoutKey {
		d.Reset() // name the provider's own line
		d.Next()
		return d.Err("openai_compatible: base_url is required")
	}
	return nil
}

// Interface guards.
var (
	_ providers.Provider    = (*OpenAI)(nil)
	_ providers.Provider    = (*Compatible)(nil)
	_ caddy.Provisioner     = (*OpenAI)(nil)
	_ caddy.Provisioner     = (*Compatible)(nil)
	_ caddy.CleanerUpper    = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler = (*Compatible)(nil)
)
