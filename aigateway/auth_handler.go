package aigateway

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

func init() {
	caddy.RegisterModule(AuthHandler{})
}

// AuthHandler is the "ai_auth" HTTP middleware. It protects any
// OpenAI-compatible backend served by the next handler (typically
// reverse_proxy to vLLM or Ollama): it authenticates the gateway key,
// enforces the key's model allow-list, strips the client key before the
// request goes on, and meters usage from the response (JSON or SSE).
//
// It sets the placeholder {http.vars.ai_gateway.key_id} for later handlers
// and logs.
type AuthHandler struct {
	// MaxRequestBody bounds request bodies in bytes. Default 4 MiB.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`

	app *App
}

// CaddyModule returns the Caddy module information.
func (AuthHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ai_auth",
		New: func() caddy.Module { return new(AuthHandler) },
	}
}

// Provision finds the ai_gateway app.
func (h *AuthHandler) Provision(ctx caddy.Context) error {
	var err error
	h.app, err = appOf(ctx)
	return err
}

// ServeHTTP authenticates and authorizes the request, hands it to next, and
// meters the response on its way out.
func (h *AuthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (err error) {
	start := time.Now()
	key, store, ok := h.app.authenticateRequest(w, r, openai.Inbound{})
	if !ok {
		return nil
	}
	caddyhttp.SetVar(r.Context(), "ai_gateway.key_id", key.ID)
	if h.app.refuseIfFull(w, openai.Inbound{}, store) {
		return nil
	}

	rec := keystore.UsageRecord{RequestID: requestID(r), Time: start.UTC(), KeyID: key.ID, Endpoint: r.URL.Path}
	defer func() {
		rec.Latency = time.Since(start)
		h.app.record(r.Context(), rec)
	}()

	// Requests with a JSON body name a model: check it against the key's
	// allow-list and ask a stream for usage so it can be metered.
	var dropUsageChunk bool
	var bodyLen int64
	var ad *admission
	if r.Body != nil && r.Body != http.NoBody && r.Method != http.MethodGet {
		body, aerr := readJSONBody(w, r, h.MaxRequestBody)
		var in inboundRequest
		if aerr == nil {
			in, aerr = parseInbound(body)
		}
		if aerr != nil {
			rec.Status = aerr.Status
			writeError(w, openai.Inbound{}, aerr)
			return nil
		}
		rec.Model, rec.Stream, bodyLen = in.Model, in.Stream, int64(len(body))
		if !key.AllowsModel(in.Model) {
			rec.Status = http.StatusForbidden
			writeError(w, openai.Inbound{}, errModelNotAllowed(in.Model))
			return nil
		}
		var perr *providers.Error
		ad, perr = h.app.admit(r.Context(), w, key, in.Model, body, in.maxTokens(), completionOf(r.URL.Path))
		if perr != nil {
			rec.Status = perr.Status
			writeError(w, openai.Inbound{}, perr)
			return nil
		}
		rec.TeamID = ad.teamID
		forceUsage := in.Stream && !in.includeUsage()
		if forceUsage || ad.maxTokens > 0 {
			if nb, err := rewriteBody(body, in.Model, in.Model, forceUsage, ad.maxTokens, in.maxTokensField()); err == nil {
				body, dropUsageChunk = nb, forceUsage
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", itoa(len(body)))
	}
	// The metered response must arrive as plain bytes.
	r.Header.Del("Accept-Encoding")

	mw := &meteredWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, dropUsageChunk: dropUsageChunk, logger: h.app.logger}
	returned := false
	proxyStart := time.Now()
	defer func() {
		// Runs also when next panics: reverse_proxy aborts a stream cut
		// short with panic(http.ErrAbortHandler), and that request must be
		// metered too. The panic goes on after this.
		rec.Status = mw.result(r, bodyLen, returned, err, &rec)
		rec.CostMicros = ad.settle(r.Context(), usage{PromptTokens: rec.PromptTokens, CompletionTokens: rec.CompletionTokens})
		observe(&rec, time.Since(proxyStart))
	}()
	err = next.ServeHTTP(mw, r)
	returned = true
	return err
}

// result finishes the metering of a response and returns the status to
// record: the status sent, 499 when the client went away, 502 when the next
// handler failed without a response.
func (mw *meteredWriter) result(r *http.Request, bodyLen int64, returned bool, err error, rec *keystore.UsageRecord) int {
	status := mw.status
	// complete: the answer's usage or a stream's [DONE] arrived, which
	// come last. A client that closes its connection after that (as SDKs
	// do), and a proxy that aborts because of it, cut nothing short.
	complete := false
	if mw.meter != nil {
		u, ok, writeErr := mw.meter.finish()
		if !ok {
			// Cut short, or no usage reported: estimate, so a disconnect is
			// never free (~4 bytes a prompt token, a token per chunk).
			u = usage{PromptTokens: governor.EstimatePromptTokens(int(bodyLen)), CompletionTokens: mw.meter.deltas()}
		}
		rec.PromptTokens, rec.CompletionTokens = u.PromptTokens, u.CompletionTokens
		if u.adjusted {
			warnUsageAdjusted(mw.logger, "ai_auth backend", rec.Model)
		}
		if writeErr != nil {
			return 499
		}
		complete = ok || mw.meter.sawEnd()
	}
	switch {
	case complete && status != 0:
		return status
	case r.Context().Err() != nil && !complete:
		return 499
	case !returned:
		return http.StatusBadGateway
	case err != nil:
		if he, ok := err.(caddyhttp.HandlerError); ok && he.StatusCode != 0 {
			return he.StatusCode
		}
		return http.StatusBadGateway
	case status == 0:
		return http.StatusOK
	}
	return status
}

// meteredWriter meters a successful response as the next handler writes it.
type meteredWriter struct {
	*caddyhttp.ResponseWriterWrapper
	dropUsageChunk bool
	logger         *zap.Logger
	status         int
	meter          usageMeter
}

// WriteHeader picks the meter by content type. A response whose chunks may
// be dropped cannot keep an upstream Content-Length.
func (mw *meteredWriter) WriteHeader(status int) {
	if status < 200 { // informational: the real status is still to come
		mw.ResponseWriterWrapper.WriteHeader(status)
		return
	}
	if mw.status != 0 {
		return
	}
	mw.status = status
	if status >= 200 && status < 300 {
		ct := mw.Header().Get("Content-Type")
		mw.meter = newMeter(mw.ResponseWriterWrapper, flusherOf(mw.ResponseWriterWrapper.ResponseWriter), ct, mw.dropUsageChunk)
		if isEventStream(ct) {
			mw.Header().Del("Content-Length")
		}
	}
	mw.ResponseWriterWrapper.WriteHeader(status)
}

// Write sends p through the meter.
func (mw *meteredWriter) Write(p []byte) (int, error) {
	if mw.status == 0 {
		mw.WriteHeader(http.StatusOK)
	}
	if mw.meter == nil {
		return mw.ResponseWriterWrapper.Write(p)
	}
	return mw.meter.Write(p)
}

// ReadFrom keeps io.Copy from bypassing the meter.
func (mw *meteredWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(writerOnly{mw}, r)
}

// FlushError flushes what the meter has passed on. A partial SSE event
// stays held until it is complete.
func (mw *meteredWriter) FlushError() error {
	return http.NewResponseController(mw.ResponseWriterWrapper.ResponseWriter).Flush()
}

// UnmarshalCaddyfile sets up the middleware from Caddyfile tokens. Syntax:
//
//	ai_auth {
//		max_request_body <size>
//	}
func (h *AuthHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return unmarshalHandler(d, &h.MaxRequestBody)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*AuthHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*AuthHandler)(nil)
	_ caddyfile.Unmarshaler       = (*AuthHandler)(nil)
)

// completionOf tells from an OpenAI-style path what the request's answer
// generates: chat and legacy completions take max_tokens, embeddings
// generate nothing, and anything else (the Responses API, say, whose bound
// is max_output_tokens) is reserved for but not capped.
func completionOf(path string) completionKind {
	path = strings.TrimRight(path, "/")
	switch {
	case strings.HasSuffix(path, "/completions"):
		return boundedCompletion
	case strings.HasSuffix(path, "/embeddings"):
		return noCompletion
	}
	return opaqueCompletion
}
