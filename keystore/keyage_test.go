package keystore

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestEnforceMaxKeyAge: with a real Badger store and a test clock, a key
// within its grace of the maximum age gets its expiry at created_at + age
// with one audit entry, however often the sweep runs; a younger key, a
// revoked one and a rotated one are left alone; a team's stricter age
// applies to its keys only; a key already past its age gets the grace from
// now; and the key is refused once the expiry passes.
func TestEnforceMaxKeyAge(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBadger(t.TempDir(), BadgerOptions{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	s.now = func() time.Time { return now }
	day := 24 * time.Hour

	team, err := s.CreateTeam(ctx, TeamSpec{Name: "strict", MaxKeyAge: Duration(30 * day)})
	if err != nil {
		t.Fatal(err)
	}
	create := func(name, team string) (Key, string) {
		k, secret, err := s.CreateKey(ctx, KeySpec{Name: name, Team: team})
		if err != nil {
			t.Fatal(err)
		}
		return k, secret
	}
	old, oldSecret := create("old", "")
	teamOld, _ := create("team old", team.ID)
	revoked, _ := create("revoked", "")
	if _, err := s.RevokeKey(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	rotated, _ := create("rotated", "")
	successor, _, _, err := s.RotateKey(ctx, rotated.ID, 200*day)
	if err != nil {
		t.Fatal(err)
	}

	p := KeyAgePolicy{MaxAge: 90 * day}
	now = base.Add(52 * day)
	got, err := s.EnforceMaxKeyAge(ctx, p, now)
	if err != nil {
		t.Fatal(err)
	}
	// Day 52: only the team's old key (30d, past its age) is reached.
	if len(got) != 1 || got[0].ID != teamOld.ID || got[0].Source != "team" || got[0].MaxAge != 30*day {
		t.Fatalf("day 52: changed %+v, want only the team's old key", got)
	}
	if want := now.Add(3 * day); got[0].ExpiresAt == nil || !got[0].ExpiresAt.Equal(want) {
		t.Fatalf("team key past its age: expires_at %v, want now + grace %v", got[0].ExpiresAt, want)
	}

	now = base.Add(55 * day)
	young, _ := create("young", "")
	teamYoung, _ := create("team young", team.ID)

	// Day 84: the 90d age (grace 7d) reaches the keys of day 0 still
	// live (the old key and the rotation's successor); the team's 30d
	// (grace 3d) reaches its key of day 55.
	now = base.Add(84 * day)
	for run := 0; run < 2; run++ {
		got, err = s.EnforceMaxKeyAge(ctx, p, now)
		if err != nil {
			t.Fatal(err)
		}
		wantN := 3
		if run == 1 {
			wantN = 0
		}
		if len(got) != wantN {
			t.Fatalf("day 85, run %d: changed %+v, want %d keys", run, got, wantN)
		}
	}
	for _, c := range []struct {
		k    Key
		want *time.Time
	}{
		{old, ptr(base.Add(90 * day))},
		{successor, ptr(base.Add(90 * day))},
		{teamYoung, ptr(base.Add(85 * day))},
		{young, nil},
	} {
		k, err := s.GetKey(ctx, c.k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if (c.want == nil) != (k.ExpiresAt == nil) || (c.want != nil && !k.ExpiresAt.Equal(*c.want)) {
			t.Errorf("%s: expires_at %v, want %v", c.k.Name, k.ExpiresAt, c.want)
		}
	}
	for _, id := range []string{revoked.ID, rotated.ID} {
		entries, _ := s.ListAudit(ctx, 0, MaxAuditListLimit)
		for _, e := range entries {
			if e.Action == AuditKeyMaxAge && e.Target == id {
				t.Errorf("key %s (revoked or rotated) got a max-age expiry", id)
			}
		}
	}
	entries, err := s.ListAudit(ctx, 0, MaxAuditListLimit)
	if err != nil {
		t.Fatal(err)
	}
	perKey := map[string]int{}
	for _, e := range entries {
		if e.Action == AuditKeyMaxAge {
			perKey[e.Target]++
			if e.Details["expires_at"] == "" || e.Details["max_key_age"] == "" {
				t.Errorf("audit entry lacks details: %+v", e)
			}
		}
	}
	if len(perKey) != 4 || perKey[old.ID] != 1 || perKey[successor.ID] != 1 || perKey[teamOld.ID] != 1 || perKey[teamYoung.ID] != 1 {
		t.Fatalf("max-age audit entries per key: %v", perKey)
	}

	// Before the expiry the key works; after it, it is refused.
	if _, err := s.Authenticate(ctx, oldSecret, base.Add(90*day-time.Second)); err != nil {
		t.Fatalf("before its expiry: %v", err)
	}
	if _, err := s.Authenticate(ctx, oldSecret, base.Add(90*day+time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("after its expiry: %v, want ErrExpired", err)
	}
}

// TestKeyAgePolicyEffective: the stricter age applies, and the default
// grace is a tenth of the age up to a week.
func TestKeyAgePolicyEffective(t *testing.T) {
	day := 24 * time.Hour
	for _, c := range []struct {
		p          KeyAgePolicy
		team       time.Duration
		age, grace time.Duration
		source     string
	}{
		{KeyAgePolicy{MaxAge: 90 * day}, 0, 90 * day, 7 * day, "gateway"},
		{KeyAgePolicy{MaxAge: 90 * day}, 30 * day, 30 * day, 3 * day, "team"},
		{KeyAgePolicy{MaxAge: 20 * day}, 30 * day, 20 * day, 2 * day, "gateway"},
		{KeyAgePolicy{}, 10 * day, 10 * day, day, "team"},
		{KeyAgePolicy{MaxAge: 90 * day, Grace: time.Hour}, 30 * day, 30 * day, time.Hour, "team"},
	} {
		age, grace, source := c.p.effective(c.team)
		if age != c.age || grace != c.grace || source != c.source {
			t.Errorf("%+v team %v: %v %v %s, want %v %v %s", c.p, c.team, age, grace, source, c.age, c.grace, c.source)
		}
	}
}
