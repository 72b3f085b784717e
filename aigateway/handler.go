package aigateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the "ai_gateway" HTTP handler: an OpenAI-compatible API in
// front of the providers configured in the ai_gateway app. It serves
// POST /v1/chat/completions (JSON and streaming), POST /v1/embeddings and
// GET /v1/models (the paths match by suffix, so the handler also works under
// a prefix). It is terminal: it never calls the next handler.
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

// Provision finds the ai_gateway app (an empty one is created when the
// config has none, so a bare `ai_gateway` directive works with defaults).
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var err error
	h.app, err = appOf(ctx)
	return err
}

// ServeHTTP runs a request through the gateway, top to bottom:
// authenticate → decode → authorize → route → send → pass back and meter →
// record.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	start := time.Now()
	op, aerr := operationOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return nil
	}
	key, ok := h.app.authenticateRequest(w, r)
	if !ok {
		return nil
	}
	if op == opListModels {
		h.serveModels(w, key)
		return nil
	}

	rec := keystore.UsageRecord{RequestID: requestID(r), Time: start.UTC(), KeyID: key.ID, Endpoint: string(op)}
	defer func() {
		rec.Latency = time.Since(start)
		h.app.record(r.Context(), rec)
	}()
	var in inboundRequest
	body, aerr := readJSONBody(w, r, h.MaxRequestBody)
	if aerr == nil {
		in, aerr = parseInbound(body)
		rec.Model, rec.Stream = in.Model, in.Stream
	}
	if aerr != nil {
		rec.Status = aerr.Status
		writeError(w, aerr)
		return nil
	}

	if !key.AllowsModel(in.Model) {
		rec.Status = http.StatusForbidden
		writeError(w, errModelNotAllowed(in.Model))
		return nil
	}
	target, ok := h.app.lookupModel(in.Model)
	if !ok {
		rec.Status = http.StatusNotFound
		writeError(w, errModelNotFound(in.Model))
		return nil
	}
	rec.Provider = target.providerName

	// A stream is metered from its final usage chunk; ask for it even when
	// the client did not, and keep it from the client then.
	forceUsage := op == providers.OpChatCompletions && in.Stream && !in.includeUsage()
	upBody, err := rewriteBody(body, in.Model, target.upstreamModel, forceUsage)
	if err != nil {
		rec.Status = http.StatusBadRequest
		writeError(w, errBadRequest("invalid_json", "", "the request body is not a JSON object"))
		return nil
	}
	resp, err := target.provider.Send(r.Context(), &providers.Call{
		Operation: op,
		Body:      upBody,
		Stream:    in.Stream,
		Header:    forwardHeaders(r.Header),
	})
	if err != nil {
		rec.Status = h.upstreamFailure(w, r, err)
		return nil
	}
	defer resp.Body.Close()
	rec.Status, rec.PromptTokens, rec.CompletionTokens = h.relay(w, r, resp, forceUsage, int64(len(body)))
	return nil
}

// opListModels is GET /v1/models, which the gateway answers itself.
const opListModels providers.Operation = "models"

// operationOf maps the request's method and path to the operation it asks
// for, or an error in the OpenAI shape.
func operationOf(r *http.Request) (providers.Operation, *apiError) {
	path := strings.TrimRight(r.URL.Path, "/")
	var op providers.Operation
	method := http.MethodPost
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		op = providers.OpChatCompletions
	case strings.HasSuffix(path, "/embeddings"):
		op = providers.OpEmbeddings
	case strings.HasSuffix(path, "/models"):
		op, method = opListModels, http.MethodGet
	default:
		return "", &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
			Message: "unknown endpoint " + r.Method + " " + r.URL.Path}
	}
	if r.Method != method {
		return "", &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
			Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + method}
	}
	return op, nil
}

// forwardHeaders picks the client headers that are safe and useful to pass
// upstream. Everything else (cookies, the client's key, hop-by-hop headers)
// stays at the gateway.
func forwardHeaders(h http.Header) http.Header {
	var out http.Header
	for name, vals := range h {
		if strings.HasPrefix(name, "Openai-") || strings.HasPrefix(name, "X-Stainless-") || name == "User-Agent" {
			if out == nil {
				out = make(http.Header)
			}
			out[name] = vals
		}
	}
	return out
}

