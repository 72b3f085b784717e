package aigateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the "admin.api.ai_gateway" module: key management and usage
// reports on Caddy's admin endpoint (default localhost:2019).
//
//	POST   /ai_gateway/keys              create; the response holds the key, once
//	GET    /ai_gateway/keys              list (never the secret); ?unused_for=90d: only keys unused that long
//	GET    /ai_gateway/keys/{id}         show
//	PATCH  /ai_gateway/keys/{id}         change name, models, expiry, metadata
//	DELETE /ai_gateway/keys/{id}         revoke at once (the record stays)
//	POST   /ai_gateway/keys/{id}/rotate  {"grace":"24h"}: a new key; the old one works until the grace ends
//	POST   /ai_gateway/keys/check        {"key":"aigw_…","model":"…"}: why a key is refused, without echoing it
//	GET    /ai_gateway/usage?key_id=&team_id=&from=&to=&group_by=model|key|team|day
//	POST   /ai_gateway/teams, GET /ai_gateway/teams[/{id}], PATCH and DELETE /ai_gateway/teams/{id}
//	GET    /ai_gateway/audit?since=&limit=    the hash-chained audit trail
//	GET    /ai_gateway/audit/verify           the first broken link, if any
//	GET    /ai_gateway/audit/head             the chain head, to anchor outside the store
//	GET    /ai_gateway/backup                 an online backup (Badger's format)
//
// Caddy mounts every admin.api module without configuration.
type AdminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.ai_gateway",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the logger. Caddy provisions admin routers outside
// any module, where ctx.Logger() is the unnamed default logger, so the
// module is passed to get lines named "admin.api.ai_gateway".
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger(a)
	return nil
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/ai_gateway/keys", Handler: caddy.AdminHandlerFunc(a.handleKeys)},
		{Pattern: "/ai_gateway/keys/", Handler: caddy.AdminHandlerFunc(a.handleKey)},
		{Pattern: "/ai_gateway/usage", Handler: caddy.AdminHandlerFunc(a.handleUsage)},
		{Pattern: "/ai_gateway/teams", Handler: caddy.AdminHandlerFunc(a.handleTeams)},
		{Pattern: "/ai_gateway/teams/", Handler: caddy.AdminHandlerFunc(a.handleTeam)},
		{Pattern: "/ai_gateway/audit", Handler: caddy.AdminHandlerFunc(a.handleAudit)},
		{Pattern: "/ai_gateway/audit/", Handler: caddy.AdminHandlerFunc(a.handleAudit)},
		{Pattern: "/ai_gateway/backup", Handler: caddy.AdminHandlerFunc(a.handleBackup)},
	}
}

// keyView is a key record as the admin API shows it, with its status at the
// time of the answer and its spend in the current budget period.
type keyView struct {
	keystore.Key
	Spend *spendView `json:"spend,omitempty"`
	// LastUsedAt is the minute of the key's last authenticated request,
	// and LastUsedFrom the network it came from (a /24 or /48); both are
	// absent for a key never used. Written once a minute, so a use may
	// show up to a minute late.
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
	LastUsedFrom string     `json:"last_used_from,omitempty"`
}

// withLastUse adds u to v.
func (v *keyView) withLastUse(u keystore.LastUse, ok bool) {
	if !ok {
		return
	}
	v.LastUsedAt = &u.At
	if u.From.IsValid() {
		v.LastUsedFrom = u.From.String()
	}
}

func view(k keystore.Key) keyView {
	k.Status = k.StatusAt(time.Now())
	return keyView{Key: k}
}

// viewWithSpend adds the key's spend in its current budget period.
func viewWithSpend(r *http.Request, store keystore.Store, k keystore.Key) keyView {
	v := view(k)
	if g, ok := store.(keystore.Governance); ok {
		v.Spend = spendOf(r, g, keystore.KeyScope(k.ID), k.Limits.BudgetPeriod)
	}
	return v
}

// issuedKey is a key record with its plaintext, sent once.
type issuedKey struct {
	keystore.Key
	Secret string   `json:"key"`
	OldKey *keyView `json:"old_key,omitempty"`
}

