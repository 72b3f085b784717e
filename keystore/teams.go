package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// Team storage. A key's membership is indexed at k/team/<team id>/<key id>
// (empty value) so DeleteTeam can tell whether a team is still in use
// without reading every key.
const (
	prefixTeamByID  = "t/id/"   // + team id → JSON Team
	prefixKeyByTeam = "k/team/" // + team id + "/" + key id → empty

	// TeamIDPrefix starts every team ID, followed by 16 random base62
	// characters.
	TeamIDPrefix = "team_"
	// MaxBudgetUSD is the largest BudgetUSD accepted, so BudgetMicros can
	// never overflow.
	MaxBudgetUSD = 1e12
)

// Ensure BadgerStore provides the governance contract.
var _ Governance = (*BadgerStore)(nil)

// NewTeamID returns a new random team ID: TeamIDPrefix and 16 base62 chars.
func NewTeamID() (string, error) {
	return newRandomID(TeamIDPrefix, keyIDRandLen)
}

// ValidPeriod reports whether p is one of PeriodNone, PeriodDaily,
// PeriodWeekly and PeriodMonthly.
func ValidPeriod(p string) bool {
	switch p {
	case PeriodNone, PeriodDaily, PeriodWeekly, PeriodMonthly:
		return true
	}
	return false
}

// ValidateLimits checks limits as the store does wherever they are set:
// every number non-negative, BudgetUSD finite and at most MaxBudgetUSD,
// periods among "", daily, weekly and monthly. Failures wrap ErrInvalid.
func ValidateLimits(l Limits) error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"rpm", l.RPM}, {"tpm", l.TPM}, {"max_parallel", l.MaxParallel},
		{"max_tokens", l.MaxTokens}, {"token_quota", l.TokenQuota},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: limits.%s is negative", ErrInvalid, f.name)
		}
	}
	if math.IsNaN(l.BudgetUSD) || math.IsInf(l.BudgetUSD, 0) || l.BudgetUSD < 0 || l.BudgetUSD > MaxBudgetUSD {
		return fmt.Errorf("%w: limits.budget_usd must be a finite number from 0 to %g", ErrInvalid, float64(MaxBudgetUSD))
	}
	if !ValidPeriod(l.TokenQuotaPeriod) {
		return fmt.Errorf("%w: limits.token_quota_period %q (want daily, weekly, monthly or empty)", ErrInvalid, l.TokenQuotaPeriod)
	}
	if !ValidPeriod(l.BudgetPeriod) {
		return fmt.Errorf("%w: limits.budget_period %q (want daily, weekly, monthly or empty)", ErrInvalid, l.BudgetPeriod)
	}
	return nil
}

// Allowance returns the ledger allowance these limits give scope (see
// KeyScope and TeamScope), ready for a Reservation.
func (l Limits) Allowance(scope string) Allowance {
	return Allowance{
		Scope:        scope,
		BudgetMicros: l.BudgetMicros(),
		BudgetPeriod: l.BudgetPeriod,
		TokenQuota:   l.TokenQuota,
		QuotaPeriod:  l.TokenQuotaPeriod,
	}
}

func teamKey(id string) []byte { return []byte(prefixTeamByID + id) }

func keyTeamIndexKey(team, keyID string) []byte {
	return []byte(prefixKeyByTeam + team + "/" + keyID)
}

// getTeam reads t/id/<id>, mapping a missing record to ErrNotFound.
func getTeam(txn *badger.Txn, id string) (Team, error) {
	var t Team
	if id == "" || strings.Contains(id, "/") {
		return t, notFound("team", id)
	}
	item, err := txn.Get(teamKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return t, notFound("team", id)
	}
	if err != nil {
		return t, err
	}
	if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &t) }); err != nil {
		return t, fmt.Errorf("keystore: decoding team %s: %w", id, err)
	}
	return t, nil
}

func putTeam(txn *badger.Txn, t *Team) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return txn.Set(teamKey(t.ID), v)
}

// requireTeam checks that a key may join team: "" always, otherwise the
// team must exist (ErrInvalid naming it).
func requireTeam(txn *badger.Txn, team string) error {
	if team == "" {
		return nil
	}
	if _, err := getTeam(txn, team); errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: team %q does not exist", ErrInvalid, team)
	} else if err != nil {
		return err
	}
	return nil
}

// setKeyTeam moves the index entry of keyID from team from to team to.
func setKeyTeam(txn *badger.Txn, keyID, from, to string) error {
	if from == to {
		return nil
	}
	if from != "" {
		if err := txn.Delete(keyTeamIndexKey(from, keyID)); err != nil {
			return err
		}
	}
	if to != "" {
		return txn.Set(keyTeamIndexKey(to, keyID), nil)
	}
	return nil
}

func validateTeamName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: team name is required", ErrInvalid)
	}
	return validateName(name)
}