// relayedHeaders are upstream response headers worth passing to the client.
var relayedHeaders = []string{"Content-Type", "X-Request-Id", "Openai-Processing-Ms", "Openai-Model", "Retry-After"}

// relay passes the upstream response back to the client, metering it on the
// way. It returns the status to record and the tokens used.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, dropUsageChunk bool, bodyLen int64) (status int, prompt, completion int64) {
	if resp.StatusCode >= 400 {
		return h.upstreamError(w, resp), 0, 0
	}
	hdr := w.Header()
	for _, name := range relayedHeaders {
		if v := resp.Header.Values(name); len(v) > 0 {
			hdr[name] = v
		}
	}
	ct := resp.Header.Get("Content-Type")
	if isEventStream(ct) {
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no")
	}
	w.WriteHeader(resp.StatusCode)
	meter := newMeter(w, flusherOf(w), ct, dropUsageChunk)
	buf := copyBufPool.Get().(*[]byte)
	_, copyErr := io.CopyBuffer(writerOnly{meter}, readerOnly{resp.Body}, *buf)
	copyBufPool.Put(buf)
	u, ok, writeErr := meter.finish()
	status = resp.StatusCode
	if !ok {
		// Cut short (or an upstream that reports no usage): estimate so that
		// a disconnect is never free. ~4 bytes a token for the prompt, one
		// token per streamed chunk.
		u = usage{PromptTokens: bodyLen / 4, CompletionTokens: meter.deltas()}
	}
	switch {
	case r.Context().Err() != nil || writeErr != nil:
		status = 499 // client closed the request
	case copyErr != nil:
		status = http.StatusBadGateway
		h.logger.Warn("upstream response cut short", zap.Error(copyErr))
		if isEventStream(ct) {
			// The 200 is already sent: tell the client in the stream.
			_, _ = io.WriteString(w, "data: {\"error\":{\"message\":\"the upstream connection failed mid-stream\",\"type\":\"api_error\",\"param\":null,\"code\":\"upstream_error\"}}\n\n")
			_ = flusherOf(w)()
		}
	}
	return status, u.PromptTokens, u.CompletionTokens
}

// upstreamError turns an upstream error response into the client's error.
// Errors about the gateway's own provider credentials become 502: they are
// the operator's problem, and their bodies can quote part of the provider key.
func (h *Handler) upstreamError(w http.ResponseWriter, resp *http.Response) int {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		h.logger.Error("upstream rejected the provider credentials", zap.Int("status", resp.StatusCode))
		writeError(w, errUpstream(http.StatusBadGateway, "the upstream provider rejected the gateway's credentials"))
		return http.StatusBadGateway
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode < 500:
		if looksLikeOpenAIError(body) {
			if v := resp.Header.Get("Retry-After"); v != "" {
				w.Header().Set("Retry-After", v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(body)
			return resp.StatusCode
		}
		e := errUpstream(resp.StatusCode, "the upstream provider returned HTTP "+http.StatusText(resp.StatusCode))
		e.Type = "invalid_request_error"
		writeError(w, e)
		return resp.StatusCode
	default:
		writeError(w, errUpstream(http.StatusBadGateway, "the upstream provider failed (HTTP "+itoa(resp.StatusCode)+")"))
		return http.StatusBadGateway
	}
}

// upstreamFailure answers a request that got no upstream response.
func (h *Handler) upstreamFailure(w http.ResponseWriter, r *http.Request, err error) int {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return 499
	}
	h.logger.Warn("upstream request failed", zap.Error(err))
	if providers.IsTimeout(err) {
		writeError(w, errUpstream(http.StatusGatewayTimeout, "the upstream provider did not answer in time"))
		return http.StatusGatewayTimeout
	}
	writeError(w, errUpstream(http.StatusBadGateway, "the upstream provider could not be reached"))
	return http.StatusBadGateway
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
	_, _ = io.WriteString(w, b.String())
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
