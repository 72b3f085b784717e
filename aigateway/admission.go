package aigateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// Rate and parallel limits live in memory, per process, keyed by scope:
// they outlive config reloads (a reload must not reset anyone's minute).
var (
	limiter      = governor.NewLimiter(time.Now)
	parallel     = governor.NewParallel()
	janitorStart sync.Once
)

// startJanitor drops expired limiter state once a minute, for the life of
// the process, so memory stays bounded by the keys active in a minute.
func startJanitor() {
	janitorStart.Do(func() {
		go func() {
			for range time.Tick(time.Minute) {
				limiter.Sweep()
			}
		}()
	})
}

// teamCache holds team records by id; admin writes drop entries.
var teamCache sync.Map

// forgetTeam drops a cached team after an admin change.
func (a *App) forgetTeam(id string) {
	teamCache.Delete(id)
}

func (a *App) team(ctx context.Context, id string) (*keystore.Team, error) {
	if v, ok := teamCache.Load(id); ok {
		return v.(*keystore.Team), nil
	}
	store, err := a.keyStore()
	if err != nil {
		return nil, err
	}
	g, ok := store.(keystore.Governance)
	if !ok {
		return nil, errors.New("the store has no teams")
	}
	t, err := g.GetTeam(ctx, id)
	if err != nil {
		return nil, err
	}
	teamCache.Store(id, &t)
	return &t, nil
}

// scopeLimits is one ledger owner (the key, or its team) and its limits.
type scopeLimits struct {
	scope  string
	limits keystore.Limits
}

// admission is a request let in: what it holds back until it settles.
type admission struct {
	app       *App
	scopes    []scopeLimits
	teamID    string
	releases  []func()
	resvID    string
	estimate  int64 // tokens reserved against TPM and quotas (0 when the key and team have neither)
	price     governor.Price
	priced    bool
	maxTokens int64 // the completion cap after the key's and team's limits; 0: none
	settled   bool
}

// defaultReserveTokens bounds the completion reserved for a request that
// sets no max_tokens under no cap. Under a budget or token quota it is also
// the bound the request is sent with, so the answer cannot cost more than
// was reserved.
const defaultReserveTokens = 4096

// completionKind says whether a request's answer generates tokens and
// whether the gateway can bound them; it sizes the reservation and decides
// where a completion cap can be written.
type completionKind int

const (
	// noCompletion: embeddings and token counts generate nothing.
	noCompletion completionKind = iota
	// boundedCompletion: chat and completions, whose bound the gateway
	// sets (max_tokens or max_completion_tokens).
	boundedCompletion
	// opaqueCompletion: an API behind ai_auth whose bound the gateway does
	// not know how to set: it reserves as for chat but writes no cap.
	opaqueCompletion
)