// runningStore returns the running app's store, waiting for an app that is
// still starting (Caddy serves the admin API before the apps start).
func runningStore(r *http.Request) (keystore.Store, error) {
	app, stillStarting := runningApp(r.Context())
	if stillStarting {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the ai_gateway app is still starting (opening the key store): try again")}
	}
	if app == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errors.New("the ai_gateway app is not running: add the ai_gateway global option or directive to the config")}
	}
	s, err := app.keyStore()
	if err != nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	return s, nil
}

func (a *AdminAPI) handleKeys(w http.ResponseWriter, r *http.Request) error {
	store, err := runningStore(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		var unusedFor time.Duration
		if v := r.URL.Query().Get("unused_for"); v != "" {
			if unusedFor, err = caddy.ParseDuration(v); err != nil || unusedFor <= 0 {
				return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("unused_for %q: expected a positive duration such as 90d or 720h", v)}
			}
		}
		keys, err := store.ListKeys(r.Context())
		if err != nil {
			return storeError(err)
		}
		var uses map[string]keystore.LastUse
		if u, ok := store.(keystore.LastUsed); ok {
			// Include the uses of the last minute, not yet written.
			if err := u.FlushLastUse(r.Context()); err != nil {
				return storeError(err)
			}
			if uses, err = u.ListLastUse(r.Context()); err != nil {
				return storeError(err)
			}
		}
		now := time.Now()
		views := make([]keyView, 0, len(keys))
		for _, k := range keys {
			u, used := uses[k.ID]
			if unusedFor > 0 {
				// A key never used counts from its creation.
				since := k.CreatedAt
				if used {
					since = u.At
				}
				if now.Sub(since) < unusedFor {
					continue
				}
			}
			v := viewWithSpend(r, store, k)
			v.withLastUse(u, used)
			views = append(views, v)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"keys": views})
	case http.MethodPost:
		var spec keystore.KeySpec
		if err := decodeJSON(r, &spec); err != nil {
			return err
		}
		k, secret, err := store.CreateKey(r.Context(), spec)
		if err != nil {
			return storeError(err)
		}
		a.logger.Info("key created", zap.String("key_id", k.ID), zap.String("name", k.Name))
		return writeJSON(w, http.StatusCreated, issuedKey{Key: view(k).Key, Secret: secret})
	default:
		return methodNotAllowed(r, "GET, POST")
	}
}

func (a *AdminAPI) handleKey(w http.ResponseWriter, r *http.Request) error {
	store, err := runningStore(r)
	if err != nil {
		return err
	}
	rest := strings.TrimPrefix(r.URL.Path, "/ai_gateway/keys/")
	id, action, _ := strings.Cut(rest, "/")
	if id == "" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no key id in the path")}
	}
	if id == "check" && action == "" { // key IDs start with "key_": no clash
		return a.handleKeyCheck(w, r, store)
	}
	switch {
	case action == "rotate":
		if r.Method != http.MethodPost {
			return methodNotAllowed(r, "POST")
		}
		var body struct {
			Grace string `json:"grace"`
		}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		var grace time.Duration
		if body.Grace != "" {
			if grace, err = caddy.ParseDuration(body.Grace); err != nil || grace < 0 {
				return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("grace %q: expected a duration such as 24h", body.Grace)}
			}
		}
		nk, secret, old, err := store.RotateKey(r.Context(), id, grace)
		if err != nil {
			return storeError(err)
		}
		a.logger.Info("key rotated", zap.String("key_id", old.ID), zap.String("new_key_id", nk.ID), zap.Duration("grace", grace))
		ov := view(old)
		return writeJSON(w, http.StatusCreated, issuedKey{Key: view(nk).Key, Secret: secret, OldKey: &ov})
	case action != "":
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("unknown key action %q", action)}
	}
	switch r.Method {
	case http.MethodGet:
		k, err := store.GetKey(r.Context(), id)
		if err != nil {
			return storeError(err)
		}
		v := viewWithSpend(r, store, k)
		if u, ok := store.(keystore.LastUsed); ok {
			if err := u.FlushLastUse(r.Context()); err != nil {
				return storeError(err)
			}
			lu, used, err := u.LastUseOf(r.Context(), k.ID)
			if err != nil {
				return storeError(err)
			}
			v.withLastUse(lu, used)
		}
		return writeJSON(w, http.StatusOK, v)
	case http.MethodPatch:
		var patch keystore.KeyPatch
		if err := decodeJSON(r, &patch); err != nil {
			return err
		}
		k, err := store.UpdateKey(r.Context(), id, patch)
		if err != nil {
			return storeError(err)
		}
		a.logger.Info("key updated", zap.String("key_id", k.ID))
		return writeJSON(w, http.StatusOK, view(k))
	case http.MethodDelete:
		k, err := store.RevokeKey(r.Context(), id)
		if err != nil {
			return storeError(err)
		}
		a.logger.Info("key revoked", zap.String("key_id", k.ID))
		return writeJSON(w, http.StatusOK, view(k))
	default:
		return methodNotAllowed(r, "GET, PATCH, DELETE")
	}
}

