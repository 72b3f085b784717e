package aigateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/anthropic"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the "ai_gateway" HTTP handler: one API in front of the
// providers configured in the ai_gateway app. It serves OpenAI's
// POST /v1/chat/completions (JSON and streaming), POST /v1/embeddings and
// GET /v1/models, and Anthropic's POST /v1/messages and
// /v1/messages/count_tokens, each routed by model to any provider and
// translated both ways. Paths match by suffix, so the handler also works
// under a prefix. It is terminal: it never calls the next handler.
type Handler struct {
	// MaxRequestBody bounds request bodies in bytes. Default 4 MiB.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	app    *App
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ai_gateway",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision finds the ai_gateway app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var err error
	h.app, err = appOf(ctx)
	return err
}

// UpstreamModelHeader is the response header that names the model the
// upstream provider was asked for, on every answer the gateway routed to a
// provider. Answers themselves name the public model the client asked for.
// The name is in canonical form, so it can index an http.Header.
const UpstreamModelHeader = "X-Ai-Gateway-Upstream-Model"

// Operations the handler serves besides the providers' own.
const (
	opListModels  providers.Operation = "models"
	opMessages    providers.Operation = "messages"
	opCountTokens providers.Operation = "messages.count_tokens"
)

// endpoint is one API the handler serves.
type endpoint struct {
	suffix  string
	method  string
	op      providers.Operation
	dialect providers.Inbound
}

// endpoints are matched in order, by path suffix.
var endpoints = []endpoint{
	{"/chat/completions", http.MethodPost, providers.OpChatCompletions, openai.Inbound{}},
	{"/embeddings", http.MethodPost, providers.OpEmbeddings, openai.Inbound{}},
	{"/models", http.MethodGet, opListModels, openai.Inbound{}},
	{"/messages/count_tokens", http.MethodPost, opCountTokens, anthropic.Inbound{}},
	{"/messages", http.MethodPost, opMessages, anthropic.Inbound{}},
}

// ServeHTTP runs a request through the gateway, top to bottom:
// authenticate → decode → authorize → route → translate and send →
// translate back and meter → record.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	ep, perr := endpointOf(r)
	if perr != nil {
		closeIfBodyUnread(w, r)
		writeError(w, ep.dialect, perr)
		return nil
	}
	key, store, ok := h.app.authenticateRequest(w, r, ep.dialect)
	if !ok {
		return nil
	}
	if ep.op == opListModels {
		h.serveModels(w, key)
		return nil
	}
	if h.app.refuseIfFull(w, ep.dialect, store) {
		return nil
	}

	rec := keystore.UsageRecord{RequestID: requestID(r), Time: start.UTC(), KeyID: key.ID, Endpoint: string(ep.op)}
	defer func() {
		rec.Latency = time.Since(start)
		h.app.record(r.Context(), rec)
	}()
	body, perr := readJSONBody(w, r, h.MaxRequestBody)
	var in inboundRequest
	if perr == nil {
		in, perr = parseInbound(body)
		rec.Model, rec.Stream = in.Model, in.Stream
	}
	if perr == nil {
		perr = h.authorize(key, in.Model)
	}
	if perr != nil {
		rec.Status = perr.Status
		writeError(w, ep.dialect, perr)
		return nil
	}
	target, _ := h.app.lookupModel(in.Model)
	rec.Provider = target.providerName
	pt, passes := target.provider.(providers.Passthrough)
	passes = passes && pt.PassesThrough() && (ep.op == providers.OpChatCompletions || ep.op == providers.OpEmbeddings)
	weight := int64(len(body)) * translationWeight
	if passes {
		weight = int64(len(body)) * passthroughWeight
	}
	if !h.app.inflight.acquire(weight) {
		rec.Status = http.StatusServiceUnavailable
		writeError(w, ep.dialect, errGatewayBusy())
		return nil
	}
	defer h.app.inflight.release(weight)
	kind := boundedCompletion
	if ep.op == providers.OpEmbeddings || ep.op == opCountTokens {
		kind = noCompletion
	}
	ad, perr := h.app.admit(r.Context(), w, key, in.Model, body, in.maxTokens(), kind)
	if perr != nil {
		rec.Status = perr.Status
		writeError(w, ep.dialect, perr)
		return nil
	}
	rec.TeamID = ad.teamID
	x := &exchange{h: h, w: w, r: r, dialect: ep.dialect, target: target, model: in.Model, rec: &rec, bodyLen: int64(len(body)), capTokens: ad.maxTokens}
	// Answers name the public model; the upstream's name is told here,
	// for the client's logs (an operator who would keep it private drops
	// the header in the site block: header -X-AI-Gateway-Upstream-Model).
	w.Header()[UpstreamModelHeader] = target.upstreamHeader
	defer func() {
		// Before the record is written (the deferred record runs after).
		rec.CostMicros = ad.settle(r.Context(), usage{PromptTokens: rec.PromptTokens, CompletionTokens: rec.CompletionTokens})
		observe(&rec, x.upstream)
	}()

	// Same dialect on both sides: pass the bytes through.
	if passes {
		x.passthrough(pt, ep.op, body, in)
		return nil
	}
	switch ep.op {
	case providers.OpEmbeddings:
		x.embed(body)
	case opCountTokens:
		x.countTokens(body)
	default:
		x.chat(body)
	}
	return nil
}

// authorize checks the model against the key's allow-list, then against
// the configured models. A model the key may not use is refused whether or
// not it exists.
func (h *Handler) authorize(key keystore.Key, model string) *providers.Error {
	if !key.AllowsModel(model) {
		return errModelNotAllowed(model)
	}
	if _, ok := h.app.lookupModel(model); !ok {
		return errModelNotFound(model)
	}
	return nil
}

// endpointOf maps the request's method and path to an endpoint. On error
// the returned endpoint still names the dialect to answer in.
func endpointOf(r *http.Request) (endpoint, *providers.Error) {
	path := strings.TrimRight(r.URL.Path, "/")
	for _, ep := range endpoints {
		if !strings.HasSuffix(path, ep.suffix) {
			continue
		}
		if r.Method != ep.method {
			return ep, &providers.Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
				Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + ep.method}
		}
		return ep, nil
	}
	return endpoints[0], &providers.Error{Status: http.StatusNotFound, Type: "not_found_error", Code: "unknown_url",
		Message: "unknown endpoint " + r.Method + " " + r.URL.Path}
}

// serveModels lists the models this key may use, in OpenAI's shape.
func (h *Handler) serveModels(w http.ResponseWriter, key keystore.Key) {
	var b strings.Builder
	b.WriteString(`{"object":"list","data":[`)
	n := 0
	for _, name := range h.app.modelList {
		if !key.AllowsModel(name) {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`{"id":`)
		b.WriteString(jsonString(name))
		b.WriteString(`,"object":"model","created":0,"owned_by":`)
		b.WriteString(jsonString(h.app.models[name].providerName))
		b.WriteByte('}')
	}
	b.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(b.String()))
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	ai_gateway {
//		max_request_body <size>
//	}
//
// Providers and models are configured in the ai_gateway global option.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return unmarshalHandler(d, &h.MaxRequestBody)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
