package aigateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// Verdicts of POST /ai_gateway/keys/check, in the order the gateway tests
// a request's key: what the key is, then whether it may be used now.
const (
	VerdictOK              = "ok"
	VerdictMissing         = "missing"
	VerdictMalformed       = "malformed"
	VerdictBadChecksum     = "bad_checksum"
	VerdictUnknown         = "unknown"
	VerdictRevoked         = "revoked"
	VerdictExpired         = "expired"
	VerdictModelNotAllowed = "model_not_allowed"
	VerdictBudgetExhausted = "budget_exhausted"
	VerdictQuotaExhausted  = "quota_exhausted"
)

// keyCheckRequest is the body of POST /ai_gateway/keys/check.
type keyCheckRequest struct {
	// Key is the key as a user pasted it. It is hashed and dropped; the
	// answer never holds it or any part of it.
	Key string `json:"key"`
	// Model, when set, is checked against the key's allow-list.
	Model string `json:"model,omitempty"`
}

// keyCheck is the answer: why the gateway would accept or refuse the key.
// Everything in it comes from the store's records, never from the key.
type keyCheck struct {
	Verdict string `json:"verdict"`
	// Message explains the verdict for a person.
	Message string `json:"message"`
	// KeyID and the rest are set when the key is known.
	KeyID     string     `json:"key_id,omitempty"`
	Name      string     `json:"name,omitempty"`
	Team      string     `json:"team,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// RevokedBy is the audit entry of the revocation.
	RevokedBy *keystore.AuditEntry `json:"revoked_by,omitempty"`
	// RotatedTo is the key that replaced this one.
	RotatedTo string `json:"rotated_to,omitempty"`
	Model     string `json:"model,omitempty"`
	// Scope is the exhausted allowance's owner ("key:<id>" or "team:<id>")
	// and ResetsAt when its period ends (absent for a lifetime allowance).
	Scope    string     `json:"scope,omitempty"`
	ResetsAt *time.Time `json:"resets_at,omitempty"`
}

// handleKeyCheck answers POST /ai_gateway/keys/check. It is on the admin
// endpoint only: telling unknown keys from revoked ones is for operators,
// not for whoever holds a key.
func (a *AdminAPI) handleKeyCheck(w http.ResponseWriter, r *http.Request, store keystore.Store) error {
	if r.Method != http.MethodPost {
		return methodNotAllowed(r, "POST")
	}
	var req keyCheckRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	c, err := checkKey(r.Context(), store, strings.TrimSpace(req.Key), req.Model, time.Now())
	if err != nil {
		return storeError(err)
	}
	a.logger.Info("key checked", zap.String("key_id", c.KeyID), zap.String("verdict", c.Verdict))
	return writeJSON(w, http.StatusOK, c)
}

// auditFinder is the part of a store that finds the audit entry of a
// change (the Badger store has it).
type auditFinder interface {
	FindAudit(ctx context.Context, action, target string) (keystore.AuditEntry, error)
}

// checkKey works out the verdict for presented at now, the way a request
// would meet it: format, checksum, lookup, revocation, expiry, then the
// model and the key's and its team's allowances. Store failures are
// returned as errors; every answer about the key is a verdict.
func checkKey(ctx context.Context, store keystore.Store, presented, model string, now time.Time) (keyCheck, error) {
	if presented == "" {
		return keyCheck{Verdict: VerdictMissing, Message: "no key given"}, nil
	}
	switch err := keystore.CheckFormat(presented); {
	case errors.Is(err, keystore.ErrBadChecksum):
		return keyCheck{Verdict: VerdictBadChecksum, Message: "the key's checksum does not match: a typo or a truncated copy (no store was read)"}, nil
	case err != nil:
		return keyCheck{Verdict: VerdictMalformed, Message: fmt.Sprintf("not a key of this gateway: a key is %d characters starting with %q, letters and digits only", keystore.KeyLength, keystore.KeyPrefix)}, nil
	}
	auth, err := store.Authenticate(ctx, presented, now)
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		return keyCheck{Verdict: VerdictUnknown, Message: "well-formed, but no key of this store has it: issued by another gateway or store, or never issued"}, nil
	case err != nil && !errors.Is(err, keystore.ErrRevoked) && !errors.Is(err, keystore.ErrExpired):
		return keyCheck{}, err
	}
	k, gerr := store.GetKey(ctx, auth.ID)
	if gerr != nil {
		return keyCheck{}, gerr
	}
	c := keyCheck{KeyID: k.ID, Name: k.Name, Team: k.Team, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, RotatedTo: k.RotatedTo, Model: model}
	switch {
	case errors.Is(err, keystore.ErrRevoked):
		c.Verdict = VerdictRevoked
		c.Message = "revoked"
		if k.RevokedAt != nil {
			c.Message += " at " + k.RevokedAt.Format(time.RFC3339)
		}
		if f, ok := store.(auditFinder); ok {
			if e, ferr := f.FindAudit(ctx, keystore.AuditKeyRevoke, k.ID); ferr == nil {
				c.RevokedBy = &e
				c.Message += fmt.Sprintf(" by the change in audit entry %d", e.Seq)
				if e.Actor != "" {
					c.Message += " (" + e.Actor + ")"
				}
			}
		}
		return c, nil
	case errors.Is(err, keystore.ErrExpired):
		c.Verdict = VerdictExpired
		c.Message = "expired at " + k.ExpiresAt.Format(time.RFC3339)
		if k.RotatedTo != "" {
			c.Message += "; it was rotated into " + k.RotatedTo + ", use that key"
		}
		return c, nil
	}
	if model != "" && !k.AllowsModel(model) {
		c.Verdict = VerdictModelNotAllowed
		c.Message = fmt.Sprintf("the key may not use %q; it allows %s", model, strings.Join(k.Models, ", "))
		return c, nil
	}
	if g, ok := store.(keystore.Governance); ok {
		scopes := []struct {
			scope  string
			limits keystore.Limits
		}{{keystore.KeyScope(k.ID), k.Limits}}
		if k.Team != "" {
			t, err := g.GetTeam(ctx, k.Team)
			if err != nil && !errors.Is(err, keystore.ErrNotFound) {
				return keyCheck{}, err
			}
			scopes = append(scopes, struct {
				scope  string
				limits keystore.Limits
			}{keystore.TeamScope(k.Team), t.Limits})
		}
		for _, s := range scopes {
			if verdict, period, ok, err := exhausted(ctx, g, s.scope, s.limits, now); err != nil {
				return keyCheck{}, err
			} else if ok {
				c.Verdict, c.Scope = verdict, s.scope
				what := "USD budget"
				if verdict == VerdictQuotaExhausted {
					what = "token quota"
				}
				c.Message = fmt.Sprintf("the %s of %s is used up", what, s.scope)
				if end := keystore.PeriodEnd(period, now); !end.IsZero() {
					c.ResetsAt = &end
					c.Message += "; it resets at " + end.Format(time.RFC3339)
				} else {
					c.Message += "; it is a lifetime allowance and does not reset"
				}
				return c, nil
			}
		}
	}
	c.Verdict = VerdictOK
	c.Message = "the gateway accepts this key"
	if k.ExpiresAt != nil {
		c.Message += " until " + k.ExpiresAt.Format(time.RFC3339)
	}
	if k.RotatedTo != "" {
		c.Message += "; it was rotated into " + k.RotatedTo + ", switch to that key before then"
	}
	return c, nil
}

// exhausted reports whether scope has used up its budget or token quota
// in the current period: spend and reservations at or past the budget, or
// tokens at or past the quota, so that the next request would be refused.
func exhausted(ctx context.Context, g keystore.Governance, scope string, l keystore.Limits, now time.Time) (verdict, period string, ok bool, err error) {
	if b := l.BudgetMicros(); b > 0 {
		s, err := g.SpendOf(ctx, scope, l.BudgetPeriod, now)
		if err != nil {
			return "", "", false, err
		}
		if s.SpentMicros+s.ReservedMicros >= b {
			return VerdictBudgetExhausted, l.BudgetPeriod, true, nil
		}
	}
	if l.TokenQuota > 0 {
		s, err := g.SpendOf(ctx, scope, l.TokenQuotaPeriod, now)
		if err != nil {
			return "", "", false, err
		}
		if s.Tokens+s.ReservedTokens >= l.TokenQuota {
			return VerdictQuotaExhausted, l.TokenQuotaPeriod, true, nil
		}
	}
	return "", "", false, nil
}
