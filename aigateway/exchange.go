package aigateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)

// exchange is one authorized request on its way to a provider and back.
type exchange struct {
	h       *Handler
	w       http.ResponseWriter
	r       *http.Request
	dialect providers.Inbound
	target  route
	// model is the public model name the client asked for.
	model   string
	rec     *keystore.UsageRecord
	bodyLen int64
	// capTokens is the key's completion cap to apply, 0 for none.
	capTokens int64
	// upstream is how long the provider took, for the latency metric.
	upstream time.Duration
}

// passthrough sends the client's OpenAI-format body to an OpenAI-format
// upstream with only the model rewritten, and relays the answer's bytes,
// metering them on the way.
func (x *exchange) passthrough(pt providers.Passthrough, op providers.Operation, body []byte, in inboundRequest) {
	// A stream is metered from its final usage chunk; ask for it even when
	// the client did not, and keep it from the client then.
	forceUsage := op == providers.OpChatCompletions && in.Stream && !in.includeUsage()
	upBody, err := rewriteBody(body, in.Model, x.target.upstreamModel, forceUsage, x.capTokens, in.maxTokensField())
	if err != nil {
		x.rec.Status = http.StatusBadRequest
		writeError(x.w, x.dialect, errBadRequest("invalid_json", "", "the request body is not a JSON object"))
		return
	}
	start := time.Now()
	defer func() { x.upstream = time.Since(start) }()
	resp, err := pt.Send(x.r.Context(), &providers.Call{Operation: op, Model: x.target.upstreamModel, Body: upBody, Stream: in.Stream, Header: forwardHeaders(x.r.Header)})
	if err != nil {
		x.fail(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		x.fail(providers.ReadError(resp))
		return
	}
	x.relay(resp, forceUsage, x.target.publicJSON)
}

// relayedHeaders are upstream response headers worth passing to the client.
var relayedHeaders = []string{"Content-Type", "X-Request-Id", "Openai-Processing-Ms", "Openai-Model"}

// relay passes a successful OpenAI-format response to the client, metering
// it on the way, with the top-level "model" of the answer (or of each
// chunk) replaced by model when it is not nil.
func (x *exchange) relay(resp *http.Response, dropUsageChunk bool, model []byte) {
	w := x.w
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
	meter := newMeter(w, flusherOf(w), ct, dropUsageChunk, model)
	buf := copyBufPool.Get().(*[]byte)
	_, copyErr := io.CopyBuffer(writerOnly{meter}, readerOnly{resp.Body}, *buf)
	copyBufPool.Put(buf)
	u, ok, writeErr := meter.finish()
	x.rec.Status = resp.StatusCode
	if !ok {
		u = x.estimate(meter.deltas())
	}
	x.rec.PromptTokens, x.rec.CompletionTokens = u.PromptTokens, u.CompletionTokens
	// A client that closes its connection after the whole answer (as SDKs
	// do) has not cut anything short: only a failed copy is examined, and
	// a stream's copy failing after its [DONE] was passed on is not one
	// (the client may close on [DONE] before the upstream's connection
	// ends, which cancels the upstream read).
	if copyErr != nil && writeErr == nil && meter.sawEnd() {
		copyErr = nil
	}
	switch {
	case writeErr != nil || (copyErr != nil && x.r.Context().Err() != nil):
		x.rec.Status = statusClientClosed
	case copyErr != nil:
		x.rec.Status = http.StatusBadGateway
		x.h.logger.Warn("upstream response cut short", zap.Error(copyErr))
		if isEventStream(ct) {
			// The 200 is already sent: tell the client in the stream.
			_, _ = w.Write(append(append([]byte("data: "), openai.EncodeError(errUpstream(http.StatusBadGateway, "the upstream connection failed mid-stream"))...), '\n', '\n'))
			_ = flusherOf(w)()
		}
	}
}

// answerModel is the model to name in an answer the upstream gave as
// upstream: the public name the client asked for, unless it is the
// upstream's own name (then the upstream's answer, which may name a dated
// snapshot of the model, stands).
func (x *exchange) answerModel(upstream string) string {
	if x.target.publicJSON == nil {
		return upstream
	}
	return x.model
}

// statusClientClosed is recorded when the client went away (nginx's 499).
const statusClientClosed = 499

// estimate is the usage charged when the upstream reported none (a stream
// cut short): ~4 bytes a prompt token, a token per streamed delta, so that a
// disconnect is never free.
func (x *exchange) estimate(deltas int64) usage {
	return usage{PromptTokens: x.bodyLen / 4, CompletionTokens: deltas}
}

// chat decodes the request in the client's dialect, sends it to the
// provider in canonical form, and encodes the answer back.
func (x *exchange) chat(body []byte) {
	req, err := x.dialect.DecodeChat(body)
	if err != nil {
		x.fail(err)
		return
	}
	req.Model = x.target.upstreamModel
	if x.capTokens > 0 {
		req.MaxTokens = &x.capTokens
	}
	start := time.Now()
	defer func() { x.upstream = time.Since(start) }()
	if ii, ok := x.target.provider.(providers.InlineImages); ok && ii.NeedsInlineImages() {
		if perr := x.h.app.images.inline(x.r.Context(), req); perr != nil {
			x.fail(perr)
			return
		}
	}
	if !req.Stream {
		resp, err := x.target.provider.Chat(x.r.Context(), req)
		if err != nil {
			x.fail(err)
			return
		}
		x.rec.PromptTokens, x.rec.CompletionTokens = resp.Usage.PromptTokens, resp.Usage.CompletionTokens
		resp.Model = x.answerModel(resp.Model)
		out, err := x.dialect.EncodeChat(resp)
		if err != nil {
			x.fail(err)
			return
		}
		x.writeJSON(out)
		return
	}
	stream, err := x.target.provider.ChatStream(x.r.Context(), req)
	if err != nil {
		x.fail(err)
		return
	}
	defer stream.Close()
	x.stream(stream, req.IncludeUsage)
}

// stream translates a canonical stream to the client, flushing each event.
func (x *exchange) stream(stream providers.Stream, includeUsage bool) {
	w := x.w
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flush := flusherOf(w)
	enc := x.dialect.NewStreamEncoder(w, includeUsage)
	x.rec.Status = http.StatusOK
	var deltas int64
	var u *providers.Usage
	failed, complete := false, false
	for {
		ev, err := stream.Next()
		if errors.Is(err, io.EOF) {
			if !failed {
				_ = enc.End()
				_ = flush()
			}
			complete = true
			break
		}
		if err != nil {
			if x.r.Context().Err() != nil {
				x.rec.Status = statusClientClosed
				break
			}
			x.h.logger.Warn("upstream stream failed", zap.Error(err))
			ev = providers.Event{Type: providers.EventError, Err: errUpstream(http.StatusBadGateway, "the upstream connection failed mid-stream")}
		}
		switch ev.Type {
		case providers.EventStart:
			ev.Model = x.answerModel(ev.Model)
		case providers.EventText, providers.EventToolArgs:
			deltas++
		case providers.EventUsage:
			u = ev.Usage
		case providers.EventError:
			failed = true
			if ev.Err != nil {
				x.rec.Status = ev.Err.Status
			}
		}
		if err := enc.Encode(ev); err != nil {
			x.rec.Status = statusClientClosed
			break
		}
		if err := flush(); err != nil {
			x.rec.Status = statusClientClosed
			break
		}
		if err != nil { // the read error above ends the stream
			break
		}
	}
	if u != nil {
		x.rec.PromptTokens, x.rec.CompletionTokens = u.PromptTokens, u.CompletionTokens
	} else {
		e := x.estimate(deltas)
		x.rec.PromptTokens, x.rec.CompletionTokens = e.PromptTokens, e.CompletionTokens
	}
	if !complete && x.r.Context().Err() != nil {
		x.rec.Status = statusClientClosed
	}
}

// embed serves an embeddings request through a provider that is not
// OpenAI-format.
func (x *exchange) embed(body []byte) {
	emb, ok := x.target.provider.(providers.Embedder)
	if !ok {
		x.fail(errBadRequest("embeddings_not_supported", "model", "the model's provider has no embeddings API"))
		return
	}
	req, format, err := openai.DecodeEmbeddingRequest(body)
	if err != nil {
		x.fail(err)
		return
	}
	req.Model = x.target.upstreamModel
	resp, err := emb.Embed(x.r.Context(), req)
	if err != nil {
		x.fail(err)
		return
	}
	x.rec.PromptTokens = resp.Usage.PromptTokens
	resp.Model = x.answerModel(resp.Model)
	x.writeJSON(openai.EncodeEmbeddingResponse(resp, format))
}

// countTokens serves /v1/messages/count_tokens where the provider can count.
func (x *exchange) countTokens(body []byte) {
	counter, ok := x.target.provider.(providers.TokenCounter)
	if !ok {
		x.fail(errBadRequest("count_tokens_not_supported", "model", "the model's provider cannot count tokens"))
		return
	}
	decode := x.dialect.DecodeChat
	if d, ok := x.dialect.(interface {
		DecodeCountTokens([]byte) (*providers.ChatRequest, error)
	}); ok {
		decode = d.DecodeCountTokens
	}
	req, err := decode(body)
	if err != nil {
		x.fail(err)
		return
	}
	req.Model = x.target.upstreamModel
	n, err := counter.CountTokens(x.r.Context(), req)
	if err != nil {
		x.fail(err)
		return
	}
	x.writeJSON([]byte(`{"input_tokens":` + itoa(int(n)) + `}`))
}

func (x *exchange) writeJSON(body []byte) {
	x.w.Header().Set("Content-Type", "application/json")
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(body)
	x.rec.Status = http.StatusOK
}

// fail answers a request that got no usable answer, in the client's
// dialect, and records the status.
func (x *exchange) fail(err error) {
	var pe *providers.Error
	var ue *providers.UpstreamError
	switch {
	case errors.Is(x.r.Context().Err(), context.Canceled):
		x.rec.Status = statusClientClosed
		return
	case errors.As(err, &pe):
		if pe.Status >= 500 {
			x.h.logger.Warn("upstream error", zap.String("provider", x.target.providerName), zap.Int("status", pe.Status), zap.String("type", pe.Type))
		}
	case errors.As(err, &ue):
		x.h.logger.Warn("upstream request failed", zap.String("provider", x.target.providerName), zap.Error(err))
		if ue.Timeout {
			pe = errUpstream(http.StatusGatewayTimeout, "the upstream provider did not answer in time")
		} else {
			pe = errUpstream(http.StatusBadGateway, "the upstream provider could not be reached")
		}
	default:
		x.h.logger.Warn("upstream answer not usable", zap.String("provider", x.target.providerName), zap.Error(err))
		pe = errUpstream(http.StatusBadGateway, "the upstream provider's answer could not be read")
	}
	x.rec.Status = pe.Status
	writeError(x.w, x.dialect, pe)
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
