package aigateway

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// Metrics are created once per process and registered in each config's
// registry (Caddy makes a new one per config), so counters survive reloads.
var (
	metricsOnce sync.Once
	metrics     struct {
		requests   *prometheus.CounterVec
		tokens     *prometheus.CounterVec
		cost       *prometheus.CounterVec
		latency    *prometheus.HistogramVec
		rejections *prometheus.CounterVec
	}
)

func initMetrics() {
	metricsOnce.Do(func() {
		const ns, sub = "caddy", "ai_gateway"
		metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests that reached a model, by public model, provider and HTTP status."}, []string{"model", "provider", "status"})
		metrics.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tokens_total",
			Help: "Tokens metered, by model, provider and kind (prompt, completion)."}, []string{"model", "provider", "kind"})
		metrics.cost = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "cost_usd_total",
			Help: "Cost of metered requests in USD, by model and provider."}, []string{"model", "provider"})
		metrics.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "upstream_duration_seconds",
			Help:    "Time from sending a request upstream to the end of its answer, by provider.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"provider"})
		metrics.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejections_total",
			Help: "Requests refused by the gateway, by reason."}, []string{"reason"})
	})
}

// registerMetrics adds the collectors to this config's registry.
func registerMetrics(reg *prometheus.Registry) error {
	initMetrics()
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{metrics.requests, metrics.tokens, metrics.cost, metrics.latency, metrics.rejections} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// observe counts a finished request in the metrics. Counts are sanitized
// where usage is decoded; a negative one is still never added, since a
// Prometheus counter panics on it.
func observe(rec *keystore.UsageRecord, upstream time.Duration) {
	initMetrics()
	if rec.Provider == "" && rec.Model == "" {
		return
	}
	metrics.requests.WithLabelValues(rec.Model, rec.Provider, strconv.Itoa(rec.Status)).Inc()
	metrics.tokens.WithLabelValues(rec.Model, rec.Provider, "prompt").Add(float64(max(rec.PromptTokens, 0)))
	metrics.tokens.WithLabelValues(rec.Model, rec.Provider, "completion").Add(float64(max(rec.CompletionTokens, 0)))
	if rec.CostMicros > 0 {
		metrics.cost.WithLabelValues(rec.Model, rec.Provider).Add(float64(rec.CostMicros) / 1e6)
	}
	if upstream > 0 {
		metrics.latency.WithLabelValues(rec.Provider).Observe(upstream.Seconds())
	}
}

// EventRejected is the Caddy event emitted when the gateway refuses a
// request (authentication, limits, budgets). Its data: reason, scope,
// team_id.
const EventRejected = "ai_gateway_rejected"

// rejected counts a refusal, emits the event, and audits budget
// exhaustion (once per scope and period, so the chain is not flooded).
func (a *App) rejected(ctx context.Context, reason, scope, teamID string) {
	initMetrics()
	metrics.rejections.WithLabelValues(reason).Inc()
	if a.events != nil {
		a.events.Emit(a.ctx, EventRejected, map[string]any{"reason": reason, "scope": scope, "team_id": teamID})
	}
	if reason == "budget_or_quota" {
		day := time.Now().UTC().Format(time.DateOnly)
		if _, seen := exhaustedAudited.LoadOrStore(scope+"@"+day, true); !seen {
			a.audit(ctx, keystore.AuditEntry{Action: "budget.exhausted", Target: scope})
		}
	}
}

var exhaustedAudited sync.Map

// audit appends a security event to the chain; failures are logged, never
// shown to the client.
func (a *App) audit(ctx context.Context, e keystore.AuditEntry) {
	g, err := a.governance()
	if err != nil {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := g.Audit(actx, e); err != nil {
		a.logger.Error("audit entry not written", zap.String("action", e.Action), zap.Error(err))
	}
}

// governance returns the store's governance side.
func (a *App) governance() (keystore.Governance, error) {
	store, err := a.keyStore()
	if err != nil {
		return nil, err
	}
	g, ok := store.(keystore.Governance)
	if !ok {
		return nil, errors.New("the store has no governance support")
	}
	return g, nil
}

// priceOf finds the price of the model a request was admitted for, by the
// name the client sent (the public model, or for ai_auth the model in the
// body): the price configured for that public model, else the built-in
// table's for its upstream model, else the built-in table's for the name.
// A configured price is never looked up by upstream name, so public models
// sharing an upstream model keep their own prices.
func (a *App) priceOf(model string) (governor.Price, bool) {
	r, ok := a.models[model]
	if ok && r.priced {
		return r.price, true
	}
	if a.prices == nil {
		return governor.Price{}, false
	}
	if ok {
		if p, ok := a.prices.Lookup(r.upstreamModel); ok {
			return p, true
		}
	}
	return a.prices.Lookup(model)
}

// eventsApp finds the events app, when the config has one or can make one.
func eventsApp(ctx caddy.Context) *caddyevents.App {
	v, err := ctx.App("events")
	if err != nil {
		return nil
	}
	app, _ := v.(*caddyevents.App)
	return app
}