// admit applies the key's and its team's limits to a request: requests per
// minute, parallel requests, the per-request token cap, tokens per minute,
// then a reservation of the worst-case cost and tokens against budgets and
// token quotas. Headers describing the limits are set on w. A rejection is
// a 429 (rate_limit_exceeded, or insufficient_quota for budgets and
// quotas) with Retry-After. The admission's maxTokens is the completion
// bound to write into the request, 0 for none; kind says whether there is
// a completion to bound. The prompt is reserved at its upper bound
// (governor.PromptTokenBound of body), so that no answer can settle above
// its reservation.
func (a *App) admit(ctx context.Context, w http.ResponseWriter, key keystore.Key, model string, body []byte, askedMaxTokens int64, kind completionKind) (*admission, *providers.Error) {
	ad := &admission{app: a}
	ad.scopes = append(ad.scopes, scopeLimits{scope: keystore.KeyScope(key.ID), limits: key.Limits})
	if key.Team != "" {
		t, err := a.team(ctx, key.Team)
		if err != nil {
			a.logger.Error("team lookup failed", zap.String("team_id", key.Team), zap.Error(err))
			return nil, errStoreUnavailable()
		}
		ad.teamID = t.ID
		ad.scopes = append(ad.scopes, scopeLimits{scope: keystore.TeamScope(t.ID), limits: t.Limits})
	}
	ad.price, ad.priced = a.priceOf(model)

	// Requests per minute.
	for i, s := range ad.scopes {
		if s.limits.RPM <= 0 {
			continue
		}
		d := limiter.Allow("rpm:"+s.scope, s.limits.RPM, 1)
		if i == 0 || len(ad.scopes) == 1 || ad.scopes[0].limits.RPM <= 0 {
			setRateHeaders(w, "requests", d)
		}
		if !d.Allowed {
			ad.undoRPM(i)
			return nil, a.reject(ctx, ad, "rate_limit_exceeded", s.scope, "rate limit reached: "+strconv.FormatInt(s.limits.RPM, 10)+" requests per minute", d.RetryAfter)
		}
	}
	// Parallel requests.
	for _, s := range ad.scopes {
		if s.limits.MaxParallel <= 0 {
			continue
		}
		release, ok := parallel.Acquire("par:"+s.scope, s.limits.MaxParallel)
		if !ok {
			ad.release()
			ad.undoRPM(len(ad.scopes))
			return nil, a.reject(ctx, ad, "rate_limit_exceeded", s.scope, "too many parallel requests: at most "+strconv.FormatInt(s.limits.MaxParallel, 10), time.Second)
		}
		ad.releases = append(ad.releases, release)
	}
	// The completion cap: the smallest of the key's and the team's, applied
	// when the client asks for more or for nothing.
	for _, s := range ad.scopes {
		if m := s.limits.MaxTokens; m > 0 && (ad.maxTokens == 0 || m < ad.maxTokens) {
			ad.maxTokens = m
		}
	}
	// The prompt's bound costs a scan of the body: only for requests that
	// reserve tokens.
	var prompt int64
	for _, s := range ad.scopes {
		if l := s.limits; l.TPM > 0 || l.BudgetMicros() > 0 || l.TokenQuota > 0 {
			prompt = governor.PromptTokenBound(body, governor.ImageTokenMax(a.upstreamOf(model)))
			break
		}
	}
	if kind == noCompletion {
		ad.maxTokens = 0
		ad.estimate = prompt
	} else {
		completion := askedMaxTokens
		if ad.maxTokens > 0 && (completion <= 0 || completion > ad.maxTokens) {
			completion = ad.maxTokens
		} else {
			ad.maxTokens = 0 // the client's own bound stands
		}
		if kind == opaqueCompletion {
			ad.maxTokens = 0 // no field to write it in
		}
		ad.estimate = governor.ReserveTokens(prompt, completion, defaultReserveTokens)
	}

	// Tokens per minute, charged with the estimate and settled later.
	for i, s := range ad.scopes {
		if s.limits.TPM <= 0 {
			continue
		}
		d := limiter.Allow("tpm:"+s.scope, s.limits.TPM, ad.estimate)
		if i == 0 || ad.scopes[0].limits.TPM <= 0 {
			setRateHeaders(w, "tokens", d)
		}
		if !d.Allowed {
			ad.undoTPM(i)
			ad.release()
			ad.undoRPM(len(ad.scopes))
			return nil, a.reject(ctx, ad, "rate_limit_exceeded", s.scope, "token rate limit reached: "+strconv.FormatInt(s.limits.TPM, 10)+" tokens per minute", d.RetryAfter)
		}
	}

	// Budgets and token quotas: reserve the worst case.
	var allowances []keystore.Allowance
	for _, s := range ad.scopes {
		l := s.limits
		if l.BudgetMicros() <= 0 && l.TokenQuota <= 0 {
			continue
		}
		if l.BudgetMicros() > 0 && !ad.priced {
			ad.undo()
			return nil, &providers.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "model_not_priced", Param: "model",
				Message: "the model '" + model + "' has no price on this gateway, so a USD budget cannot be enforced for it"}
		}
		allowances = append(allowances, keystore.Allowance{Scope: s.scope, BudgetMicros: l.BudgetMicros(), BudgetPeriod: l.BudgetPeriod,
			TokenQuota: l.TokenQuota, QuotaPeriod: l.TokenQuotaPeriod})
	}
	// A budget or quota holds only if the answer cannot outgrow its
	// reservation: with no bound from the client or a cap, send the
	// completion reserved as the bound.
	if len(allowances) > 0 && kind == boundedCompletion && askedMaxTokens <= 0 && ad.maxTokens == 0 {
		ad.maxTokens = defaultReserveTokens
	}
	if len(allowances) > 0 {
		g, err := a.governance()
		if err != nil {
			ad.undo()
			return nil, errStoreUnavailable()
		}
		// The reservation's id is the gateway's own: a client's
		// X-Request-Id could collide with another request's on purpose.
		var id [16]byte
		_, _ = rand.Read(id[:])
		ad.resvID = "resv_" + hex.EncodeToString(id[:])
		cost := governor.Cost(ad.price, governor.Usage{PromptTokens: prompt, CompletionTokens: ad.estimate - prompt})
		err = g.Reserve(ctx, keystore.Reservation{ID: ad.resvID, Allowances: allowances, CostMicros: cost, Tokens: ad.estimate, At: time.Now()})
		switch {
		case errors.Is(err, keystore.ErrBudgetExceeded):
			ad.undo()
			return nil, a.reject(ctx, ad, "insufficient_quota", scopeOf(err, ad), "budget exhausted for this period", untilReset(ad, true))
		case errors.Is(err, keystore.ErrQuotaExceeded):
			ad.undo()
			return nil, a.reject(ctx, ad, "insufficient_quota", scopeOf(err, ad), "token quota exhausted for this period", untilReset(ad, false))
		case err != nil:
			ad.undo()
			a.logger.Error("reservation failed", zap.Error(err))
			return nil, storeFailure(err)
		}
	}
	return ad, nil
}

