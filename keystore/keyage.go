package keystore

import (
	"context"
	"time"
)

// AuditKeyMaxAge is the audit action of a key's expiry set by the maximum
// key age.
const AuditKeyMaxAge = "key.max_age_expiry"

// DefaultMaxAgeGrace bounds the default warning time of the maximum key
// age: a key gets its expiry this long (or a tenth of its age, if less)
// before it expires.
const DefaultMaxAgeGrace = 7 * 24 * time.Hour

// KeyAgePolicy is the gateway's maximum key age. Each team's MaxKeyAge
// applies too; the stricter of the two wins for the team's keys.
type KeyAgePolicy struct {
	// MaxAge is the gateway-wide maximum age; zero for none.
	MaxAge time.Duration
	// Grace is how long before the end of its age a key is given its
	// expiry (and an audit entry and event announce it). Zero: the
	// smaller of DefaultMaxAgeGrace and a tenth of the key's age.
	Grace time.Duration
}

// AgedKey is a key whose expiry the maximum age set.
type AgedKey struct {
	Key
	// MaxAge is the age that applied, Source "gateway" or "team".
	MaxAge time.Duration
	Source string
}

// effective returns the maximum age and grace that apply to a key of a
// team with teamAge (zero: no team limit), and which one it is.
func (p KeyAgePolicy) effective(teamAge time.Duration) (age, grace time.Duration, source string) {
	age, source = p.MaxAge, "gateway"
	if teamAge > 0 && (age == 0 || teamAge < age) {
		age, source = teamAge, "team"
	}
	grace = p.Grace
	if grace == 0 {
		grace = min(DefaultMaxAgeGrace, age/10)
	}
	return age, grace, source
}

// EnforceMaxKeyAge gives every live key that is within its grace of the
// maximum age (the gateway's or its team's, whichever is stricter) an
// expiry at created_at + age, or at now + grace for a key already past
// its age when the limit first meets it, so no key stops unannounced.
// A key that is revoked, rotated, or expires earlier already is left as
// it is, so running it again changes nothing and writes no second audit
// entry. Each change commits an AuditKeyMaxAge entry with the expiry;
// the keys changed are returned. Requests then meet the expiry the usual
// way: nothing is added to authentication.
func (s *BadgerStore) EnforceMaxKeyAge(ctx context.Context, p KeyAgePolicy, now time.Time) ([]AgedKey, error) {
	teams, err := s.ListTeams(ctx)
	if err != nil {
		return nil, err
	}
	teamAge := make(map[string]time.Duration, len(teams))
	for _, t := range teams {
		if t.MaxKeyAge > 0 {
			teamAge[t.ID] = time.Duration(t.MaxKeyAge)
		}
	}
	if p.MaxAge <= 0 && len(teamAge) == 0 {
		return nil, nil
	}
	keys, err := s.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var changed []AgedKey
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		if k.Status == StatusRevoked || k.RotatedTo != "" {
			continue
		}
		age, grace, source := p.effective(teamAge[k.Team])
		if age <= 0 {
			continue
		}
		end := k.CreatedAt.Add(age)
		if now.Before(end.Add(-grace)) {
			continue // not yet within its grace
		}
		if !end.After(now) {
			// Past its age already (the limit is new, or the gateway was
			// down): the key still gets its grace.
			end = now.Add(grace)
		}
		if k.ExpiresAt != nil && !k.ExpiresAt.After(end) {
			continue
		}
		nk, ok, err := s.ExpireKeyAt(ctx, k.ID, end, AuditKeyMaxAge, map[string]string{
			"max_key_age": Duration(age).String(),
			"source":      source,
		})
		if err != nil {
			return changed, err
		}
		if ok {
			changed = append(changed, AgedKey{Key: nk, MaxAge: age, Source: source})
		}
	}
	return changed, nil
}
