package keystore

import (
	"context"
	"errors"
	"io"
	"time"
)

// This file is the contract for governance: limits on keys and teams, the
// spend ledger with reservations, and the audit chain. Amounts of money are
// integer micro-dollars (1 USD = 1_000_000) so that concurrent sums are
// exact.

// Errors of governance.
var (
	// ErrBudgetExceeded: the reservation would take spend past a USD budget.
	ErrBudgetExceeded = errors.New("budget exceeded")
	// ErrQuotaExceeded: the reservation would take tokens past a token quota.
	ErrQuotaExceeded = errors.New("token quota exceeded")
)

// Periods for budgets and token quotas. Periods reset on calendar
// boundaries in UTC: midnight, Monday midnight, the first of the month.
// PeriodNone is a lifetime allowance.
const (
	PeriodNone    = ""
	PeriodDaily   = "daily"
	PeriodWeekly  = "weekly"
	PeriodMonthly = "monthly"
)

// PeriodStart returns the start of the period that holds t, in UTC; the
// zero time for PeriodNone.
func PeriodStart(period string, t time.Time) time.Time {
	t = t.UTC()
	switch period {
	case PeriodDaily:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case PeriodWeekly:
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		offset := (int(day.Weekday()) + 6) % 7 // days since Monday
		return day.AddDate(0, 0, -offset)
	case PeriodMonthly:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// PeriodEnd returns when the period that holds t ends (the next reset),
// the zero time for PeriodNone.
func PeriodEnd(period string, t time.Time) time.Time {
	s := PeriodStart(period, t)
	switch period {
	case PeriodDaily:
		return s.AddDate(0, 0, 1)
	case PeriodWeekly:
		return s.AddDate(0, 0, 7)
	case PeriodMonthly:
		return s.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// Limits are the optional limits of a key or a team. Zero means unlimited.
// A team's limits apply to all its keys together, on top of each key's own.
type Limits struct {
	// RPM bounds requests per minute.
	RPM int64 `json:"rpm,omitempty"`
	// TPM bounds tokens (prompt + completion) per minute.
	TPM int64 `json:"tpm,omitempty"`
	// MaxParallel bounds concurrent requests.
	MaxParallel int64 `json:"max_parallel,omitempty"`
	// MaxTokens caps the completion of one request: applied when the
	// client asks for more, or for nothing.
	MaxTokens int64 `json:"max_tokens,omitempty"`
	// TokenQuota bounds cumulative tokens per TokenQuotaPeriod.
	TokenQuota       int64  `json:"token_quota,omitempty"`
	TokenQuotaPeriod string `json:"token_quota_period,omitempty"`
	// BudgetUSD bounds spend per BudgetPeriod, in USD.
	BudgetUSD    float64 `json:"budget_usd,omitempty"`
	BudgetPeriod string  `json:"budget_period,omitempty"`
}

// BudgetMicros is BudgetUSD in micro-dollars.
func (l Limits) BudgetMicros() int64 { return int64(l.BudgetUSD*1e6 + 0.5) }

// Team groups keys under shared limits.
type Team struct {
	ID       string            `json:"id"` // "team_" + 16 base62 characters
	Name     string            `json:"name"`
	Limits   Limits            `json:"limits"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// MaxKeyAge, when set, makes the team's keys expire that long after
	// their creation (the stricter of it and the gateway's max_key_age
	// applies). Zero: no team limit.
	MaxKeyAge Duration  `json:"max_key_age,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TeamSpec holds what an admin sets when creating a team.
type TeamSpec struct {
	Name      string            `json:"name"`
	Limits    Limits            `json:"limits"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	MaxKeyAge Duration          `json:"max_key_age,omitempty"`
}

// TeamPatch holds the fields an admin may change; nil leaves a field.
type TeamPatch struct {
	Name     *string            `json:"name,omitempty"`
	Limits   *Limits            `json:"limits,omitempty"`
	Metadata *map[string]string `json:"metadata,omitempty"`
	// MaxKeyAge replaces the team's; "0s" removes it.
	MaxKeyAge *Duration `json:"max_key_age,omitempty"`
}

// Scope names a ledger owner: "key:<id>" or "team:<id>".
//
// KeyScope returns the ledger scope of key id.
func KeyScope(id string) string { return "key:" + id }

// TeamScope returns the ledger scope of team id.
func TeamScope(id string) string { return "team:" + id }

// Allowance is what one scope allows a reservation to take.
type Allowance struct {
	Scope        string
	BudgetMicros int64 // 0: no budget
	BudgetPeriod string
	TokenQuota   int64 // 0: no quota
	QuotaPeriod  string
}

// Reservation holds back the estimated maximum of a request against each
// scope's allowances until the request settles.
type Reservation struct {
	// ID is unique per request.
	ID         string
	Allowances []Allowance
	// CostMicros and Tokens are the estimated maximum.
	CostMicros int64
	Tokens     int64
	// At is the admission time (it picks the periods).
	At time.Time
}

// Spend is a scope's consumption in one period.
type Spend struct {
	Scope          string    `json:"scope"`
	PeriodStart    time.Time `json:"period_start"`
	SpentMicros    int64     `json:"spent_micros"`
	ReservedMicros int64     `json:"reserved_micros"`
	Tokens         int64     `json:"tokens"`
	ReservedTokens int64     `json:"reserved_tokens"`
}

// AuditEntry is one link of the tamper-evident audit chain. Details never
// hold a secret.
type AuditEntry struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Action   string            `json:"action"` // e.g. key.create, key.revoke, team.update, auth.revoked_key, budget.exhausted
	Actor    string            `json:"actor,omitempty"`
	Target   string            `json:"target,omitempty"` // e.g. key id, team id
	Remote   string            `json:"remote,omitempty"` // client address for security events
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"` // hex SHA-256 of the previous entry; "" for the first
	Hash     string            `json:"hash"`      // hex SHA-256 over this entry's canonical form and PrevHash
}

// AuditHead is the newest link of the chain, to anchor outside the store.
type AuditHead struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// AuditVerdict is the result of verifying the chain.
type AuditVerdict struct {
	OK      bool   `json:"ok"`
	Entries uint64 `json:"entries"`
	// BrokenAt is the sequence number of the first entry whose link does not
	// hold (edited, deleted, reordered), 0 when OK.
	BrokenAt uint64    `json:"broken_at,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Head     AuditHead `json:"head"`
}

// Governance is what the gateway needs from the store for limits, spend
// and audit. BadgerStore implements it.
type Governance interface {
	CreateTeam(ctx context.Context, spec TeamSpec) (Team, error)
	GetTeam(ctx context.Context, id string) (Team, error)
	ListTeams(ctx context.Context) ([]Team, error)
	UpdateTeam(ctx context.Context, id string, patch TeamPatch) (Team, error)
	// DeleteTeam removes a team; it fails with ErrInvalid while keys still
	// belong to it.
	DeleteTeam(ctx context.Context, id string) error

	// Reserve holds back r against every allowance at once, atomically:
	// either all scopes take it or none does (ErrBudgetExceeded,
	// ErrQuotaExceeded, wrapped with the scope). Concurrent reservations
	// can never together exceed an allowance.
	Reserve(ctx context.Context, r Reservation) error
	// Settle replaces reservation id with the actual cost and tokens, in
	// every scope it was held in. Settling an unknown id is a no-op.
	Settle(ctx context.Context, id string, costMicros, tokens int64) error
	// SpendOf reports a scope's spend in the period that holds at.
	SpendOf(ctx context.Context, scope, period string, at time.Time) (Spend, error)

	// Audit appends an entry to the chain (Seq, PrevHash and Hash are set
	// by the store) and returns it.
	Audit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	ListAudit(ctx context.Context, since uint64, limit int) ([]AuditEntry, error)
	VerifyAudit(ctx context.Context) (AuditVerdict, error)
	AuditHeadOf(ctx context.Context) (AuditHead, error)

	// Backup writes an online backup in Badger's backup format.
	Backup(ctx context.Context, w io.Writer) error
}
