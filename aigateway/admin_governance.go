package aigateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// runningGovernance returns the running store's governance side.
func runningGovernance(r *http.Request) (keystore.Governance, error) {
	store, err := runningStore(r)
	if err != nil {
		return nil, err
	}
	g, ok := store.(keystore.Governance)
	if !ok {
		return nil, caddy.APIError{HTTPStatus: http.StatusNotImplemented, Err: errors.New("this store has no governance support")}
	}
	return g, nil
}

// teamView is a team as the admin API shows it, with its spend in the
// current budget period.
type teamView struct {
	keystore.Team
	Spend *spendView `json:"spend,omitempty"`
}

// spendView is a scope's spend in its current budget period.
type spendView struct {
	PeriodStart *time.Time `json:"period_start,omitempty"`
	SpentUSD    float64    `json:"spent_usd"`
	ReservedUSD float64    `json:"reserved_usd"`
	Tokens      int64      `json:"tokens"`
}

func spendOf(r *http.Request, g keystore.Governance, scope, period string) *spendView {
	s, err := g.SpendOf(r.Context(), scope, period, time.Now())
	if err != nil {
		return nil
	}
	v := &spendView{SpentUSD: float64(s.SpentMicros) / 1e6, ReservedUSD: float64(s.ReservedMicros) / 1e6, Tokens: s.Tokens}
	if !s.PeriodStart.IsZero() {
		v.PeriodStart = &s.PeriodStart
	}
	return v
}

func (a *AdminAPI) handleTeams(w http.ResponseWriter, r *http.Request) error {
	g, err := runningGovernance(r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		teams, err := g.ListTeams(r.Context())
		if err != nil {
			return storeError(err)
		}
		views := make([]teamView, len(teams))
		for i, t := range teams {
			views[i] = teamView{Team: t, Spend: spendOf(r, g, keystore.TeamScope(t.ID), t.Limits.BudgetPeriod)}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"teams": views})
	case http.MethodPost:
		var spec keystore.TeamSpec
		if err := decodeJSON(r, &spec); err != nil {
			return err
		}
		t, err := g.CreateTeam(r.Context(), spec)
		if err != nil {
			return storeError(err)
		}
		a.logger.Info("team created", zap.String("team_id", t.ID), zap.String("name", t.Name))
		return writeJSON(w, http.StatusCreated, teamView{Team: t})
	default:
		return methodNotAllowed(r, "GET, POST")
	}
}

func (a *AdminAPI) handleTeam(w http.ResponseWriter, r *http.Request) error {
	g, err := runningGovernance(r)
	if err != nil {
		return err
	}
	id := strings.TrimPrefix(r.URL.Path, "/ai_gateway/teams/")
	if id == "" || strings.Contains(id, "/") {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no team id in the path")}
	}
	switch r.Method {
	case http.MethodGet:
		t, err := g.GetTeam(r.Context(), id)
		if err != nil {
			return storeError(err)
		}
		return writeJSON(w, http.StatusOK, teamView{Team: t, Spend: spendOf(r, g, keystore.TeamScope(t.ID), t.Limits.BudgetPeriod)})
	case http.MethodPatch:
		var patch keystore.TeamPatch
		if err := decodeJSON(r, &patch); err != nil {
			return err
		}
		t, err := g.UpdateTeam(r.Context(), id, patch)
		if err != nil {
			return storeError(err)
		}
		current.Load().forgetTeam(id)
		a.logger.Info("team updated", zap.String("team_id", t.ID))
		return writeJSON(w, http.StatusOK, teamView{Team: t, Spend: spendOf(r, g, keystore.TeamScope(t.ID), t.Limits.BudgetPeriod)})
	case http.MethodDelete:
		if err := g.DeleteTeam(r.Context(), id); err != nil {
			return storeError(err)
		}
		current.Load().forgetTeam(id)
		a.logger.Info("team deleted", zap.String("team_id", id))
		return writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
	default:
		return methodNotAllowed(r, "GET, PATCH, DELETE")
	}
}

func (a *AdminAPI) handleAudit(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "GET")
	}
	g, err := runningGovernance(r)
	if err != nil {
		return err
	}
	switch strings.TrimPrefix(r.URL.Path, "/ai_gateway/audit") {
	case "", "/":
		qs := r.URL.Query()
		since, err := parseUint(qs.Get("since"))
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("since: %v", err)}
		}
		limit, err := parseUint(qs.Get("limit"))
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("limit: %v", err)}
		}
		entries, err := g.ListAudit(r.Context(), since, int(min(limit, 1000)))
		if err != nil {
			return storeError(err)
		}
		head, err := g.AuditHeadOf(r.Context())
		if err != nil {
			return storeError(err)
		}
		if entries == nil {
			entries = []keystore.AuditEntry{}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "head": head})
	case "/verify":
		v, err := g.VerifyAudit(r.Context())
		if err != nil {
			return storeError(err)
		}
		return writeJSON(w, http.StatusOK, v)
	case "/head":
		head, err := g.AuditHeadOf(r.Context())
		if err != nil {
			return storeError(err)
		}
		return writeJSON(w, http.StatusOK, head)
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("unknown audit endpoint")}
}

// handleBackup streams an online backup in Badger's format.
func (a *AdminAPI) handleBackup(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return methodNotAllowed(r, "GET")
	}
	g, err := runningGovernance(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="ai_gateway-`+time.Now().UTC().Format("20060102T150405Z")+`.badger-backup"`)
	if err := g.Backup(r.Context(), w); err != nil {
		// Headers may be out: log, and let the truncated body show it.
		a.logger.Error("backup failed", zap.Error(err))
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	a.logger.Info("backup written")
	return nil
}

func parseUint(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
