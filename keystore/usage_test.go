package keystore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// usageFixture describes record i of a deterministic workload, so expected
// sums can be computed independently of the store.
type usageFixture struct {
	keys, models []string
	days         []time.Time
}

func (f usageFixture) rec(i int) UsageRecord {
	status := 200
	if i%10 == 0 {
		status = 500
	} else if i%10 == 1 {
		status = 499
	}
	return UsageRecord{
		RequestID:        fmt.Sprintf("req-%d", i),
		Time:             f.days[(i/7)%len(f.days)].Add(time.Duration(i%1000) * time.Second),
		KeyID:            f.keys[i%len(f.keys)],
		Model:            f.models[(i/3)%len(f.models)],
		Endpoint:         "chat.completions",
		Status:           status,
		PromptTokens:     int64(i % 13),
		CompletionTokens: int64(i % 17),
		Latency:          time.Millisecond,
	}
}

// expect sums records 0..n-1 that pass keep, grouped by group.
func expect(f usageFixture, n int, keep func(UsageRecord) bool, group func(UsageRecord) string) []UsageGroup {
	m := map[string]*UsageGroup{}
	for i := range n {
		r := f.rec(i)
		if !keep(r) {
			continue
		}
		name := group(r)
		g := m[name]
		if g == nil {
			g = &UsageGroup{Group: name}
			m[name] = g
		}
		g.Requests++
		if r.Status >= 400 {
			g.Errors++
		}
		g.PromptTokens += r.PromptTokens
		g.CompletionTokens += r.CompletionTokens
		g.TotalTokens += r.PromptTokens + r.CompletionTokens
	}
	out := []UsageGroup{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, *m[k])
	}
	return out
}

func TestUsageConcurrentAndQueries(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	d0 := time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC)
	f := usageFixture{
		keys:   []string{"key_a", "key_b", "key_c"},
		models: []string{"gpt-4o", "claude-3-5-sonnet", "openai/gpt-4o-mini"},
		days:   []time.Time{d0, d0.AddDate(0, 0, 1), d0.AddDate(0, 0, 2), d0.AddDate(0, 0, 5)},
	}
	const workers, per = 16, 400 // more than the queue, so back-pressure is exercised
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := range per {
				if err := s.RecordUsage(ctx, f.rec(w*per+j)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	const n = workers * per

	all := func(UsageRecord) bool { return true }
	byModel := func(r UsageRecord) string { return r.Model }
	byKey := func(r UsageRecord) string { return r.KeyID }
	byDay := func(r UsageRecord) string { return r.Time.Format("2006-01-02") }
	dayIn := func(from, to time.Time) func(UsageRecord) bool {
		return func(r UsageRecord) bool {
			d := r.Time.UTC().Truncate(24 * time.Hour)
			return (from.IsZero() || !d.Before(from.UTC().Truncate(24*time.Hour))) &&
				(to.IsZero() || !d.After(to.UTC().Truncate(24*time.Hour)))
		}
	}
	// A From in the middle of a day (and in another zone) still includes
	// that whole UTC day.
	midDay1 := d0.AddDate(0, 0, 1).Add(15 * time.Hour).In(time.FixedZone("X", -8*3600))

	tests := []struct {
		name string
		q    UsageQuery
		want []UsageGroup
	}{
		{"default groups by model", UsageQuery{}, expect(f, n, all, byModel)},
		{"by model", UsageQuery{GroupBy: "model"}, expect(f, n, all, byModel)},
		{"by key", UsageQuery{GroupBy: "key"}, expect(f, n, all, byKey)},
		{"by day", UsageQuery{GroupBy: "day"}, expect(f, n, all, byDay)},
		{"one key by model", UsageQuery{KeyID: "key_b"},
			expect(f, n, func(r UsageRecord) bool { return r.KeyID == "key_b" }, byModel)},
		{"unknown key", UsageQuery{KeyID: "key_zzz"}, []UsageGroup{}},
		{"from mid-day", UsageQuery{From: midDay1, GroupBy: "day"}, expect(f, n, dayIn(midDay1, time.Time{}), byDay)},
		{"to mid-day", UsageQuery{To: midDay1, GroupBy: "day"}, expect(f, n, dayIn(time.Time{}, midDay1), byDay)},
		{"single day", UsageQuery{From: d0.AddDate(0, 0, 2), To: d0.AddDate(0, 0, 2).Add(23 * time.Hour), GroupBy: "key"},
			expect(f, n, dayIn(d0.AddDate(0, 0, 2), d0.AddDate(0, 0, 2)), byKey)},
		{"key and range", UsageQuery{KeyID: "key_c", From: d0, To: d0.AddDate(0, 0, 1), GroupBy: "model"},
			expect(f, n, func(r UsageRecord) bool {
				return r.KeyID == "key_c" && dayIn(d0, d0.AddDate(0, 0, 1))(r)
			}, byModel)},
		{"empty gap", UsageQuery{From: d0.AddDate(0, 0, 3), To: d0.AddDate(0, 0, 4)}, []UsageGroup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.QueryUsage(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}

	// Sanity check the fixture itself: all requests are counted exactly once.
	var total int64
	rows, _ := s.QueryUsage(ctx, UsageQuery{GroupBy: "day"})
	for _, r := range rows {
		total += r.Requests
	}
	if total != n || len(rows) != 4 {
		t.Fatalf("total %d over %d days, want %d over 4", total, len(rows), n)
	}
}

func TestQueryUsageInvalid(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	for _, q := range []UsageQuery{
		{GroupBy: "provider"},
		{GroupBy: "Model"},
		{From: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := s.QueryUsage(ctx, q); !errors.Is(err, ErrInvalid) {
			t.Errorf("QueryUsage(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}

func TestRecordUsageNormalizes(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Zero time and request ID, negative tokens, and an already cancelled
	// context (a client disconnect) with room in the queue: still recorded.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for range 3 {
		if err := s.RecordUsage(cctx, UsageRecord{KeyID: "k", Model: "m", Status: 499, PromptTokens: -5, CompletionTokens: 7}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryUsage(ctx, UsageQuery{From: time.Now(), To: time.Now()})
	want := []UsageGroup{{Group: "m", Requests: 3, Errors: 3, CompletionTokens: 21, TotalTokens: 21}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v, want %+v", got, err, want)
	}
}

func TestFlushUsageWaitsForBatch(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	// Fewer records than a batch: without the flush marker they would sit
	// in the writer for up to usageBatchWait.
	for i := range 5 {
		if err := s.RecordUsage(ctx, UsageRecord{RequestID: fmt.Sprint(i), KeyID: "k", Model: "m", Status: 200, PromptTokens: 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		rows, err := s.QueryUsage(ctx, UsageQuery{})
		if err != nil || len(rows) != 1 || rows[0].Requests != int64(i+1) {
			t.Fatalf("after %d records: %+v %v", i+1, rows, err)
		}
	}
	// Without an explicit flush, the timer commits the batch.
	if err := s.RecordUsage(ctx, UsageRecord{KeyID: "k", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, _ := s.QueryUsage(ctx, UsageQuery{})
		if len(rows) == 1 && rows[0].Requests == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timer flush never happened: %+v", rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A cancelled context stops FlushUsage from waiting.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.FlushUsage(cctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("FlushUsage(cancelled) = %v", err)
	}
}
