package keystore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// Usage writer tuning. One transaction per batch keeps write amplification
// (and, with SyncWrites, fsyncs) proportional to batches, not requests.
const (
	usageQueueSize = 4096                   // records queued before RecordUsage blocks
	usageBatchMax  = 256                    // records per transaction
	usageBatchWait = 100 * time.Millisecond // longest a record waits for its batch
	dayFormat      = "2006-01-02"
)

// Usage group-by values for UsageQuery.GroupBy.
const (
	// GroupByModel groups by UsageRecord.Model; it is the default.
	GroupByModel = "model"
	// GroupByKey groups by UsageRecord.KeyID.
	GroupByKey = "key"
	// GroupByDay groups by UTC day, formatted YYYY-MM-DD.
	GroupByDay = "day"
	// GroupByTeam groups by UsageRecord.TeamID ("" for keys without a
	// team).
	GroupByTeam = "team"
)

// usageMsg is one queue entry: a record, or (flush non-nil) a flush marker
// that the writer answers once everything queued before it is committed.
type usageMsg struct {
	rec   UsageRecord
	flush chan error
}

// rollup is the per day, key, team and model counter set kept at u/d/...;
// it carries its own dimensions so a model name containing '/' needs no
// parsing.
type rollup struct {
	Day              string `json:"day"`
	KeyID            string `json:"key_id"`
	TeamID           string `json:"team_id,omitempty"`
	Model            string `json:"model"`
	CostMicros       int64  `json:"cost_micros,omitempty"`
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
}

func (r *rollup) add(o *rollup) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.PromptTokens += o.PromptTokens
	r.CompletionTokens += o.CompletionTokens
	r.CostMicros += o.CostMicros
}

// rollupKey builds u/d/<day>/<key id>/<model>, or
// u/d/<day>/<key id>|<team id>/<model> for a record with a team. The ids are
// path-escaped, which escapes both '/' and '|', so an odd id cannot shift a
// boundary and the team-less form (the layout before teams existed) cannot
// collide with the team form; the model is last and may hold '/'.
func rollupKey(day, keyID, teamID, model string) string {
	seg := url.PathEscape(keyID)
	if teamID != "" {
		seg += "|" + url.PathEscape(teamID)
	}
	return prefixUsageDay + day + "/" + seg + "/" + model
}

func rawUsageKey(rec *UsageRecord) []byte {
	b := make([]byte, 0, len(prefixUsageRaw)+8+len(rec.RequestID))
	b = append(b, prefixUsageRaw...)
	b = binary.BigEndian.AppendUint64(b, uint64(rec.Time.UnixNano()))
	return append(b, rec.RequestID...)
}