// CreateTeam stores a new team and appends a team.create audit entry in the
// same transaction. The name is required (at most MaxNameLen characters);
// limits and metadata are validated as for keys.
func (s *BadgerStore) CreateTeam(ctx context.Context, spec TeamSpec) (Team, error) {
	if err := validateTeamName(spec.Name); err != nil {
		return Team{}, err
	}
	if err := ValidateLimits(spec.Limits); err != nil {
		return Team{}, err
	}
	if err := validateMetadata(spec.Metadata); err != nil {
		return Team{}, err
	}
	id, err := NewTeamID()
	if err != nil {
		return Team{}, err
	}
	now := s.timeNow()
	t := Team{
		ID:        id,
		Name:      spec.Name,
		Limits:    spec.Limits,
		Metadata:  cloneMetadata(spec.Metadata),
		MaxKeyAge: spec.MaxKeyAge,
		CreatedAt: now,
		UpdatedAt: now,
	}
	_, err = s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		if _, err := txn.Get(teamKey(id)); err == nil {
			return nil, fmt.Errorf("keystore: generated team ID collides with an existing one")
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return nil, err
		}
		if err := putTeam(txn, &t); err != nil {
			return nil, err
		}
		return &AuditEntry{Action: AuditTeamCreate, Target: id, Time: now, Details: map[string]string{"name": t.Name}}, nil
	})
	if err != nil {
		return Team{}, err
	}
	return t, nil
}

// GetTeam returns the team with the given ID, or ErrNotFound.
func (s *BadgerStore) GetTeam(ctx context.Context, id string) (Team, error) {
	var t Team
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		t, err = getTeam(txn, id)
		return err
	})
	return t, err
}

// ListTeams returns every team sorted by CreatedAt then ID.
func (s *BadgerStore) ListTeams(ctx context.Context) ([]Team, error) {
	teams := []Team{}
	err := s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixTeamByID)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var t Team
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &t) }); err != nil {
				return fmt.Errorf("keystore: decoding team %q: %w", it.Item().Key(), err)
			}
			teams = append(teams, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(teams, func(a, b Team) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return teams, nil
}

// UpdateTeam applies patch and appends a team.update audit entry (details:
// the changed fields) in the same transaction. New limits take effect for
// reservations made after it returns.
func (s *BadgerStore) UpdateTeam(ctx context.Context, id string, patch TeamPatch) (Team, error) {
	if patch.Name != nil {
		if err := validateTeamName(*patch.Name); err != nil {
			return Team{}, err
		}
	}
	if patch.Limits != nil {
		if err := ValidateLimits(*patch.Limits); err != nil {
			return Team{}, err
		}
	}
	if patch.Metadata != nil {
		if err := validateMetadata(*patch.Metadata); err != nil {
			return Team{}, err
		}
	}
	now := s.timeNow()
	var t Team
	_, err := s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		var err error
		if t, err = getTeam(txn, id); err != nil {
			return nil, err
		}
		var fields []string
		if patch.Name != nil {
			t.Name = *patch.Name
			fields = append(fields, "name")
		}
		if patch.Limits != nil {
			t.Limits = *patch.Limits
			fields = append(fields, "limits")
		}
		if patch.Metadata != nil {
			t.Metadata = cloneMetadata(*patch.Metadata)
			fields = append(fields, "metadata")
		}
		if patch.MaxKeyAge != nil {
			t.MaxKeyAge = *patch.MaxKeyAge
			fields = append(fields, "max_key_age")
		}
		t.UpdatedAt = now
		if err := putTeam(txn, &t); err != nil {
			return nil, err
		}
		return &AuditEntry{Action: AuditTeamUpdate, Target: id, Time: now,
			Details: map[string]string{"fields": strings.Join(fields, ","), "name": t.Name}}, nil
	})
	if err != nil {
		return Team{}, err
	}
	return t, nil
}

// DeleteTeam removes a team and appends a team.delete audit entry in the
// same transaction. It fails with ErrInvalid while a key that is not
// revoked (an expired one included: clearing its expiry revives it) still
// names the team: revoke those keys or move them first (UpdateKey with
// Team set to ""). Revoked keys do not block it: a revocation is final, so
// their membership is dropped from the team index with the team, and
// their records keep the team's id as history, like their usage records.
// The audit entry counts them (details: revoked_keys). The team's ledger
// rows are kept.
func (s *BadgerStore) DeleteTeam(ctx context.Context, id string) error {
	now := s.timeNow()
	_, err := s.auditedUpdate(ctx, func(txn *badger.Txn) (*AuditEntry, error) {
		t, err := getTeam(txn, id)
		if err != nil {
			return nil, err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixKeyByTeam + id + "/")
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		var live, revoked []string
		for it.Rewind(); it.Valid() && len(live) < 3; it.Next() {
			keyID := strings.TrimPrefix(string(it.Item().Key()), string(opts.Prefix))
			sk, err := getStored(txn, keyID)
			switch {
			case errors.Is(err, ErrNotFound):
				revoked = append(revoked, keyID) // a stale index entry: nothing to keep
			case err != nil:
				it.Close()
				return nil, err
			case sk.Status == StatusRevoked:
				revoked = append(revoked, keyID)
			default:
				live = append(live, keyID)
			}
		}
		it.Close()
		if len(live) > 0 {
			return nil, fmt.Errorf("%w: team %s still has keys that are not revoked (%s); revoke them or move them to another team first",
				ErrInvalid, id, strings.Join(live, ", "))
		}
		for _, keyID := range revoked {
			if err := txn.Delete(keyTeamIndexKey(id, keyID)); err != nil {
				return nil, err
			}
		}
		if err := txn.Delete(teamKey(id)); err != nil {
			return nil, err
		}
		details := map[string]string{"name": t.Name}
		if len(revoked) > 0 {
			details["revoked_keys"] = strconv.Itoa(len(revoked))
		}
		return &AuditEntry{Action: AuditTeamDelete, Target: id, Time: now, Details: details}, nil
	})
	return err
}