// upstreamOf is the upstream model name a public model is sent as; a name
// that is no public model (ai_auth's) is its own.
func (a *App) upstreamOf(model string) string {
	if r, ok := a.models[model]; ok {
		return r.upstreamModel
	}
	return model
}

// settle charges the actual usage: budgets and quotas replace the
// reservation, TPM is corrected by the difference from the estimate, and
// the parallel slots are released. It returns the request's cost. Calling
// it twice does nothing the second time.
func (ad *admission) settle(ctx context.Context, u usage) int64 {
	if ad == nil || ad.settled {
		return 0
	}
	ad.settled = true
	defer ad.release()
	tokens := max(u.PromptTokens, 0) + max(u.CompletionTokens, 0)
	cost := governor.Cost(ad.price, governor.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens})
	for _, s := range ad.scopes {
		if s.limits.TPM > 0 {
			limiter.Adjust("tpm:"+s.scope, s.limits.TPM, tokens-ad.estimate)
		}
	}
	if ad.resvID != "" {
		if g, err := ad.app.governance(); err == nil {
			// Settle even when the client went away: the tokens were spent.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := g.Settle(sctx, ad.resvID, cost, tokens); err != nil {
				ad.app.logger.Error("settling a reservation failed", zap.String("request_id", ad.resvID), zap.Error(err))
			}
			cancel()
		}
	}
	return cost
}

func (ad *admission) release() {
	for _, r := range ad.releases {
		r()
	}
	ad.releases = nil
}

// undoRPM returns the request slot taken from the first n scopes.
func (ad *admission) undoRPM(n int) {
	for _, s := range ad.scopes[:min(n, len(ad.scopes))] {
		if s.limits.RPM > 0 {
			limiter.Adjust("rpm:"+s.scope, s.limits.RPM, -1)
		}
	}
}

// undoTPM returns the tokens charged to the first n scopes.
func (ad *admission) undoTPM(n int) {
	for _, s := range ad.scopes[:min(n, len(ad.scopes))] {
		if s.limits.TPM > 0 {
			limiter.Adjust("tpm:"+s.scope, s.limits.TPM, -ad.estimate)
		}
	}
}

// undo gives back everything taken before a later refusal.
func (ad *admission) undo() {
	ad.undoTPM(len(ad.scopes))
	ad.release()
	ad.undoRPM(len(ad.scopes))
}

// scopeOf names the scope a ledger error is about, for events and audit.
func scopeOf(err error, ad *admission) string {
	for _, s := range ad.scopes {
		if strings.Contains(err.Error(), s.scope) {
			return s.scope
		}
	}
	return ad.scopes[0].scope
}

// untilReset is the Retry-After of an exhausted budget or quota: the next
// period reset, or a day for lifetime allowances (they do not reset).
func untilReset(ad *admission, budget bool) time.Duration {
	now := time.Now()
	var wait time.Duration
	for _, s := range ad.scopes {
		period := s.limits.TokenQuotaPeriod
		if budget {
			period = s.limits.BudgetPeriod
		}
		end := keystore.PeriodEnd(period, now)
		d := 24 * time.Hour
		if !end.IsZero() {
			d = end.Sub(now)
		}
		if d > wait {
			wait = d
		}
	}
	return wait
}

// reject records a refusal (metrics, event, audit for budgets) and builds
// the client's 429.
func (a *App) reject(ctx context.Context, ad *admission, code, scope, msg string, retryAfter time.Duration) *providers.Error {
	reason := code
	if code == "insufficient_quota" {
		reason = "budget_or_quota"
	}
	a.rejected(ctx, reason, scope, ad.teamID)
	secs := int((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	typ := "rate_limit_error"
	if code == "insufficient_quota" {
		typ = "insufficient_quota"
	}
	return &providers.Error{Status: http.StatusTooManyRequests, Type: typ, Code: code, Message: msg, RetryAfter: secs}
}

// setRateHeaders sets OpenAI's x-ratelimit-* headers for one limit kind
// ("requests" or "tokens").
func setRateHeaders(w http.ResponseWriter, kind string, d governor.Decision) {
	h := w.Header()
	h.Set("X-Ratelimit-Limit-"+kind, strconv.FormatInt(d.Limit, 10))
	h.Set("X-Ratelimit-Remaining-"+kind, strconv.FormatInt(max(d.Remaining, 0), 10))
	h.Set("X-Ratelimit-Reset-"+kind, formatReset(d.ResetAfter))
}

// formatReset writes a duration the way OpenAI does: "1s", "6m0s", "20ms".
func formatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return d.Round(time.Second).String()
}