// RecordUsage queues rec for the batched writer. A zero Time becomes now, an
// empty RequestID gets a random "req_" ID, and negative token counts become
// 0. If the queue has room the record is queued even when ctx is already
// done, so a cancelled request context (a client disconnect) does not lose
// its usage; ctx only bounds the wait on a full queue. After Close it
// returns ErrClosed.
func (s *BadgerStore) RecordUsage(ctx context.Context, rec UsageRecord) error {
	if rec.Time.IsZero() {
		rec.Time = s.now()
	}
	rec.Time = rec.Time.UTC().Round(0)
	if rec.RequestID == "" {
		id, err := newRandomID("req_", 16)
		if err != nil {
			return err
		}
		rec.RequestID = id
	}
	rec.PromptTokens = max(rec.PromptTokens, 0)
	rec.CompletionTokens = max(rec.CompletionTokens, 0)
	rec.CostMicros = max(rec.CostMicros, 0)

	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.sendClosed {
		return ErrClosed
	}
	select {
	case s.usageCh <- usageMsg{rec: rec}:
		return nil
	default:
	}
	select {
	case s.usageCh <- usageMsg{rec: rec}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// FlushUsage waits until every record queued before the call is committed
// (and synced to disk, when SyncWrites is off). It returns the first write
// error since the previous flush, if any; records of a failed batch are
// logged and dropped.
func (s *BadgerStore) FlushUsage(ctx context.Context) error {
	done := make(chan error, 1)
	s.sendMu.RLock()
	if s.sendClosed {
		s.sendMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.usageCh <- usageMsg{flush: done}:
	case <-ctx.Done():
		s.sendMu.RUnlock()
		return ctx.Err()
	}
	// Unlock before waiting so a concurrent Close is not held up; the
	// writer answers the marker before it sees the channel closed.
	s.sendMu.RUnlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runUsageWriter is the single goroutine that drains usageCh. It commits a
// batch when it is full, when the oldest record in it has waited
// usageBatchWait, at a flush marker, and when Close closes the channel.
func (s *BadgerStore) runUsageWriter() {
	defer close(s.writerDone)
	batch := make([]UsageRecord, 0, usageBatchMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var timerC <-chan time.Time
	var pendingErr error

	flush := func() {
		timer.Stop()
		timerC = nil
		if len(batch) == 0 {
			return
		}
		if err := s.writeUsageBatch(batch); err != nil {
			s.log.Error("keystore: writing usage batch failed; records dropped",
				zap.Int("records", len(batch)), zap.Error(err))
			if pendingErr == nil {
				pendingErr = fmt.Errorf("keystore: writing %d usage records: %w", len(batch), err)
			}
		}
		clear(batch) // drop string references for the GC
		batch = batch[:0]
	}

	for {
		select {
		case m, ok := <-s.usageCh:
			if !ok {
				flush()
				return
			}
			if m.flush != nil {
				flush()
				if pendingErr == nil && !s.sync && !s.inMemory {
					if err := s.db.Sync(); err != nil {
						pendingErr = fmt.Errorf("keystore: syncing usage: %w", err)
					}
				}
				m.flush <- pendingErr
				pendingErr = nil
				continue
			}
			batch = append(batch, m.rec)
			if len(batch) >= usageBatchMax {
				flush()
			} else if timerC == nil {
				timer.Reset(usageBatchWait)
				timerC = timer.C
			}
		case <-timerC:
			timerC = nil
			flush()
		}
	}
}

// writeUsageBatch commits the raw records and the summed rollup increments
// of batch in one transaction, splitting the batch if Badger finds it too
// big.
func (s *BadgerStore) writeUsageBatch(batch []UsageRecord) error {
	type rawKV struct{ k, v []byte }
	raws := make([]rawKV, 0, len(batch))
	deltas := make(map[string]*rollup)
	for i := range batch {
		rec := &batch[i]
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		raws = append(raws, rawKV{rawUsageKey(rec), v})

		day := rec.Time.Format(dayFormat)
		rk := rollupKey(day, rec.KeyID, rec.TeamID, rec.Model)
		d := deltas[rk]
		if d == nil {
			d = &rollup{Day: day, KeyID: rec.KeyID, TeamID: rec.TeamID, Model: rec.Model}
			deltas[rk] = d
		}
		d.Requests++
		if rec.Status >= 400 {
			d.Errors++
		}
		d.PromptTokens += rec.PromptTokens
		d.CompletionTokens += rec.CompletionTokens
		d.CostMicros += rec.CostMicros
	}

	write := func(txn *badger.Txn) error {
		for _, kv := range raws {
			if err := txn.Set(kv.k, kv.v); err != nil {
				return err
			}
		}
		for rk, d := range deltas {
			// Sum into a fresh value so a retried transaction starts
			// again from the stored counters, never from a half-done try.
			sum := *d
			item, err := txn.Get([]byte(rk))
			switch {
			case err == nil:
				var cur rollup
				if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &cur) }); err != nil {
					return fmt.Errorf("decoding usage rollup %q: %w", rk, err)
				}
				sum.add(&cur)
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			v, err := json.Marshal(&sum)
			if err != nil {
				return err
			}
			if err := txn.Set([]byte(rk), v); err != nil {
				return err
			}
		}
		return nil
	}

	if err := s.space.check(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.db.Update(write)
		switch {
		case errors.Is(err, badger.ErrConflict) && attempt < maxTxnRetries:
			continue
		case errors.Is(err, badger.ErrTxnTooBig) && len(batch) > 1:
			half := len(batch) / 2
			return errors.Join(s.writeUsageBatch(batch[:half]), s.writeUsageBatch(batch[half:]))
		}
		return err
	}
}

// QueryUsage sums usage rollups. KeyID and TeamID, when set, select one key
// or one team (a record's team is the one it was written with); From and To
// are truncated to UTC days and both inclusive; GroupBy is GroupByModel (the
// default when empty), GroupByKey, GroupByTeam or GroupByDay, anything else
// is ErrInvalid. Cost is summed in integer micro-USD and converted to
// CostUSD once per row. Rows are sorted by Group. Raw records are not read, so the
// cost depends on days×keys×models, not on request count.
func (s *BadgerStore) QueryUsage(ctx context.Context, q UsageQuery) ([]UsageGroup, error) {
	group := q.GroupBy
	switch group {
	case "":
		group = GroupByModel
	case GroupByModel, GroupByKey, GroupByTeam, GroupByDay:
	default:
		return nil, fmt.Errorf("%w: unknown group_by %q (want model, key, team or day)", ErrInvalid, q.GroupBy)
	}
	var fromDay, toDay string
	if !q.From.IsZero() {
		fromDay = q.From.UTC().Format(dayFormat)
	}
	if !q.To.IsZero() {
		toDay = q.To.UTC().Format(dayFormat)
	}
	if fromDay != "" && toDay != "" && fromDay > toDay {
		return nil, fmt.Errorf("%w: from is after to", ErrInvalid)
	}

	sums := make(map[string]*UsageGroup)
	costs := make(map[string]int64)
	err := s.view(ctx, func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixUsageDay)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek([]byte(prefixUsageDay + fromDay)); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) < len(prefixUsageDay)+len(dayFormat) {
				continue
			}
			day := string(k[len(prefixUsageDay) : len(prefixUsageDay)+len(dayFormat)])
			if toDay != "" && day > toDay {
				break
			}
			var r rollup
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return fmt.Errorf("keystore: decoding usage rollup %q: %w", k, err)
			}
			if q.KeyID != "" && r.KeyID != q.KeyID {
				continue
			}
			if q.TeamID != "" && r.TeamID != q.TeamID {
				continue
			}
			var name string
			switch group {
			case GroupByModel:
				name = r.Model
			case GroupByKey:
				name = r.KeyID
			case GroupByTeam:
				name = r.TeamID
			case GroupByDay:
				name = r.Day
			}
			g := sums[name]
			if g == nil {
				g = &UsageGroup{Group: name}
				sums[name] = g
			}
			g.Requests += r.Requests
			g.Errors += r.Errors
			g.PromptTokens += r.PromptTokens
			g.CompletionTokens += r.CompletionTokens
			costs[name] += r.CostMicros
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]UsageGroup, 0, len(sums))
	for _, g := range sums {
		g.TotalTokens = g.PromptTokens + g.CompletionTokens
		g.CostUSD = float64(costs[g.Group]) / 1e6
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b UsageGroup) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}
