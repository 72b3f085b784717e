// Package keystore holds the gateway's own API keys and the usage records
// written for every request. It knows nothing of HTTP or Caddy: the aigateway
// package drives it, and tests can use it alone.
//
// Keys are stored hashed (SHA-256 of the full key string); the plaintext is
// returned once, at creation or rotation, and never again.
package keystore

import (
	"context"
	"errors"
	"time"
)

// Errors returned by the store. Callers compare with errors.Is.
var (
	// ErrNotFound means no key (or key hash) with that identity exists.
	ErrNotFound = errors.New("not found")
	// ErrMalformedKey means a presented key does not have the key format.
	ErrMalformedKey = errors.New("malformed API key")
	// ErrBadChecksum means a presented key has the right shape but its
	// checksum does not match: a typo or a made-up key. No store read is
	// needed to reject it.
	ErrBadChecksum = errors.New("API key checksum mismatch")
	// ErrRevoked means the key exists but was revoked.
	ErrRevoked = errors.New("API key revoked")
	// ErrExpired means the key exists but its expiry (or rotation grace
	// period) has passed.
	ErrExpired = errors.New("API key expired")
	// ErrRotated means the key was already rotated: only its newest
	// successor, which RotatedTo names, can be rotated.
	ErrRotated = errors.New("API key already rotated")
	// ErrInvalid wraps validation failures of admin input (bad name, bad glob).
	ErrInvalid = errors.New("invalid input")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store closed")
)

// Key status values as stored. StatusExpired is never stored: it is derived
// from ExpiresAt by Key.StatusAt.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Key is a gateway API key's record. It never holds the plaintext key.
type Key struct {
	ID          string            `json:"id"`
	Name        string            `json:"name,omitempty"`
	Prefix      string            `json:"prefix"` // display prefix, e.g. "aigw_7Gq2"
	Last4       string            `json:"last4"`
	Models      []string          `json:"models,omitempty"` // glob patterns (path.Match); empty means all models
	Metadata    map[string]string `json:"metadata,omitempty"`
	Status      string            `json:"status"` // StatusActive or StatusRevoked as stored; StatusAt adds expired
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
	RevokedAt   *time.Time        `json:"revoked_at,omitempty"`
	RotatedFrom string            `json:"rotated_from,omitempty"` // id of the key this one replaced
	RotatedTo   string            `json:"rotated_to,omitempty"`   // id of the key that replaced this one
	// Team is the id of the team the key belongs to, "" for none. The
	// team's limits apply to all its keys together, on top of Limits.
	Team string `json:"team,omitempty"`
	// Limits are the key's own limits; zero fields mean unlimited.
	Limits Limits `json:"limits"`
}

// KeySpec holds the fields an admin sets when creating a key.
type KeySpec struct {
	Name      string            `json:"name,omitempty"`
	Models    []string          `json:"models,omitempty"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	// Team must name an existing team, or be "" for none.
	Team string `json:"team,omitempty"`
	// Limits are validated by ValidateLimits.
	Limits Limits `json:"limits"`
}

// KeyPatch holds the fields an admin may change on an existing key. A nil
// field is left as it is. ClearExpiry removes an expiry.
type KeyPatch struct {
	Name        *string            `json:"name,omitempty"`
	Models      *[]string          `json:"models,omitempty"`
	ExpiresAt   *time.Time         `json:"expires_at,omitempty"`
	ClearExpiry bool               `json:"clear_expiry,omitempty"`
	Metadata    *map[string]string `json:"metadata,omitempty"`
	// Team moves the key to another existing team; "" removes it from its
	// team.
	Team *string `json:"team,omitempty"`
	// Limits replaces the key's limits as a whole.
	Limits *Limits `json:"limits,omitempty"`
}

// UsageRecord is written once per request that reached authentication.
// It never holds key material or request content.
type UsageRecord struct {
	RequestID        string        `json:"request_id"`
	Time             time.Time     `json:"time"`
	KeyID            string        `json:"key_id"`
	Model            string        `json:"model"`    // public model name as the client asked
	Provider         string        `json:"provider"` // provider instance name, empty for ai_auth
	Endpoint         string        `json:"endpoint"` // e.g. "chat.completions", "embeddings"
	Stream           bool          `json:"stream,omitempty"`
	Status           int           `json:"status"` // HTTP status sent to the client; 499 for a client disconnect
	PromptTokens     int64         `json:"prompt_tokens"`
	CompletionTokens int64         `json:"completion_tokens"`
	Latency          time.Duration `json:"latency_ns"`
	// TeamID is the key's team at request time, "" for none.
	TeamID string `json:"team_id,omitempty"`
	// CostMicros is the request's priced cost in micro-USD (1 USD =
	// 1_000_000); negative values are recorded as 0.
	CostMicros int64 `json:"cost_micros"`
}

// UsageQuery selects and groups usage records. From and To are truncated to
// UTC days (From inclusive, To inclusive); zero values mean unbounded.
type UsageQuery struct {
	KeyID string
	// TeamID, when set, selects the records written with that team id.
	TeamID  string
	From    time.Time
	To      time.Time
	GroupBy string // "model", "key", "team" or "day"
}

// UsageGroup is one row of a usage report.
type UsageGroup struct {
	Group            string `json:"group"`
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"` // records with status >= 400
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
	// CostUSD is the summed CostMicros of the group divided by 1e6; the
	// sum itself is exact (integer micro-USD).
	CostUSD float64 `json:"cost_usd"`
}

// Store is what the gateway needs from a key store. The Badger
// implementation is the only one today; the interface stays narrow so that a
// shared (e.g. Redis) implementation can be added for several nodes.
type Store interface {
	CreateKey(ctx context.Context, spec KeySpec) (key Key, plaintext string, err error)
	GetKey(ctx context.Context, id string) (Key, error)
	ListKeys(ctx context.Context) ([]Key, error)
	UpdateKey(ctx context.Context, id string, patch KeyPatch) (Key, error)
	RevokeKey(ctx context.Context, id string) (Key, error)
	// RotateKey creates a new key with the old one's settings and sets the
	// old key's expiry to now+grace (grace 0: the old key stops at once).
	RotateKey(ctx context.Context, id string, grace time.Duration) (newKey Key, plaintext string, oldKey Key, err error)
	// Authenticate checks a presented key: format and checksum first (no
	// read), then the hash lookup, then revocation and expiry at now. It
	// returns the key's AuthView, the fields authorization uses.
	Authenticate(ctx context.Context, presented string, now time.Time) (Key, error)

	// RecordUsage queues a record for the batched writer. It blocks only when
	// the queue is full (back-pressure, never a silent drop) or ctx is done.
	RecordUsage(ctx context.Context, rec UsageRecord) error
	// FlushUsage waits until every record queued before the call is on disk.
	FlushUsage(ctx context.Context) error
	QueryUsage(ctx context.Context, q UsageQuery) ([]UsageGroup, error)

	Close() error
}
