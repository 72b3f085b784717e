package aigateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
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

// relay passes a successful OpenAI-format response to the client, metering
// it on the way: a stream event by event, anything else whole once it has
// arrived and proved to be a JSON object. When model is not nil, the
// top-level "model" of the answer (or of each chunk) is replaced by it.
func (x *exchange) relay(resp *http.Response, dropUsageChunk bool, model []byte) {
	ct := resp.Header.Get("Content-Type")
	if !isEventStream(ct) {
		x.relayJSON(resp, ct, model)
		return
	}
	w := x.w
	hdr := w.Header()
	relayHeaders(hdr, resp.Header)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(resp.StatusCode)
	meter := &sseMeter{dst: w, flush: flusherOf(w), dropUsageChunk: dropUsageChunk, model: model, scrub: x.h.app.scrub}
	buf := copyBufPool.Get().(*[]byte)
	_, copyErr := io.CopyBuffer(writerOnly{meter}, readerOnly{resp.Body}, *buf)
	copyBufPool.Put(buf)
	u, ok, writeErr := meter.finish()
	x.rec.Status = resp.StatusCode
	if !ok {
		u = x.estimate(meter.deltas())
	}
	x.rec.PromptTokens, x.rec.CompletionTokens = u.PromptTokens, u.CompletionTokens
	if u.adjusted {
		x.usageAdjusted()
	}
	// A client that closes its connection after the whole answer (as SDKs
	// do) has not cut anything short: only a failed copy is examined, and
	// a stream's copy failing after its [DONE] was passed on is not one
	// (the client may close on [DONE] before the upstream's connection
	// ends, which cancels the upstream read).
	if copyErr != nil && writeErr == nil && meter.sawEnd() {
		copyErr = nil
	}
	var msg string
	switch {
	case writeErr != nil || ((copyErr != nil || !meter.sawEnd()) && x.r.Context().Err() != nil):
		x.rec.Status = statusClientClosed
		return
	case copyErr != nil:
		x.h.logger.Warn("upstream response cut short", zap.String("provider", x.target.providerName), zap.String("error", x.h.app.scrub.String(copyErr.Error())))
		msg = "the upstream connection failed mid-stream"
	case !meter.sawEnd():
		// An OpenAI-format stream ends with data: [DONE]; one that stops
		// without it was cut short, however cleanly its connection closed.
		x.h.logger.Warn("upstream stream ended without [DONE]", zap.String("provider", x.target.providerName))
		msg = "the upstream stream ended before it was complete"
	default:
		return
	}
	// The 200 is already sent: tell the client in the stream.
	x.rec.Status = http.StatusBadGateway
	_, _ = w.Write(append(append([]byte("data: "), openai.EncodeError(errUpstream(http.StatusBadGateway, msg))...), '\n', '\n'))
	_ = flusherOf(w)()
}

// relayedHeaders are upstream response headers worth passing to the client.
var relayedHeaders = []string{"Content-Type", "X-Request-Id", "Openai-Processing-Ms", "Openai-Model"}

func relayHeaders(dst, src http.Header) {
	for _, name := range relayedHeaders {
		if v := src.Values(name); len(v) > 0 {
			dst[name] = v
		}
	}
}

// relayJSON passes on a JSON answer. It reads the answer whole before
// sending anything (up to maxMeteredJSON, which the meter kept a copy of
// anyway), so that an answer cut short, truncated or not JSON at all (a
// proxy's HTML page) becomes a 502 in the client's dialect instead of a 200
// the client cannot parse. A larger answer is relayed as it comes, its
// first part held and checked like the rest.
func (x *exchange) relayJSON(resp *http.Response, ct string, model []byte) {
	bp := answerBufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledAnswer {
			answerBufPool.Put(bp)
		}
	}()
	body, whole, err := readAnswer((*bp)[:0], resp.Body, resp.ContentLength)
	*bp = body[:0]
	if err != nil {
		if x.r.Context().Err() != nil {
			x.rec.Status = statusClientClosed
			return
		}
		x.h.logger.Warn("upstream answer cut short", zap.String("provider", x.target.providerName), zap.String("error", x.h.app.scrub.String(err.Error())))
		x.rec.Status = http.StatusBadGateway
		writeError(x.w, x.dialect, errUpstream(http.StatusBadGateway, "the upstream connection failed before its answer was complete"))
		return
	}
	if !whole {
		x.relayLarge(resp, body)
		return
	}
	u, ok, _, valid := scanAnswer(body)
	if !valid || (ct != "" && !strings.Contains(ct, "json")) {
		x.h.logger.Warn("upstream answer is not a JSON object", zap.String("provider", x.target.providerName),
			zap.Int("status", resp.StatusCode), zap.String("content_type", ct), zap.Int("length", len(body)))
		x.rec.Status = http.StatusBadGateway
		writeError(x.w, x.dialect, errUpstream(http.StatusBadGateway, "the upstream provider's answer is not valid JSON"))
		return
	}
	out := body
	if model != nil {
		if rewritten, ok := appendModelRewritten(nil, body, 0, model); ok {
			out = rewritten
		}
	}
	out = x.h.app.scrub.Bytes(out)
	hdr := x.w.Header()
	relayHeaders(hdr, resp.Header)
	hdr.Set("Content-Length", itoa(len(out)))
	x.w.WriteHeader(resp.StatusCode)
	_, werr := x.w.Write(out)
	x.rec.Status = resp.StatusCode
	if werr != nil {
		x.rec.Status = statusClientClosed
	}
	if !ok {
		u = x.estimate(0)
	}
	x.rec.PromptTokens, x.rec.CompletionTokens = u.PromptTokens, u.CompletionTokens
}

