package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// defaultAdminPort is used when --address names a host without a port.
const defaultAdminPort = 2019

// maxResponseSize bounds how much of an admin API response is read.
const maxResponseSize = 16 << 20

// client talks to the AI gateway endpoints of Caddy's admin API and renders
// their responses to out, either as tables for people or as JSON.
type client struct {
	base   string // scheme://host[:port][/path] without a trailing slash
	origin string // value for the Origin header; empty for unix sockets
	addr   string // the address as the user gave it, for error messages
	http   *http.Client

	out      io.Writer
	jsonOut  bool
	now      func() time.Time
	location *time.Location
}

// newClient builds a client for the admin API listening at address, which
// may be a Caddy network address ("localhost:2019", "tcp/[::1]:2019",
// "unix//run/caddy-admin.sock") or a full http:// or https:// URL.
func newClient(address string, out io.Writer, jsonOut bool, now func() time.Time, loc *time.Location) (*client, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		address = caddy.DefaultAdminListen
	}
	if now == nil {
		now = time.Now
	}
	if loc == nil {
		loc = time.Local
	}
	c := &client{
		addr:     address,
		out:      out,
		jsonOut:  jsonOut,
		now:      now,
		location: loc,
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // the admin API is local; never route it via a proxy

	lower := strings.ToLower(address)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		u, err := url.Parse(address)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid admin address %q: not a valid URL", address)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("invalid admin address %q: must not contain a query or fragment", address)
		}
		c.origin = u.Scheme + "://" + u.Host
		c.base = strings.TrimRight(c.origin+u.EscapedPath(), "/")
	default:
		na, err := caddy.ParseNetworkAddressWithDefaults(address, "tcp", defaultAdminPort)
		if err != nil {
			return nil, fmt.Errorf("invalid admin address %q: %v", address, err)
		}
		if na.PortRangeSize() > 1 {
			return nil, fmt.Errorf("invalid admin address %q: port ranges are not allowed", address)
		}
		if na.IsUnixNetwork() || na.IsFdNetwork() {
			if na.IsFdNetwork() {
				return nil, fmt.Errorf("invalid admin address %q: cannot connect to a file descriptor network", address)
			}
			// Drop optional socket permission bits, e.g. "unix//path|0220".
			sockPath, _, _ := strings.Cut(na.Host, "|")
			network := na.Network
			transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, sockPath)
			}
			// The host is irrelevant for a socket but must be loopback
			// to satisfy the admin API's host checks.
			c.base = "http://127.0.0.1"
		} else {
			c.origin = "http://" + na.JoinHostPort(0)
			c.base = c.origin
		}
	}
	c.http = &http.Client{Transport: transport, Timeout: time.Minute}
	return c, nil
}

// apiError is an error response (HTTP status >= 400) from the admin API.
type apiError struct {
	// Status is the HTTP status code of the response.
	Status int
	// Message is the "error" field of the response body.
	Message string
}

// Error formats the error as "<message> (HTTP <status>)".
func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// newAPIError extracts the message from an error response body, which the
// gateway sends as {"error":"message"}; other bodies are used verbatim.
func newAPIError(status int, body []byte) *apiError {
	var payload struct {
		Error string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &payload) == nil {
		msg = strings.TrimSpace(payload.Error)
	}
	if msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = "request failed"
	}
	return &apiError{Status: status, Message: msg}
}

// do sends a request to the admin API and returns the response body. A nil
// in sends no body; anything else is encoded as JSON. Responses with status
// >= 400 are returned as *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in any) ([]byte, error) {
	resp, err := c.send(ctx, c.http, method, path, query, in)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return nil, fmt.Errorf("reading admin API response: %v", err)
	}
	return data, nil
}

// send sends a request to the admin API with hc and returns the response,
// whose body the caller must close. Responses with status >= 400 are read,
// closed and returned as *apiError.
func (c *client) send(ctx context.Context, hc *http.Client, method, path string, query url.Values, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %v", err)
		}
		body = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("making request: %v", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Drop url.Error's `Get "http://..."` prefix; the address says enough.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if isDialError(err) {
			return nil, fmt.Errorf("contacting admin API at %s: %v; is Caddy running? (admin address %s; give another with --address)", c.addr, err, c.addr)
		}
		return nil, fmt.Errorf("contacting admin API at %s: %v", c.addr, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
		return nil, newAPIError(resp.StatusCode, data)
	}
	return resp, nil
}

// isDialError reports whether err is a failure to connect (refused, no
// such socket, no route), as opposed to one on an open connection: the
// admin API is then most likely not running, or not at that address.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// download streams the body of GET path into w and returns its length.
// Unlike other requests it has no overall time limit, since a large body
// may take long; interrupting the command stops it.
func (c *client) download(ctx context.Context, path string, w io.Writer) (int64, error) {
	hc := *c.http
	hc.Timeout = 0
	resp, err := c.send(ctx, &hc, http.MethodGet, path, nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("reading admin API response after %d bytes: %v", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("admin API response cut short: got %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// call performs a request and decodes the JSON response into out. When the
// client is in JSON mode, the response is written to c.out instead and out is
// left untouched; the returned bool reports whether the caller should render.
func (c *client) call(ctx context.Context, method, path string, query url.Values, in, out any) (bool, error) {
	data, err := c.do(ctx, method, path, query, in)
	if err != nil {
		return false, err
	}
	if c.jsonOut {
		return false, c.writeJSON(data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("decoding admin API response: %v", err)
	}
	return true, nil
}

// fetch performs a GET and decodes the JSON response into out without
// printing anything, even in JSON mode: for reads that prepare a change.
func (c *client) fetch(ctx context.Context, path string, out any) error {
	data, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding admin API response: %v", err)
	}
	return nil
}

// writeJSON writes data, indented when it is valid JSON, followed by a newline.
func (c *client) writeJSON(data []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(data), "", "  "); err != nil {
		buf.Reset()
		buf.Write(bytes.TrimSpace(data))
	}
	buf.WriteByte('\n')
	_, err := c.out.Write(buf.Bytes())
	return err
}

// keyPath returns the admin API path of the key with the given ID.
func keyPath(id string, suffix ...string) string {
	p := keysPath + "/" + url.PathEscape(id)
	for _, s := range suffix {
		p += "/" + s
	}
	return p
}

// teamPath returns the admin API path of the team with the given ID.
func teamPath(id string) string {
	return teamsPath + "/" + url.PathEscape(id)
}

// Admin API paths of the gateway endpoints.
const (
	keysPath        = "/ai_gateway/keys"
	usagePath       = "/ai_gateway/usage"
	teamsPath       = "/ai_gateway/teams"
	auditPath       = "/ai_gateway/audit"
	auditVerifyPath = "/ai_gateway/audit/verify"
	auditHeadPath   = "/ai_gateway/audit/head"
	backupPath      = "/ai_gateway/backup"
)

// errNothingToUpdate is returned by keys update when no field was given.
var errNothingToUpdate = errors.New("nothing to update: give at least one of --name, --model, --all-models, --expires, --no-expiry, --team, --no-team or a limit flag")

// errNothingToUpdateTeam is returned by teams update when no field was given.
var errNothingToUpdateTeam = errors.New("nothing to update: give --name or a limit flag")
