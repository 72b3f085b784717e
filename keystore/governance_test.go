package keystore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func TestPeriodBoundaries(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name       string
		period     string
		at         time.Time
		start, end time.Time
	}{
		{"daily mid-day", PeriodDaily, utc(2026, 3, 10, 12, 30), utc(2026, 3, 10, 0, 0), utc(2026, 3, 11, 0, 0)},
		{"daily at midnight", PeriodDaily, utc(2026, 3, 10, 0, 0), utc(2026, 3, 10, 0, 0), utc(2026, 3, 11, 0, 0)},
		{"daily 1ns before midnight", PeriodDaily, utc(2026, 3, 11, 0, 0).Add(-1), utc(2026, 3, 10, 0, 0), utc(2026, 3, 11, 0, 0)},
		{"daily year end", PeriodDaily, utc(2026, 12, 31, 23, 59), utc(2026, 12, 31, 0, 0), utc(2027, 1, 1, 0, 0)},
		{"daily non-UTC input", PeriodDaily, time.Date(2026, 3, 10, 21, 0, 0, 0, est), utc(2026, 3, 11, 0, 0), utc(2026, 3, 12, 0, 0)},
		{"weekly Monday 00:00", PeriodWeekly, utc(2026, 3, 9, 0, 0), utc(2026, 3, 9, 0, 0), utc(2026, 3, 16, 0, 0)},
		{"weekly Sunday 23:59", PeriodWeekly, utc(2026, 3, 15, 23, 59), utc(2026, 3, 9, 0, 0), utc(2026, 3, 16, 0, 0)},
		{"weekly Sunday to Monday", PeriodWeekly, utc(2026, 3, 16, 0, 0), utc(2026, 3, 16, 0, 0), utc(2026, 3, 23, 0, 0)},
		{"weekly across month", PeriodWeekly, utc(2026, 4, 1, 8, 0), utc(2026, 3, 30, 0, 0), utc(2026, 4, 6, 0, 0)},
		{"weekly across year", PeriodWeekly, utc(2027, 1, 1, 8, 0), utc(2026, 12, 28, 0, 0), utc(2027, 1, 4, 0, 0)},
		{"weekly non-UTC Sunday evening is UTC Monday", PeriodWeekly, time.Date(2026, 3, 15, 20, 0, 0, 0, est), utc(2026, 3, 16, 0, 0), utc(2026, 3, 23, 0, 0)},
		{"monthly first instant", PeriodMonthly, utc(2026, 2, 1, 0, 0), utc(2026, 2, 1, 0, 0), utc(2026, 3, 1, 0, 0)},
		{"monthly February leap", PeriodMonthly, utc(2028, 2, 29, 23, 0), utc(2028, 2, 1, 0, 0), utc(2028, 3, 1, 0, 0)},
		{"monthly 31st", PeriodMonthly, utc(2026, 1, 31, 12, 0), utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0)},
		{"monthly December rollover", PeriodMonthly, utc(2026, 12, 31, 23, 59), utc(2026, 12, 1, 0, 0), utc(2027, 1, 1, 0, 0)},
		{"monthly non-UTC input", PeriodMonthly, time.Date(2026, 12, 31, 20, 0, 0, 0, est), utc(2027, 1, 1, 0, 0), utc(2027, 2, 1, 0, 0)},
		{"none", PeriodNone, utc(2026, 3, 10, 12, 0), time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, e := PeriodStart(tt.period, tt.at), PeriodEnd(tt.period, tt.at)
			if !s.Equal(tt.start) || !e.Equal(tt.end) {
				t.Fatalf("got [%v, %v), want [%v, %v)", s, e, tt.start, tt.end)
			}
			if tt.period != PeriodNone && (s.Location() != time.UTC || tt.at.Before(s) || !tt.at.Before(e)) {
				t.Fatalf("%v not in [%v, %v) or not UTC", tt.at, s, e)
			}
		})
	}
}

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name string
		l    Limits
		ok   bool
	}{
		{"zero", Limits{}, true},
		{"full", Limits{RPM: 1, TPM: 2, MaxParallel: 3, MaxTokens: 4, TokenQuota: 5, TokenQuotaPeriod: PeriodDaily, BudgetUSD: 1.5, BudgetPeriod: PeriodMonthly}, true},
		{"negative rpm", Limits{RPM: -1}, false},
		{"negative tpm", Limits{TPM: -1}, false},
		{"negative parallel", Limits{MaxParallel: -1}, false},
		{"negative max tokens", Limits{MaxTokens: -1}, false},
		{"negative quota", Limits{TokenQuota: -1}, false},
		{"negative budget", Limits{BudgetUSD: -0.01}, false},
		{"NaN budget", Limits{BudgetUSD: math.NaN()}, false},
		{"Inf budget", Limits{BudgetUSD: math.Inf(1)}, false},
		{"huge budget", Limits{BudgetUSD: 1e15}, false},
		{"bad budget period", Limits{BudgetPeriod: "hourly"}, false},
		{"bad quota period", Limits{TokenQuotaPeriod: "Daily"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLimits(tt.l)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("ValidateLimits = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func mustTeam(t testing.TB, s *BadgerStore, spec TeamSpec) Team {
	t.Helper()
	tm, err := s.CreateTeam(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestTeamCRUD(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, spec := range []TeamSpec{
		{},
		{Name: "   "},
		{Name: strings.Repeat("x", MaxNameLen+1)},
		{Name: "ok", Limits: Limits{BudgetPeriod: "yearly"}},
		{Name: "ok", Metadata: map[string]string{"": "v"}},
	} {
		if _, err := s.CreateTeam(ctx, spec); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateTeam(%+v) = %v, want ErrInvalid", spec, err)
		}
	}
	lim := Limits{BudgetUSD: 10, BudgetPeriod: PeriodMonthly}
	a := mustTeam(t, s, TeamSpec{Name: "alpha", Limits: lim, Metadata: map[string]string{"cc": "42"}})
	b := mustTeam(t, s, TeamSpec{Name: "beta"})
	if !strings.HasPrefix(a.ID, TeamIDPrefix) || len(a.ID) != len(TeamIDPrefix)+16 || a.ID == b.ID {
		t.Fatalf("bad ids %q %q", a.ID, b.ID)
	}
	got, err := s.GetTeam(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("GetTeam = %+v %v, want %+v", got, err, a)
	}
	list, err := s.ListTeams(ctx)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListTeams = %+v %v", list, err)
	}
	up, err := s.UpdateTeam(ctx, b.ID, TeamPatch{Name: ptr("beta2"), Limits: &Limits{TokenQuota: 100, TokenQuotaPeriod: PeriodDaily}})
	if err != nil || up.Name != "beta2" || up.Limits.TokenQuota != 100 || up.CreatedAt != b.CreatedAt {
		t.Fatalf("UpdateTeam = %+v %v", up, err)
	}
	if _, err := s.UpdateTeam(ctx, b.ID, TeamPatch{Limits: &Limits{RPM: -1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateTeam(bad limits) = %v", err)
	}
	if _, err := s.UpdateTeam(ctx, b.ID, TeamPatch{Name: ptr("")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateTeam(empty name) = %v", err)
	}
	if _, err := s.UpdateTeam(ctx, "team_missing", TeamPatch{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateTeam(missing) = %v", err)
	}

	// A team with a key that is not revoked cannot be deleted, and the
	// error names the key; a revoked key does not block it.
	k, _ := mustCreate(t, s, KeySpec{Name: "member", Team: a.ID})
	gone, _ := mustCreate(t, s, KeySpec{Name: "revoked member", Team: a.ID})
	if _, err := s.RevokeKey(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	err = s.DeleteTeam(ctx, a.ID)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), k.ID) || strings.Contains(err.Error(), gone.ID) {
		t.Fatalf("DeleteTeam(in use) = %v, want ErrInvalid naming %s only", err, k.ID)
	}
	if _, err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeam(ctx, a.ID); err != nil {
		t.Fatalf("DeleteTeam with only revoked keys: %v", err)
	}
	entries, err := s.ListAudit(ctx, 0, 0)
	if last := entries[len(entries)-1]; err != nil || last.Action != AuditTeamDelete || last.Details["revoked_keys"] != "2" {
		t.Fatalf("team.delete audit entry = %+v %v, want revoked_keys 2", last, err)
	}
	// The revoked keys keep the team's id as history.
	if got, err := s.GetKey(ctx, k.ID); err != nil || got.Team != a.ID || got.Status != StatusRevoked {
		t.Fatalf("revoked member after the team's deletion = %+v %v", got, err)
	}
	if _, err := s.GetTeam(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetTeam(deleted) = %v", err)
	}
	if err := s.DeleteTeam(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteTeam(again) = %v", err)
	}
	if _, err := s.GetTeam(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetTeam(\"\") = %v", err)
	}
}

func TestKeyTeamAndLimits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tm := mustTeam(t, s, TeamSpec{Name: "t"})
	other := mustTeam(t, s, TeamSpec{Name: "u"})
	lim := Limits{RPM: 60, TPM: 1000, MaxParallel: 2, MaxTokens: 512, TokenQuota: 1e6, TokenQuotaPeriod: PeriodMonthly, BudgetUSD: 12.5, BudgetPeriod: PeriodDaily}

	_, _, err = s.CreateKey(ctx, KeySpec{Team: "team_doesnotexist0"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "team_doesnotexist0") {
		t.Fatalf("CreateKey(unknown team) = %v", err)
	}
	for _, bad := range []Limits{{RPM: -1}, {BudgetUSD: math.NaN()}, {BudgetPeriod: "x"}} {
		if _, _, err := s.CreateKey(ctx, KeySpec{Limits: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateKey(limits %+v) = %v", bad, err)
		}
	}
	k, pt := mustCreate(t, s, KeySpec{Name: "k", Team: tm.ID, Limits: lim})
	if k.Team != tm.ID || k.Limits != lim {
		t.Fatalf("created %+v", k)
	}
	if _, err := s.UpdateKey(ctx, k.ID, KeyPatch{Team: ptr("team_nope")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateKey(unknown team) = %v", err)
	}
	if _, err := s.UpdateKey(ctx, k.ID, KeyPatch{Limits: &Limits{TPM: -5}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("UpdateKey(bad limits) = %v", err)
	}
	if got, err := s.Authenticate(ctx, pt, time.Now()); err != nil || got.Team != tm.ID || got.Limits != lim {
		t.Fatalf("Authenticate = %+v %v", got, err)
	}
	nk, npt, _, err := s.RotateKey(ctx, k.ID, time.Hour)
	if err != nil || nk.Team != tm.ID || nk.Limits != lim {
		t.Fatalf("RotateKey = %+v %v", nk, err)
	}
	// Persisted across a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, dir)
	for _, id := range []string{k.ID, nk.ID} {
		got, err := s.GetKey(ctx, id)
		if err != nil || got.Team != tm.ID || got.Limits != lim {
			t.Fatalf("after reopen %s = %+v %v", id, got, err)
		}
	}
	// Both the old and the rotated key hold the team.
	if err := s.DeleteTeam(ctx, tm.ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("DeleteTeam with rotated keys = %v", err)
	}
	newLim := Limits{BudgetUSD: 1}
	up, err := s.UpdateKey(ctx, nk.ID, KeyPatch{Team: &other.ID, Limits: &newLim})
	if err != nil || up.Team != other.ID || up.Limits != newLim {
		t.Fatalf("UpdateKey = %+v %v", up, err)
	}
	if got, err := s.Authenticate(ctx, npt, time.Now()); err != nil || got.Team != other.ID || got.Limits != newLim {
		t.Fatalf("Authenticate after update = %+v %v", got, err)
	}
	if err := s.DeleteTeam(ctx, tm.ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("DeleteTeam with the old key = %v", err)
	}
	if _, err := s.UpdateKey(ctx, k.ID, KeyPatch{Team: ptr("")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeam(ctx, tm.ID); err != nil {
		t.Fatalf("DeleteTeam once empty = %v", err)
	}
	if err := s.DeleteTeam(ctx, other.ID); !errors.Is(err, ErrInvalid) {
		t.Fatalf("DeleteTeam(other) = %v", err)
	}
}

// spendOf is SpendOf that fails the test on error.
func spendOf(t testing.TB, s *BadgerStore, scope, period string, at time.Time) Spend {
	t.Helper()
	sp, err := s.SpendOf(context.Background(), scope, period, at)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestReserveSettleArithmetic(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var clock atomic.Pointer[time.Time]
	setNow := func(t time.Time) { clock.Store(&t) }
	s.now = func() time.Time { return *clock.Load() }
	day1 := utc(2026, 3, 10, 12, 0)
	setNow(day1)

	scope := KeyScope("key_a")
	al := Allowance{Scope: scope, BudgetMicros: 10_000, BudgetPeriod: PeriodDaily, TokenQuota: 1_000, QuotaPeriod: PeriodMonthly}
	res := func(id string, cost, tokens int64, at time.Time, als ...Allowance) error {
		if len(als) == 0 {
			als = []Allowance{al}
		}
		return s.Reserve(ctx, Reservation{ID: id, Allowances: als, CostMicros: cost, Tokens: tokens, At: at})
	}
	type want struct{ spent, reserved, tokens, reservedTokens int64 }
	check := func(step, period string, at time.Time, w want) {
		t.Helper()
		sp := spendOf(t, s, scope, period, at)
		got := want{sp.SpentMicros, sp.ReservedMicros, sp.Tokens, sp.ReservedTokens}
		if got != w || !sp.PeriodStart.Equal(PeriodStart(period, at)) || sp.Scope != scope {
			t.Fatalf("%s: %s spend %+v (start %v), want %+v", step, period, got, sp.PeriodStart, w)
		}
	}

	if err := res("r1", 4000, 300, time.Time{}); err != nil {
		t.Fatal(err)
	}
	check("reserved", PeriodDaily, day1, want{0, 4000, 0, 300})
	check("reserved", PeriodMonthly, day1, want{0, 4000, 0, 300})
	if err := s.Settle(ctx, "r1", 2500, 200); err != nil { // refund
		t.Fatal(err)
	}
	check("refund", PeriodDaily, day1, want{2500, 0, 200, 0})
	if err := res("r2", 3000, 100, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "r2", 5000, 150); err != nil { // overrun is charged
		t.Fatal(err)
	}
	check("overrun", PeriodDaily, day1, want{7500, 0, 350, 0})
	check("overrun", PeriodMonthly, day1, want{7500, 0, 350, 0})

	err := res("r3", 2501, 0, time.Time{})
	if !errors.Is(err, ErrBudgetExceeded) || !strings.Contains(err.Error(), scope) {
		t.Fatalf("over budget: %v", err)
	}
	if err := res("r3", 2500, 0, time.Time{}); err != nil { // exactly to the budget
		t.Fatalf("exact budget: %v", err)
	}
	if err := res("r4", 1, 0, time.Time{}); !errors.Is(err, ErrBudgetExceeded) { // held by r3
		t.Fatalf("budget held by a reservation: %v", err)
	}
	if err := s.Settle(ctx, "r3", 0, 0); err != nil {
		t.Fatal(err)
	}
	err = res("r5", 0, 651, time.Time{})
	if !errors.Is(err, ErrQuotaExceeded) || !strings.Contains(err.Error(), scope) {
		t.Fatalf("over quota: %v", err)
	}
	check("after rejections", PeriodDaily, day1, want{7500, 0, 350, 0})

	// Next day: a fresh daily budget, the same monthly quota.
	day2 := day1.AddDate(0, 0, 1)
	setNow(day2)
	if err := res("r6", 9000, 600, time.Time{}); err != nil {
		t.Fatalf("next day: %v", err)
	}
	check("day2", PeriodDaily, day2, want{0, 9000, 0, 600})
	check("day2", PeriodMonthly, day2, want{7500, 9000, 350, 600})
	check("day1 untouched", PeriodDaily, day1, want{7500, 0, 350, 0})
	// Admitted late on day 2, settled on day 3: charged to day 2.
	if err := s.Settle(ctx, "r6", 100, 10); err != nil {
		t.Fatal(err)
	}
	late := utc(2026, 3, 11, 23, 59)
	if err := res("r7", 500, 0, late); err != nil {
		t.Fatal(err)
	}
	setNow(utc(2026, 3, 12, 0, 5))
	if err := s.Settle(ctx, "r7", 400, 0); err != nil {
		t.Fatal(err)
	}
	check("rollover settle", PeriodDaily, day2, want{500, 0, 10, 0})
	check("day3 empty", PeriodDaily, utc(2026, 3, 12, 0, 5), want{})

	// Settling an unknown or settled id is a no-op.
	for _, id := range []string{"nope", "r1"} {
		if err := s.Settle(ctx, id, 1e6, 1e6); err != nil {
			t.Fatal(err)
		}
	}
	check("no-op settle", PeriodDaily, day2, want{500, 0, 10, 0})

	// All or nothing: the team allowance fails, so the key takes nothing.
	teamAl := Allowance{Scope: TeamScope("team_x"), BudgetMicros: 100, BudgetPeriod: PeriodNone}
	err = res("r8", 200, 0, time.Time{}, al, teamAl)
	if !errors.Is(err, ErrBudgetExceeded) || !strings.Contains(err.Error(), "team:team_x") {
		t.Fatalf("team over budget: %v", err)
	}
	check("atomic", PeriodDaily, utc(2026, 3, 12, 0, 5), want{})

	// Allowances without limits still track spend (lifetime when no period).
	free := Allowance{Scope: KeyScope("key_free")}
	for i := range 3 {
		id := fmt.Sprint("f", i)
		if err := res(id, 1e9, 1e6, time.Time{}, free); err != nil {
			t.Fatal(err)
		}
		if err := s.Settle(ctx, id, 10, 1); err != nil {
			t.Fatal(err)
		}
	}
	if sp := spendOf(t, s, free.Scope, PeriodNone, time.Time{}); sp.SpentMicros != 30 || sp.Tokens != 3 || !sp.PeriodStart.IsZero() {
		t.Fatalf("lifetime spend %+v", sp)
	}

	// Bad input.
	if err := res("r9", 1, 0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Reservation{
		"duplicate id":   {ID: "r9", CostMicros: 1},
		"empty id":       {CostMicros: 1},
		"negative cost":  {ID: "x", CostMicros: -1},
		"huge tokens":    {ID: "x", Tokens: MaxLedgerAmount + 1},
		"empty scope":    {ID: "x", Allowances: []Allowance{{}}},
		"bad period":     {ID: "x", Allowances: []Allowance{{Scope: "k", BudgetPeriod: "hourly"}}},
		"negative quota": {ID: "x", Allowances: []Allowance{{Scope: "k", TokenQuota: -1}}},
	} {
		if err := s.Reserve(ctx, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Reserve = %v, want ErrInvalid", name, err)
		}
	}
	for _, q := range [][2]string{{"", PeriodDaily}, {scope, "hourly"}} {
		if _, err := s.SpendOf(ctx, q[0], q[1], day1); !errors.Is(err, ErrInvalid) {
			t.Errorf("SpendOf(%q, %q) = %v", q[0], q[1], err)
		}
	}
}

// hammer runs n goroutines that each reserve cost against the allowances
// chosen by alsFor(i) and settle settle(i) on success. It returns the sum
// of successful settlements, the count of successes, and fails the test on
// any error other than ErrBudgetExceeded.
func hammer(t *testing.T, s *BadgerStore, n int, cost int64, alsFor func(int) []Allowance, settle func(int) int64) (settled int64, ok int64) {
	t.Helper()
	ctx := context.Background()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			id := fmt.Sprintf("req-%d", i)
			err := s.Reserve(ctx, Reservation{ID: id, Allowances: alsFor(i), CostMicros: cost})
			if err != nil {
				if !errors.Is(err, ErrBudgetExceeded) {
					t.Errorf("reserve %d: %v", i, err)
				}
				return
			}
			actual := settle(i)
			if err := s.Settle(ctx, id, actual, 0); err != nil {
				t.Errorf("settle %d: %v", i, err)
				return
			}
			atomic.AddInt64(&settled, actual)
			atomic.AddInt64(&ok, 1)
		})
	}
	close(start)
	wg.Wait()
	return settled, ok
}

func TestReserveConcurrentBudget(t *testing.T) {
	s := openTemp(t)
	const x = 1_000_000
	const budget = 10*x + x/2
	scope := KeyScope("key_hot")
	al := []Allowance{{Scope: scope, BudgetMicros: budget, BudgetPeriod: PeriodDaily}}
	settled, ok := hammer(t, s, 200, x,
		func(int) []Allowance { return al },
		func(i int) int64 {
			if i%4 == 0 {
				return x / 2
			}
			return x
		})
	if settled > budget+x {
		t.Fatalf("overspend: settled %d > budget %d + one request %d", settled, budget, x)
	}
	if ok < 10 {
		t.Fatalf("only %d reservations succeeded; at least 10 fit", ok)
	}
	sp := spendOf(t, s, scope, PeriodDaily, time.Now())
	if sp.SpentMicros != settled || sp.ReservedMicros != 0 {
		t.Fatalf("ledger %+v, want spent %d and nothing reserved", sp, settled)
	}
	if sp.SpentMicros > budget { // actual ≤ reserved here, so the budget itself holds
		t.Fatalf("spent %d > budget %d", sp.SpentMicros, budget)
	}
}

func TestTeamAllowanceShared(t *testing.T) {
	s := openTemp(t)
	const x = 1_000_000
	const budget = 10*x + x/2
	team := TeamScope("team_shared")
	keys := []string{KeyScope("key_1"), KeyScope("key_2"), KeyScope("key_3")}
	settled, ok := hammer(t, s, 200, x,
		func(i int) []Allowance {
			return []Allowance{
				{Scope: keys[i%3], BudgetMicros: 100 * x, BudgetPeriod: PeriodMonthly},
				{Scope: team, BudgetMicros: budget, BudgetPeriod: PeriodMonthly},
			}
		},
		func(i int) int64 {
			if i%5 == 0 {
				return x / 2
			}
			return x
		})
	if settled > budget+x || ok < 10 {
		t.Fatalf("settled %d over %d successes (budget %d)", settled, ok, budget)
	}
	now := time.Now()
	tsp := spendOf(t, s, team, PeriodMonthly, now)
	var keySum int64
	for _, k := range keys {
		sp := spendOf(t, s, k, PeriodMonthly, now)
		keySum += sp.SpentMicros
		if sp.ReservedMicros != 0 {
			t.Fatalf("%s still reserved %+v", k, sp)
		}
	}
	if tsp.SpentMicros != settled || keySum != settled || tsp.ReservedMicros != 0 {
		t.Fatalf("team %+v, keys sum %d, settled %d", tsp, keySum, settled)
	}
}

func TestOrphanSweep(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.OrphansReleased() != 0 {
		t.Fatalf("fresh store released %d", s.OrphansReleased())
	}
	scope := KeyScope("key_o")
	al := []Allowance{{Scope: scope, BudgetMicros: 1000, BudgetPeriod: PeriodMonthly, TokenQuota: 50, QuotaPeriod: PeriodDaily}}
	at := time.Now()
	if err := s.Reserve(ctx, Reservation{ID: "settled", Allowances: al, CostMicros: 100, Tokens: 5, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "settled", 70, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, Reservation{ID: "lost", Allowances: al, CostMicros: 900, Tokens: 40, At: at}); err != nil {
		t.Fatal(err)
	}
	// The process "dies" without settling: Close keeps the r/ row.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, dir)
	if n := s.OrphansReleased(); n != 1 {
		t.Fatalf("OrphansReleased = %d, want 1", n)
	}
	for _, p := range []string{PeriodMonthly, PeriodDaily} {
		sp := spendOf(t, s, scope, p, at)
		if sp.ReservedMicros != 0 || sp.ReservedTokens != 0 || sp.SpentMicros != 70 || sp.Tokens != 4 {
			t.Fatalf("%s after sweep: %+v", p, sp)
		}
	}
	// The budget is available again, and settling the orphan is a no-op.
	if err := s.Settle(ctx, "lost", 900, 40); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, Reservation{ID: "again", Allowances: al, CostMicros: 930, Tokens: 46, At: at}); err != nil {
		t.Fatalf("budget not released: %v", err)
	}
	entries, err := s.ListAudit(ctx, 0, 0)
	if err != nil || len(entries) != 1 || entries[0].Action != AuditOrphansReleased || entries[0].Details["count"] != "1" {
		t.Fatalf("audit %+v %v", entries, err)
	}
	if v, err := s.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("VerifyAudit %+v %v", v, err)
	}
	var rows int
	s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixReservation)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			rows++
		}
		return nil
	})
	if rows != 1 { // only "again"
		t.Fatalf("%d reservation rows, want 1", rows)
	}
}

// auditStore returns a store holding n appended entries.
func auditStore(t *testing.T, n int) *BadgerStore {
	t.Helper()
	ctx := context.Background()
	s := openTemp(t)
	for i := range n {
		e, err := s.Audit(ctx, AuditEntry{
			Action: "auth.revoked_key", Actor: "gateway", Target: fmt.Sprint("key_", i), Remote: "192.0.2.1:1234",
			Details: map[string]string{"n": fmt.Sprint(i), "model": "gpt-4o", "a": "x"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) || e.Hash != AuditHash(e) || len(e.Hash) != 64 {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	return s
}

func rawAuditEntry(t *testing.T, s *BadgerStore, seq uint64) AuditEntry {
	t.Helper()
	var e AuditEntry
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(auditKey(seq))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &e) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func putRawAuditEntry(t *testing.T, s *BadgerStore, e AuditEntry) {
	t.Helper()
	v, _ := json.Marshal(e)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(auditKey(e.Seq), v) }); err != nil {
		t.Fatal(err)
	}
}

func deleteRaw(t *testing.T, s *BadgerStore, k []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
		t.Fatal(err)
	}
}

func TestAuditChain(t *testing.T) {
	ctx := context.Background()
	const n = 60
	s := auditStore(t, n)
	v, err := s.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Entries != n || v.Head.Seq != n || v.BrokenAt != 0 {
		t.Fatalf("VerifyAudit = %+v %v", v, err)
	}
	head, err := s.AuditHeadOf(ctx)
	last := rawAuditEntry(t, s, n)
	if err != nil || head.Seq != n || head.Hash != last.Hash || !head.Time.Equal(last.Time) {
		t.Fatalf("head %+v %v, last %+v", head, err, last)
	}
	// Listing: default page, since, cap.
	page, err := s.ListAudit(ctx, 0, 0)
	if err != nil || len(page) != n || page[0].Seq != 1 || page[0].PrevHash != "" {
		t.Fatalf("ListAudit(0,0): %d entries %v", len(page), err)
	}
	for i := 1; i < len(page); i++ {
		if page[i].Seq != page[i-1].Seq+1 || page[i].PrevHash != page[i-1].Hash {
			t.Fatalf("link %d broken in listing", i)
		}
	}
	if page, _ := s.ListAudit(ctx, 55, 3); len(page) != 3 || page[0].Seq != 56 || page[2].Seq != 58 {
		t.Fatalf("ListAudit(55,3) = %+v", page)
	}
	if page, _ := s.ListAudit(ctx, n, 10); len(page) != 0 {
		t.Fatalf("ListAudit past the end = %+v", page)
	}

	// Reopening continues the chain without a gap.
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *BadgerStore)
		broken uint64
		reason string
	}{
		{"edit details", func(t *testing.T, s *BadgerStore) {
			e := rawAuditEntry(t, s, 20)
			e.Details["model"] = "gpt-5"
			putRawAuditEntry(t, s, e)
		}, 20, "hash"},
		{"edit time", func(t *testing.T, s *BadgerStore) {
			e := rawAuditEntry(t, s, 7)
			e.Time = e.Time.Add(time.Nanosecond)
			putRawAuditEntry(t, s, e)
		}, 7, "hash"},
		{"edit and rehash", func(t *testing.T, s *BadgerStore) {
			e := rawAuditEntry(t, s, 30)
			e.Actor = "mallory"
			e.Hash = AuditHash(e)
			putRawAuditEntry(t, s, e)
		}, 31, "prev_hash"},
		{"delete middle", func(t *testing.T, s *BadgerStore) { deleteRaw(t, s, auditKey(25)) }, 25, "missing"},
		{"delete first", func(t *testing.T, s *BadgerStore) { deleteRaw(t, s, auditKey(1)) }, 1, "missing"},
		{"delete newest", func(t *testing.T, s *BadgerStore) { deleteRaw(t, s, auditKey(n)) }, n, "deleted"},
		{"delete head", func(t *testing.T, s *BadgerStore) { deleteRaw(t, s, []byte(keyAuditHead)) }, n, "head"},
		{"reorder", func(t *testing.T, s *BadgerStore) {
			a, b := rawAuditEntry(t, s, 10), rawAuditEntry(t, s, 11)
			a.Seq, b.Seq = 11, 10
			putRawAuditEntry(t, s, a)
			putRawAuditEntry(t, s, b)
		}, 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := auditStore(t, n)
			tt.tamper(t, s)
			v, err := s.VerifyAudit(ctx)
			if err != nil || v.OK || v.BrokenAt != tt.broken || !strings.Contains(v.Reason, tt.reason) {
				t.Fatalf("VerifyAudit = %+v %v, want broken at %d (%s)", v, err, tt.broken, tt.reason)
			}
		})
	}
}

func TestAuditReopenAndRejects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Audit(ctx, AuditEntry{Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openAt(t, dir)
	e, err := s.Audit(ctx, AuditEntry{Action: "after.reopen", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))})
	if err != nil || e.Seq != 4 || e.Time.Location() != time.UTC || e.Time.Nanosecond() != 6 {
		t.Fatalf("append after reopen: %+v %v", e, err)
	}
	_, pt := mustCreate(t, s, KeySpec{Name: "real"})
	head, _ := s.AuditHeadOf(ctx)
	for name, bad := range map[string]AuditEntry{
		"key as detail":         {Action: "a", Details: map[string]string{"note": pt}},
		"key inside text":       {Action: "a", Details: map[string]string{"note": "Bearer " + pt + " leaked"}},
		"key glued to text":     {Action: "a", Details: map[string]string{"note": "key=" + pt + ";"}},
		"key as detail key":     {Action: "a", Details: map[string]string{pt: "v"}},
		"key as target":         {Action: "a", Target: pt},
		"no action":             {Target: "key_x"},
		"invalid UTF-8":         {Action: "a", Details: map[string]string{"n": "\xff"}},
		"oversized":             {Action: "a", Remote: strings.Repeat("r", MaxAuditFieldLen+1)},
		"empty detail key":      {Action: "a", Details: map[string]string{"": "v"}},
		"key name holding key?": {Action: "a", Actor: "x " + pt},
	} {
		if _, err := s.Audit(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Audit = %v, want ErrInvalid", name, err)
		}
	}
	// A key with a bad checksum or just the display prefix is fine.
	for _, ok := range []string{DisplayPrefix(pt), pt[:len(pt)-1] + otherDigit(pt[len(pt)-1])} {
		if _, err := s.Audit(ctx, AuditEntry{Action: "a", Details: map[string]string{"v": ok}}); err != nil {
			t.Errorf("Audit(%q) = %v", ok, err)
		}
	}
	if _, _, err := s.CreateKey(ctx, KeySpec{Name: "oops " + pt}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateKey with a key in its name = %v", err)
	}
	after, _ := s.AuditHeadOf(ctx)
	if after.Seq != head.Seq+2 {
		t.Fatalf("rejected entries moved the head: %d → %d", head.Seq, after.Seq)
	}
	if v, err := s.VerifyAudit(ctx); err != nil || !v.OK {
		t.Fatalf("VerifyAudit %+v %v", v, err)
	}
}

func TestAdminOpsAudited(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	tm := mustTeam(t, s, TeamSpec{Name: "ops"})
	k, _ := mustCreate(t, s, KeySpec{Name: "svc", Team: tm.ID})
	if _, err := s.UpdateKey(ctx, k.ID, KeyPatch{Name: ptr("svc2"), Limits: &Limits{RPM: 5}}); err != nil {
		t.Fatal(err)
	}
	nk, _, _, err := s.RotateKey(ctx, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, k.ID); err != nil { // no-op: no entry
		t.Fatal(err)
	}
	if _, err := s.UpdateTeam(ctx, tm.ID, TeamPatch{Name: ptr("ops2")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{k.ID, nk.ID} {
		if _, err := s.UpdateKey(ctx, id, KeyPatch{Team: ptr("")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteTeam(ctx, tm.ID); err != nil {
		t.Fatal(err)
	}
	// Failed changes leave no entry.
	s.UpdateKey(ctx, "key_missing", KeyPatch{Name: ptr("x")})
	s.DeleteTeam(ctx, tm.ID)

	entries, err := s.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ action, target string }
	want := []row{
		{AuditTeamCreate, tm.ID}, {AuditKeyCreate, k.ID}, {AuditKeyUpdate, k.ID}, {AuditKeyRotate, k.ID},
		{AuditKeyRevoke, k.ID}, {AuditTeamUpdate, tm.ID}, {AuditKeyUpdate, k.ID}, {AuditKeyUpdate, nk.ID},
		{AuditTeamDelete, tm.ID},
	}
	var got []row
	for _, e := range entries {
		got = append(got, row{e.Action, e.Target})
		if e.Actor != "" {
			t.Errorf("store set actor %q", e.Actor)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit actions\n got %v\nwant %v", got, want)
	}
	if d := entries[1].Details; d["name"] != "svc" || d["team"] != tm.ID {
		t.Errorf("key.create details %v", d)
	}
	if d := entries[2].Details; d["fields"] != "name,limits" {
		t.Errorf("key.update details %v", d)
	}
	if d := entries[3].Details; d["new_id"] != nk.ID || d["grace"] != "1h0m0s" {
		t.Errorf("key.rotate details %v", d)
	}
	if d := entries[6].Details; d["old_team"] != tm.ID || d["team"] != "" || d["fields"] != "team" {
		t.Errorf("team move details %v", d)
	}
	if v, err := s.VerifyAudit(ctx); err != nil || !v.OK || v.Entries != uint64(len(want)) {
		t.Fatalf("VerifyAudit %+v %v", v, err)
	}
}

func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	tm := mustTeam(t, s, TeamSpec{Name: "team", Limits: Limits{BudgetUSD: 5, BudgetPeriod: PeriodMonthly}})
	k, pt := mustCreate(t, s, KeySpec{Name: "k", Team: tm.ID, Limits: Limits{MaxTokens: 100}})
	al := []Allowance{k.Limits.Allowance(KeyScope(k.ID)), tm.Limits.Allowance(TeamScope(tm.ID))}
	at := time.Now()
	if err := s.Reserve(ctx, Reservation{ID: "done", Allowances: al, CostMicros: 3000, Tokens: 10, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, "done", 2000, 8); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, Reservation{ID: "open", Allowances: al, CostMicros: 500, At: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Audit(ctx, AuditEntry{Action: "backup.test", Target: k.ID}); err != nil {
		t.Fatal(err)
	}
	head, _ := s.AuditHeadOf(ctx)

	var buf bytes.Buffer
	if err := s.Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Backup(cctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup(cancelled) = %v", err)
	}
	backup := buf.Bytes()

	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(dir, bytes.NewReader(backup)); err != nil {
		t.Fatal(err)
	}
	// A directory with a database, or anything else, is refused.
	if err := Restore(dir, bytes.NewReader(backup)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Badger") {
		t.Fatalf("Restore over a database = %v", err)
	}
	junk := t.TempDir()
	os.WriteFile(filepath.Join(junk, "x"), []byte("x"), 0o600)
	if err := Restore(junk, bytes.NewReader(backup)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Restore into a non-empty dir = %v", err)
	}
	bad := t.TempDir()
	if err := Restore(bad, strings.NewReader("not a backup")); err == nil {
		t.Fatal("Restore of garbage succeeded")
	}
	if ents, _ := os.ReadDir(bad); len(ents) != 0 {
		t.Fatalf("failed restore left %d files", len(ents))
	}

	r := openAt(t, dir)
	if got, err := r.GetKey(ctx, k.ID); err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("restored key %+v %v", got, err)
	}
	if got, err := r.Authenticate(ctx, pt, time.Now()); err != nil || got.ID != k.ID {
		t.Fatalf("restored Authenticate %+v %v", got, err)
	}
	if got, err := r.GetTeam(ctx, tm.ID); err != nil || !reflect.DeepEqual(got, tm) {
		t.Fatalf("restored team %+v %v", got, err)
	}
	if r.OrphansReleased() != 1 {
		t.Fatalf("OrphansReleased = %d, want the open reservation", r.OrphansReleased())
	}
	sp := spendOf(t, r, TeamScope(tm.ID), PeriodMonthly, at)
	if sp.SpentMicros != 2000 || sp.Tokens != 8 || sp.ReservedMicros != 0 {
		t.Fatalf("restored team spend %+v", sp)
	}
	v, err := r.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Head.Seq != head.Seq+1 {
		t.Fatalf("restored VerifyAudit %+v %v (backup head %+v)", v, err, head)
	}
	if e, _ := r.ListAudit(ctx, head.Seq-1, 1); len(e) != 1 || e[0].Hash != head.Hash {
		t.Fatalf("restored chain does not hold the backup head: %+v", e)
	}
}

func TestUsageCostAndTeam(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	day := utc(2026, 3, 10, 9, 0)
	recs := []UsageRecord{
		{KeyID: "key_a", TeamID: "team_x", Model: "m1", Status: 200, PromptTokens: 10, CompletionTokens: 5, CostMicros: 1_500_000},
		{KeyID: "key_b", TeamID: "team_x", Model: "m2", Status: 500, PromptTokens: 1, CostMicros: 250_000},
		{KeyID: "key_c", TeamID: "team_y", Model: "m1", Status: 200, CompletionTokens: 7, CostMicros: 3},
		{KeyID: "key_d", Model: "m1", Status: 200, PromptTokens: 2, CostMicros: -9}, // no team; negative cost → 0
		{KeyID: "key_a", TeamID: "team_x", Model: "m1", Status: 200, PromptTokens: 1, CostMicros: 1},
		// Moved to another team later: counted under the record's team.
		{KeyID: "key_a", TeamID: "team_y", Model: "m1", Status: 200, CostMicros: 10},
	}
	for i, r := range recs {
		r.Time = day.Add(time.Duration(i) * time.Minute)
		if err := s.RecordUsage(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    UsageQuery
		want []UsageGroup
	}{
		{"by team", UsageQuery{GroupBy: GroupByTeam}, []UsageGroup{
			{Group: "", Requests: 1, PromptTokens: 2, TotalTokens: 2},
			{Group: "team_x", Requests: 3, Errors: 1, PromptTokens: 12, CompletionTokens: 5, TotalTokens: 17, CostUSD: 1.750001},
			{Group: "team_y", Requests: 2, CompletionTokens: 7, TotalTokens: 7, CostUSD: 0.000013},
		}},
		{"team filter by key", UsageQuery{TeamID: "team_x", GroupBy: GroupByKey}, []UsageGroup{
			{Group: "key_a", Requests: 2, PromptTokens: 11, CompletionTokens: 5, TotalTokens: 16, CostUSD: 1.500001},
			{Group: "key_b", Requests: 1, Errors: 1, PromptTokens: 1, TotalTokens: 1, CostUSD: 0.25},
		}},
		{"key filter by team", UsageQuery{KeyID: "key_a", GroupBy: GroupByTeam}, []UsageGroup{
			{Group: "team_x", Requests: 2, PromptTokens: 11, CompletionTokens: 5, TotalTokens: 16, CostUSD: 1.500001},
			{Group: "team_y", Requests: 1, CostUSD: 0.00001},
		}},
		{"by model with cost", UsageQuery{}, []UsageGroup{
			{Group: "m1", Requests: 5, PromptTokens: 13, CompletionTokens: 12, TotalTokens: 25, CostUSD: 1.500014},
			{Group: "m2", Requests: 1, Errors: 1, PromptTokens: 1, TotalTokens: 1, CostUSD: 0.25},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.QueryUsage(ctx, tt.q)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}