// relayLarge passes on an answer longer than maxMeteredJSON: held, the
// part already read, then the rest as it comes. Its usage is not read (an
// answer that size is an embeddings list, priced by its prompt).
func (x *exchange) relayLarge(resp *http.Response, head []byte) {
	relayHeaders(x.w.Header(), resp.Header)
	x.w.WriteHeader(resp.StatusCode)
	x.rec.Status = resp.StatusCode
	u := x.estimate(0)
	x.rec.PromptTokens, x.rec.CompletionTokens = u.PromptTokens, u.CompletionTokens
	if _, err := x.w.Write(head); err != nil {
		x.rec.Status = statusClientClosed
		return
	}
	buf := copyBufPool.Get().(*[]byte)
	_, err := io.CopyBuffer(writerOnly{x.w}, readerOnly{resp.Body}, *buf)
	copyBufPool.Put(buf)
	switch {
	case err != nil && x.r.Context().Err() != nil:
		x.rec.Status = statusClientClosed
	case err != nil:
		x.rec.Status = http.StatusBadGateway
		x.h.logger.Warn("upstream response cut short", zap.String("provider", x.target.providerName), zap.String("error", x.h.app.scrub.String(err.Error())))
	}
}

// answerBufPool holds the buffers JSON answers are read into; one that grew
// past maxPooledAnswer is left to the collector.
var answerBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooledAnswer = 1 << 20

// readAnswer appends r to buf until EOF or until buf holds maxMeteredJSON
// bytes (whole false, the rest unread). size is the announced length, -1
// if unknown.
func readAnswer(buf []byte, r io.Reader, size int64) (body []byte, whole bool, err error) {
	if size > 0 && size < maxMeteredJSON && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1) // +1: room for the read that sees EOF
	}
	for {
		if len(buf) >= maxMeteredJSON {
			return buf, false, nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), maxMeteredJSON)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
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
// cut short): the prompt estimate (governor.EstimatePromptTokens, ~4 bytes
// a token), a token per streamed delta, so that a disconnect is never free.
// It stays within the reservation, whose prompt part is a bound.
func (x *exchange) estimate(deltas int64) usage {
	return usage{PromptTokens: governor.EstimatePromptTokens(int(x.bodyLen)), CompletionTokens: deltas}
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
		if resp.Usage.Adjusted {
			x.usageAdjusted()
		}
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
			x.h.logger.Warn("upstream stream failed", zap.String("provider", x.target.providerName), zap.String("error", x.h.app.scrub.String(err.Error())))
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
				c := *ev.Err // its text is the upstream's: scrub a copy
				ev.Err = x.h.app.scrub.Error(&c)
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
		if u.Adjusted {
			x.usageAdjusted()
		}
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
	if resp.Usage.Adjusted {
		x.usageAdjusted()
	}
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

// usageAdjusted logs an upstream usage report whose counts were out of
// range (negative, or above providers.MaxUsageTokens) and were clamped: the
// request is metered with the clamped counts, and the upstream is worth a
// look.
func (x *exchange) usageAdjusted() {
	warnUsageAdjusted(x.h.logger, x.target.providerName, x.rec.Model)
}

// warnUsageAdjusted logs that a provider reported token counts out of range.
func warnUsageAdjusted(logger *zap.Logger, provider, model string) {
	if logger == nil {
		return
	}
	logger.Warn("upstream reported token usage out of range; counts clamped to [0, max]",
		zap.String("provider", provider), zap.String("model", model), zap.Int64("max", providers.MaxUsageTokens))
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
		// A copy: the error may be shared, and its text may come from the
		// upstream, which can quote the gateway's credentials.
		c := *pe
		pe = x.h.app.scrub.Error(&c)
		if pe.Status >= 500 {
			x.h.logger.Warn("upstream error", zap.String("provider", x.target.providerName), zap.Int("status", pe.Status), zap.String("type", pe.Type))
		}
	case errors.As(err, &ue):
		x.h.logger.Warn("upstream request failed", zap.String("provider", x.target.providerName), zap.String("error", x.h.app.scrub.String(err.Error())))
		if ue.Timeout {
			pe = errUpstream(http.StatusGatewayTimeout, "the upstream provider did not answer in time")
		} else {
			pe = errUpstream(http.StatusBadGateway, "the upstream provider could not be reached")
		}
	default:
		x.h.logger.Warn("upstream answer not usable", zap.String("provider", x.target.providerName), zap.String("error", x.h.app.scrub.String(err.Error())))
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
