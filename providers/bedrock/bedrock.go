// Package bedrock provides the "bedrock" provider module: the AWS Bedrock
// Runtime Converse API (POST /model/{modelId}/converse and
// /converse-stream, the latter framed as AWS event streams), signed with
// AWS Signature Version 4 — or sent with a Bedrock API key as a bearer
// token — and translated to and from the gateway's canonical chat types.
//
// Embeddings are not offered: Bedrock has no common embedding API (each
// vendor's model takes its own InvokeModel body).
package bedrock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(Bedrock{})
}

// Service is the SigV4 service name of Bedrock Runtime.
const Service = "bedrock"

// now is the clock for signing and for the Created field Bedrock does not
// send; tests pin it.
var now = time.Now

// regionPattern is what a region may look like: it becomes part of the
// default host name.
var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Bedrock is the provider for AWS Bedrock Runtime's Converse API.
//
// Requests are signed with SigV4 using AccessKeyID and SecretAccessKey
// (and SessionToken for temporary credentials). If api_key is set instead,
// it is a Bedrock API key, sent as "Authorization: Bearer", and nothing is
// signed.
type Bedrock struct {
	providers.Upstream
	// Region is the AWS region, e.g. "us-east-1" (placeholders allowed).
	// Required: it is part of the signature and of the default base URL,
	// https://bedrock-runtime.<region>.amazonaws.com.
	Region string `json:"region,omitempty"`
	// AccessKeyID is the AWS access key id, e.g. {env.AWS_ACCESS_KEY_ID}.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// SecretAccessKey is the AWS secret key, e.g.
	// {env.AWS_SECRET_ACCESS_KEY}. It is never logged.
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	// SessionToken is the token of temporary credentials (STS), sent as
	// X-Amz-Security-Token. Optional.
	SessionToken string `json:"session_token,omitempty"`

	region string
	creds  credentials
}

// CaddyModule returns the Caddy module information.
func (Bedrock) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway.providers.bedrock",
		New: func() caddy.Module { return new(Bedrock) },
	}
}

// Provision expands placeholders in the region and credentials, checks
// that one way to authenticate is complete, and builds the HTTP client.
func (p *Bedrock) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	p.region = repl.ReplaceKnown(p.Region, "")
	if !regionPattern.MatchString(p.region) {
		return fmt.Errorf("bedrock: region %q: want an AWS region such as us-east-1", p.region)
	}
	if err := p.Upstream.Provision("https://bedrock-runtime." + p.region + ".amazonaws.com"); err != nil {
		return fmt.Errorf("bedrock: %w", err)
	}
	p.creds = credentials{
		AccessKeyID:     repl.ReplaceKnown(p.AccessKeyID, ""),
		SecretAccessKey: repl.ReplaceKnown(p.SecretAccessKey, ""),
		SessionToken:    repl.ReplaceKnown(p.SessionToken, ""),
	}
	if p.Key == "" && (p.creds.AccessKeyID == "" || p.creds.SecretAccessKey == "") {
		return errors.New("bedrock: set access_key_id and secret_access_key (or api_key, for a Bedrock API key); they are empty after expanding placeholders")
	}
	return nil
}

// Secrets returns api_key and the extra header values, and the AWS
// credentials: the access key id (part of every signed request's
// Authorization header), the secret key and the session token.
func (p *Bedrock) Secrets() []string {
	return append(p.Upstream.Secrets(), p.creds.AccessKeyID, p.creds.SecretAccessKey, p.creds.SessionToken)
}

// Cleanup releases idle upstream connections.
func (p *Bedrock) Cleanup() error { return p.Upstream.Cleanup() }

// UnmarshalCaddyfile sets up the provider from the block of a
// `provider <name> bedrock` line in the ai_gateway global option. Syntax:
//
//	provider <name> bedrock {
//		region            <region>   # required, e.g. us-east-1
//		access_key_id     <value>    # e.g. {env.AWS_ACCESS_KEY_ID}
//		secret_access_key <value>    # e.g. {env.AWS_SECRET_ACCESS_KEY}
//		session_token     <value>    # temporary credentials only
//		api_key           <value>    # a Bedrock API key instead of SigV4
//		base_url          <url>      # default https://bedrock-runtime.<region>.amazonaws.com
//		header            <name> <value>
//		timeout           <duration>
//	}
//
// The dispenser's first token is the provider type.
func (p *Bedrock) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return p.UnmarshalBlock(d, func(d *caddyfile.Dispenser) (bool, error) {
		var dst *string
		switch d.Val() {
		case "region":
			dst = &p.Region
		case "access_key_id":
			dst = &p.AccessKeyID
		case "secret_access_key":
			dst = &p.SecretAccessKey
		case "session_token":
			dst = &p.SessionToken
		default:
			return false, nil
		}
		if !d.AllArgs(dst) {
			return true, d.ArgErr()
		}
		return true, nil
	})
}