// usageReport is the body of GET /ai_gateway/usage.
type usageReport struct {
	GroupBy string                `json:"group_by"`
	KeyID   string                `json:"key_id,omitempty"`
	TeamID  string                `json:"team_id,omitempty"`
	From    string                `json:"from,omitempty"`
	To      string                `json:"to,omitempty"`
	Groups  []keystore.UsageGroup `json:"groups"`
	Total   keystore.UsageGroup   `json:"total"`
}

func (a *AdminAPI) handleUsage(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "GET")
	}
	store, err := runningStore(r)
	if err != nil {
		return err
	}
	qs := r.URL.Query()
	q := keystore.UsageQuery{KeyID: qs.Get("key_id"), TeamID: qs.Get("team_id"), GroupBy: qs.Get("group_by")}
	if q.GroupBy == "" {
		q.GroupBy = "model"
	}
	if q.From, err = parseDay(qs.Get("from")); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("from: %v", err)}
	}
	if q.To, err = parseDay(qs.Get("to")); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("to: %v", err)}
	}
	// Records are written in batches: include everything sent so far.
	if err := store.FlushUsage(r.Context()); err != nil {
		return storeError(err)
	}
	groups, err := store.QueryUsage(r.Context(), q)
	if err != nil {
		return storeError(err)
	}
	rep := usageReport{GroupBy: q.GroupBy, KeyID: q.KeyID, TeamID: q.TeamID, From: qs.Get("from"), To: qs.Get("to"), Groups: groups, Total: keystore.UsageGroup{Group: "total"}}
	if rep.Groups == nil {
		rep.Groups = []keystore.UsageGroup{}
	}
	for _, g := range groups {
		rep.Total.Requests += g.Requests
		rep.Total.Errors += g.Errors
		rep.Total.PromptTokens += g.PromptTokens
		rep.Total.CompletionTokens += g.CompletionTokens
		rep.Total.TotalTokens += g.TotalTokens
		rep.Total.CostUSD += g.CostUSD
	}
	return writeJSON(w, http.StatusOK, rep)
}

// parseDay accepts a date (2026-11-27) or an RFC 3339 time.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD) or an RFC 3339 time", s)
	}
	return t, nil
}

// storeError maps store errors to admin API statuses.
func storeError(err error) error {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, keystore.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, keystore.ErrRevoked), errors.Is(err, keystore.ErrExpired), errors.Is(err, keystore.ErrRotated):
		status = http.StatusConflict
	case errors.Is(err, keystore.ErrNoSpace):
		status = http.StatusInsufficientStorage
	}
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// decodeJSON decodes an admin request's body, one JSON value of at most
// 1 MiB, into v. Unknown fields are refused by name, and so is anything
// after the value, as the client API refuses it: of two objects, one would
// be acted on and the other silently dropped. An empty body leaves v as it is.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) && r.ContentLength <= 0 {
		return nil
	}
	if err == nil {
		end := dec.InputOffset()
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			return nil
		}
		err = fmt.Errorf("unexpected data after the JSON value, which ends at offset %d: send one object", end)
	}
	return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("invalid JSON body: %v", err)}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func methodNotAllowed(r *http.Request, allow string) error {
	return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed; use %s", r.Method, allow)}
}

// Interface guards.
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
	_ caddy.Provisioner = (*AdminAPI)(nil)
)
