package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Upstream is the configuration every provider module shares. Embed it in a
// provider's config struct; its fields appear at the top level of the
// provider's JSON.
type Upstream struct {
	// BaseURL is the API root, e.g. "https://api.openai.com/v1". Caddy
	// placeholders such as {env.X} are expanded once at provisioning.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey is the provider's own key. Placeholders such as
	// {env.OPENAI_API_KEY} are expanded once at provisioning. It is never
	// logged.
	APIKey string `json:"api_key,omitempty"`
	// Headers are extra headers sent on every upstream request (values may
	// use placeholders).
	Headers http.Header `json:"headers,omitempty"`
	// Timeout bounds the wait for the upstream's response headers (for a
	// stream, the first byte). Default 5m.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Resolved at provisioning.
	URL        string       `json:"-"` // BaseURL expanded, no trailing slash
	Key        string       `json:"-"` // APIKey expanded
	HeaderVals http.Header  `json:"-"` // Headers expanded
	Client     *http.Client `json:"-"`
}

// Provision expands placeholders, applies defaultBase when no base_url is
// set, checks the URL and builds the HTTP client.
func (u *Upstream) Provision(defaultBase string) error {
	repl := caddy.NewReplacer()
	u.URL = strings.TrimRight(repl.ReplaceKnown(u.BaseURL, ""), "/")
	if u.URL == "" {
		u.URL = defaultBase
	}
	if !strings.HasPrefix(u.URL, "http://") && !strings.HasPrefix(u.URL, "https://") {
		return fmt.Errorf("base_url %q: must start with http:// or https://", u.URL)
	}
	u.Key = repl.ReplaceKnown(u.APIKey, "")
	u.HeaderVals = make(http.Header, len(u.Headers))
	for name, vals := range u.Headers {
		for _, v := range vals {
			u.HeaderVals.Add(name, repl.ReplaceKnown(v, ""))
		}
	}
	u.Client = NewClient(time.Duration(u.Timeout))
	return nil
}

// Cleanup releases idle upstream connections.
func (u *Upstream) Cleanup() error {
	if u.Client != nil {
		u.Client.CloseIdleConnections()
	}
	return nil
}

// SetHeaders adds the configured extra headers to an upstream request.
func (u *Upstream) SetHeaders(h http.Header) {
	for name, vals := range u.HeaderVals {
		h[name] = vals
	}
}

// UnmarshalOption parses one of the options every provider block has:
//
//	base_url <url>
//	api_key  <value>
//	header   <name> <value>
//	timeout  <duration>
//
// It reports false, without consuming anything, for any other option.
func (u *Upstream) UnmarshalOption(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "base_url":
		if !d.AllArgs(&u.BaseURL) {
			return true, d.ArgErr()
		}
	case "api_key":
		if !d.AllArgs(&u.APIKey) {
			return true, d.ArgErr()
		}
	case "header":
		var name, value string
		if !d.AllArgs(&name, &value) {
			return true, d.ArgErr()
		}
		if u.Headers == nil {
			u.Headers = make(http.Header)
		}
		u.Headers.Add(name, value)
	case "timeout":
		var s string
		if !d.AllArgs(&s) {
			return true, d.ArgErr()
		}
		dur, err := caddy.ParseDuration(s)
		if err != nil {
			return true, d.Errf("timeout %q: %v", s, err)
		}
		if dur <= 0 {
			return true, d.Errf("timeout must be positive, got %s", s)
		}
		u.Timeout = caddy.Duration(dur)
	default:
		return false, nil
	}
	return true, nil
}

// UnmarshalBlock parses a provider block whose options are the common ones
// plus those extra handles (it returns false for an unknown option). The
// dispenser's first token is the provider type.
func (u *Upstream) UnmarshalBlock(d *caddyfile.Dispenser, extra func(d *caddyfile.Dispenser) (bool, error)) error {
	d.Next() // the provider type
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		ok, err := u.UnmarshalOption(d)
		if !ok && err == nil && extra != nil {
			ok, err = extra(d)
		}
		if err != nil {
			return err
		}
		if !ok {
			return d.Errf("unknown provider option %q", d.Val())
		}
	}
	return nil
}

// Accept values for Post.
const (
	AcceptJSON        = "application/json"
	AcceptEventStream = "text/event-stream"
)

// Post sends a JSON body to url with the configured extra headers,
// Content-Type and accept; auth then sets the credential (last, so that a
// configured header cannot replace it). A 2xx response is returned open for
// the caller to read and close; any other answer is read, closed, and
// classified by readError (nil: ReadError); a status that is neither 2xx
// nor an error (a redirect, which the client never follows) is
// UnexpectedStatus.
func (u *Upstream) Post(ctx context.Context, url string, body []byte, accept string,
	auth func(*http.Request), readError func(*http.Response) *Error) (*http.Response, error) {
	if u.Client == nil {
		return nil, errors.New("provider used before Provision")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	u.SetHeaders(req.Header)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	if auth != nil {
		auth(req)
	}
	resp, err := Do(u.Client, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 599 {
			// Not an error answer a codec can refine (a redirect, say):
			// the shared mapping, whatever the body or headers claim.
			return nil, UnexpectedStatus(resp.StatusCode)
		}
		if readError == nil {
			readError = ReadError
		}
		return nil, readError(resp)
	}
	return resp, nil
}