// Chat sends a Converse call and translates the answer.
func (p *Bedrock) Chat(ctx context.Context, req *providers.ChatRequest) (*providers.ChatResponse, error) {
	wire, err := encodeChat(req)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, req.Model, "converse", wire)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &providers.UpstreamError{Err: err}
	}
	return decodeChat(body, req.Model, resp.Header.Get("X-Amzn-Requestid"))
}

// ChatStream sends a ConverseStream call; the returned Stream decodes its
// event-stream frames as they arrive.
func (p *Bedrock) ChatStream(ctx context.Context, req *providers.ChatRequest) (providers.Stream, error) {
	wire, err := encodeChat(req)
	if err != nil {
		return nil, err
	}
	resp, err := p.post(ctx, req.Model, "converse-stream", wire)
	if err != nil {
		return nil, err
	}
	return newStream(resp.Body, req.Model, resp.Header.Get("X-Amzn-Requestid")), nil
}

// post sends body to /model/{modelID}/{op} and returns a 2xx response; any
// other status is read and returned as a *providers.Error.
func (p *Bedrock) post(ctx context.Context, modelID, op string, v any) (*http.Response, error) {
	if modelID == "" {
		return nil, providers.BadRequest("model", "a Bedrock model id is required")
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// The model id (it may hold ':' and, for ARNs, '/') is one path
	// segment, encoded the way SigV4 encodes: see canonicalURI.
	u := p.URL + "/model/" + uriEncode(modelID, false) + "/" + op
	accept := providers.AcceptJSON
	if op == "converse-stream" {
		accept = "application/vnd.amazon.eventstream"
	}
	return p.Post(ctx, u, body, accept, func(req *http.Request) {
		if p.Key != "" {
			req.Header.Set("Authorization", "Bearer "+p.Key)
			return
		}
		sum := sha256.Sum256(body)
		signV4(req, hex.EncodeToString(sum[:]), p.creds, p.region, Service, now())
	}, readError)
}

// readError classifies a Bedrock error answer: a JSON body with "message"
// (or "Message") and the exception name in the x-amzn-ErrorType header
// ("ThrottlingException:http://internal.amazon.com/...", the part before
// the colon) or in the body's "__type".
func readError(resp *http.Response) *providers.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, providers.MaxErrorBody))
	var b struct {
		Message  string `json:"message"`
		Message2 string `json:"Message"`
		Type     string `json:"__type"`
	}
	_ = json.Unmarshal(body, &b)
	msg := b.Message
	if msg == "" {
		msg = b.Message2
	}
	typ := resp.Header.Get("X-Amzn-Errortype")
	if typ == "" {
		typ = b.Type
	}
	if i := strings.LastIndexByte(typ, '#'); i >= 0 {
		typ = typ[i+1:]
	}
	typ, _, _ = strings.Cut(typ, ":")
	return classify(resp, typ, msg)
}

// classify maps an exception name (with its HTTP answer) to the client's
// error, refining the shared status mapping with what the name says.
func classify(resp *http.Response, typ, msg string) *providers.Error {
	e := providers.StatusError(resp, typ, msg)
	if e.Status == http.StatusBadGateway && e.Code == "upstream_auth_failed" {
		return e // never pass on what AWS says about the credentials
	}
	switch typ {
	case "ThrottlingException":
		e.Status, e.Type, e.Code = http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded"
	case "ServiceUnavailableException", "ModelNotReadyException":
		e.Status, e.Type, e.Code = http.StatusServiceUnavailable, "overloaded_error", "overloaded"
	case "ModelTimeoutException":
		e.Status, e.Type, e.Code = http.StatusGatewayTimeout, "server_error", "upstream_timeout"
	case "ModelErrorException", "InternalServerException", "ModelStreamErrorException":
		e.Status, e.Type, e.Code = http.StatusBadGateway, "server_error", "upstream_error"
	case "ValidationException":
		e.Status, e.Type = http.StatusBadRequest, "invalid_request_error"
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		return &providers.Error{Status: http.StatusBadGateway, Type: "server_error", Code: "upstream_auth_failed",
			Message: "the upstream provider rejected the gateway's credentials"}
	}
	return e
}

// Interface guards.
var (
	_ providers.ChatProvider = (*Bedrock)(nil)
	_ providers.SecretHolder = (*Bedrock)(nil)
	_ caddy.Provisioner      = (*Bedrock)(nil)
	_ caddy.CleanerUpper     = (*Bedrock)(nil)
	_ caddyfile.Unmarshaler  = (*Bedrock)(nil)
)

// NeedsInlineImages reports that images must be sent as bytes: the gateway
// fetches image URLs before the request reaches this provider.
func (*Bedrock) NeedsInlineImages() bool { return true }

var _ providers.InlineImages = (*Bedrock)(nil)

// KeyOptional reports true: Bedrock signs with AWS credentials when no
// api_key (a Bedrock API key) is set; Provision requires one or the other.
func (*Bedrock) KeyOptional() bool { return true }
