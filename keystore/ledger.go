package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// The spend ledger.
//
// Design: every ledger mutation (Reserve, Settle, the orphan sweep) runs
// under one mutex, ledgerMu, and commits its rows to Badger in a single
// transaction before it returns; only then is the in-memory row cache
// updated. One process owns the Badger directory (its lock), so the mutex
// alone makes check-and-reserve atomic: no two reservations can both see
// the same headroom, and Badger never sees a conflicting ledger write. The
// price is one serialized commit per Reserve and per Settle (an fsync each
// with SyncWrites), which is fine for a single gateway node; a multi-node
// store needs a shared implementation (e.g. Redis scripts).
//
// Layout:
//
//	l/<escaped scope>/<period>/<period start, unix seconds> → JSON ledgerRow
//	r/<reservation id>                                        → JSON storedReservation
//
// <period> is daily, weekly, monthly or "none" (lifetime, start 0). The
// period is part of the key because a daily and a monthly period can start
// at the same second. A reservation charges the rows of its allowance's
// BudgetPeriod and QuotaPeriod (one row when they are equal); each row
// holds both money and tokens, so SpendOf reports both for any period a
// scope is tracked in.
const (
	prefixLedger      = "l/"
	prefixReservation = "r/"

	// MaxLedgerAmount bounds a reservation's or settlement's cost (micro-USD)
	// and tokens, so sums cannot overflow int64.
	MaxLedgerAmount = 1 << 50
	// MaxReservationIDLen is the longest Reservation.ID, in bytes.
	MaxReservationIDLen = 256

	ledgerCacheMax = 4096 // cached rows before the cache is dropped (it is write-through)
	orphanChunk    = 256  // reservations released per transaction at open
)

// rowRef names one ledger row.
type rowRef struct {
	Scope  string `json:"scope"`
	Period string `json:"period"`
	Start  int64  `json:"start"` // unix seconds of the period start; 0 for PeriodNone
}

func newRowRef(scope, period string, at time.Time) rowRef {
	r := rowRef{Scope: scope, Period: period}
	if period != PeriodNone {
		r.Start = PeriodStart(period, at).Unix()
	}
	return r
}

func (r rowRef) key() []byte {
	p := r.Period
	if p == PeriodNone {
		p = "none"
	}
	return []byte(prefixLedger + url.PathEscape(r.Scope) + "/" + p + "/" + strconv.FormatInt(r.Start, 10))
}

// ledgerRow is a scope's consumption in one period.
type ledgerRow struct {
	rowRef
	SpentMicros    int64 `json:"spent_micros"`
	ReservedMicros int64 `json:"reserved_micros"`
	Tokens         int64 `json:"tokens"`
	ReservedTokens int64 `json:"reserved_tokens"`
}

// storedReservation is an open reservation as kept at r/<id>: everything
// Settle and the orphan sweep need without the allowances.
type storedReservation struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	CostMicros int64     `json:"cost_micros"`
	Tokens     int64     `json:"tokens"`
	Rows       []rowRef  `json:"rows"`
}

func reservationKey(id string) []byte { return []byte(prefixReservation + id) }

// loadRow returns the row from the cache, else from txn, else a zero row.
// ledgerMu must be held.
func (s *BadgerStore) loadRow(txn *badger.Txn, ref rowRef) (ledgerRow, error) {
	if r, ok := s.ledgerRows[ref]; ok {
		return *r, nil
	}
	row := ledgerRow{rowRef: ref}
	item, err := txn.Get(ref.key())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return row, nil
	}
	if err != nil {
		return row, err
	}
	if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &row) }); err != nil {
		return row, fmt.Errorf("keystore: decoding ledger row %s: %w", ref.key(), err)
	}
	row.rowRef = ref
	return row, nil
}

func putRow(txn *badger.Txn, row *ledgerRow) error {
	v, err := json.Marshal(row)
	if err != nil {
		return err
	}
	return txn.Set(row.key(), v)
}

// installRows puts committed rows into the cache. ledgerMu must be held.
func (s *BadgerStore) installRows(rows []ledgerRow) {
	if len(s.ledgerRows)+len(rows) > ledgerCacheMax {
		// Write-through cache: Badger has everything, so dropping it all
		// is always safe and keeps old periods from piling up.
		clear(s.ledgerRows)
	}
	for i := range rows {
		r := rows[i]
		s.ledgerRows[r.rowRef] = &r
	}
}

func validateReservation(r *Reservation) error {
	if r.ID == "" || len(r.ID) > MaxReservationIDLen || !utf8.ValidString(r.ID) {
		return fmt.Errorf("%w: reservation id must be 1 to %d bytes of UTF-8", ErrInvalid, MaxReservationIDLen)
	}
	if r.CostMicros < 0 || r.CostMicros > MaxLedgerAmount || r.Tokens < 0 || r.Tokens > MaxLedgerAmount {
		return fmt.Errorf("%w: reservation amounts must be from 0 to %d", ErrInvalid, int64(MaxLedgerAmount))
	}
	for _, a := range r.Allowances {
		if a.Scope == "" {
			return fmt.Errorf("%w: allowance without scope", ErrInvalid)
		}
		if a.BudgetMicros < 0 || a.TokenQuota < 0 {
			return fmt.Errorf("%w: negative allowance for %s", ErrInvalid, a.Scope)
		}
		if !ValidPeriod(a.BudgetPeriod) || !ValidPeriod(a.QuotaPeriod) {
			return fmt.Errorf("%w: bad period in allowance for %s", ErrInvalid, a.Scope)
		}
	}
	return nil
}

func periodLabel(p string) string {
	if p == PeriodNone {
		return "lifetime"
	}
	return p
}

// Reserve holds back r.CostMicros and r.Tokens against every allowance at
// once, or against none. For each allowance with a budget it requires
// spent + reserved + r.CostMicros ≤ BudgetMicros in the BudgetPeriod that
// holds r.At (a zero At means now), and the same with tokens for a quota;
// the first failing allowance is returned as ErrBudgetExceeded or
// ErrQuotaExceeded naming its scope. An allowance without budget or quota
// still tracks spend (in its periods, lifetime when ""). The periods are
// fixed here: settling after a period rolled over charges the admission
// period. The reservation and the row changes are committed to Badger
// before Reserve returns; an id already open is ErrInvalid.
func (s *BadgerStore) Reserve(ctx context.Context, r Reservation) error {
	if err := validateReservation(&r); err != nil {
		return err
	}
	if r.At.IsZero() {
		r.At = s.timeNow()
	}
	r.At = r.At.UTC().Round(0)
	var refs []rowRef
	seen := make(map[rowRef]bool)
	for _, a := range r.Allowances {
		for _, p := range []string{a.BudgetPeriod, a.QuotaPeriod} {
			ref := newRowRef(a.Scope, p, r.At)
			if !seen[ref] {
				seen[ref] = true
				refs = append(refs, ref)
			}
		}
	}
	sr := storedReservation{ID: r.ID, At: r.At, CostMicros: r.CostMicros, Tokens: r.Tokens, Rows: refs}
	srv, err := json.Marshal(&sr)
	if err != nil {
		return err
	}

	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	if _, dup := s.reservations[r.ID]; dup {
		return fmt.Errorf("%w: reservation %q is already open", ErrInvalid, r.ID)
	}
	var rows []ledgerRow
	err = s.update(ctx, func(txn *badger.Txn) error {
		rows = rows[:0]
		byRef := make(map[rowRef]int, len(refs))
		for _, ref := range refs {
			row, err := s.loadRow(txn, ref)
			if err != nil {
				return err
			}
			byRef[ref] = len(rows)
			rows = append(rows, row)
		}
		for _, a := range r.Allowances {
			if a.BudgetMicros > 0 {
				row := rows[byRef[newRowRef(a.Scope, a.BudgetPeriod, r.At)]]
				if row.SpentMicros+row.ReservedMicros+r.CostMicros > a.BudgetMicros {
					return fmt.Errorf("%w for %s: %s budget %d micro-USD, spent %d, reserved %d, request needs up to %d",
						ErrBudgetExceeded, a.Scope, periodLabel(a.BudgetPeriod), a.BudgetMicros,
						row.SpentMicros, row.ReservedMicros, r.CostMicros)
				}
			}
			if a.TokenQuota > 0 {
				row := rows[byRef[newRowRef(a.Scope, a.QuotaPeriod, r.At)]]
				if row.Tokens+row.ReservedTokens+r.Tokens > a.TokenQuota {
					return fmt.Errorf("%w for %s: %s quota %d tokens, used %d, reserved %d, request needs up to %d",
						ErrQuotaExceeded, a.Scope, periodLabel(a.QuotaPeriod), a.TokenQuota,
						row.Tokens, row.ReservedTokens, r.Tokens)
				}
			}
		}
		if _, err := txn.Get(reservationKey(r.ID)); err == nil {
			return fmt.Errorf("%w: reservation %q is already open", ErrInvalid, r.ID)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		for i := range rows {
			rows[i].ReservedMicros += r.CostMicros
			rows[i].ReservedTokens += r.Tokens
			if err := putRow(txn, &rows[i]); err != nil {
				return err
			}
		}
		return txn.Set(reservationKey(r.ID), srv)
	})
	if err != nil {
		return err
	}
	s.installRows(rows)
	s.reservations[r.ID] = &sr
	return nil
}

// Settle replaces reservation id by the actual cost and tokens in every
// row it was held in (the periods of its admission), deletes it, and
// commits before returning. Actual amounts below the reservation refund the
// difference; above it the whole actual amount is charged (a request is
// never free because its estimate was low). Negative amounts count as 0.
// An unknown (or already settled) id is a no-op. If the commit fails the
// reservation stays open and Settle may be retried; after a restart it is
// released as an orphan.
func (s *BadgerStore) Settle(ctx context.Context, id string, costMicros, tokens int64) error {
	costMicros = min(max(costMicros, 0), MaxLedgerAmount)
	tokens = min(max(tokens, 0), MaxLedgerAmount)
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	sr := s.reservations[id]
	if sr == nil {
		return nil
	}
	var rows []ledgerRow
	err := s.update(ctx, func(txn *badger.Txn) error {
		rows = rows[:0]
		for _, ref := range sr.Rows {
			row, err := s.loadRow(txn, ref)
			if err != nil {
				return err
			}
			row.ReservedMicros = max(row.ReservedMicros-sr.CostMicros, 0)
			row.ReservedTokens = max(row.ReservedTokens-sr.Tokens, 0)
			row.SpentMicros += costMicros
			row.Tokens += tokens
			if err := putRow(txn, &row); err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return txn.Delete(reservationKey(id))
	})
	if err != nil {
		return err
	}
	s.installRows(rows)
	delete(s.reservations, id)
	return nil
}

// SpendOf reports scope's consumption in the period of the given kind that
// holds at (PeriodNone: lifetime, PeriodStart zero). A scope is tracked in
// the periods its allowances named when reservations were made; any other
// period reads as zero.
func (s *BadgerStore) SpendOf(ctx context.Context, scope, period string, at time.Time) (Spend, error) {
	if scope == "" {
		return Spend{}, fmt.Errorf("%w: empty scope", ErrInvalid)
	}
	if !ValidPeriod(period) {
		return Spend{}, fmt.Errorf("%w: unknown period %q", ErrInvalid, period)
	}
	ref := newRowRef(scope, period, at)
	s.ledgerMu.Lock()
	defer s.ledgerMu.Unlock()
	var row ledgerRow
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		row, err = s.loadRow(txn, ref)
		return err
	})
	if err != nil {
		return Spend{}, err
	}
	return Spend{
		Scope:          scope,
		PeriodStart:    PeriodStart(period, at),
		SpentMicros:    row.SpentMicros,
		ReservedMicros: row.ReservedMicros,
		Tokens:         row.Tokens,
		ReservedTokens: row.ReservedTokens,
	}, nil
}

// OrphansReleased returns how many open reservations OpenBadger found and
// released. One process owns the store, so any reservation open at start
// belongs to a process that stopped before settling it (a crash or kill):
// its held amounts are subtracted from the rows and its record deleted,
// and an AuditOrphansReleased entry records the count. The requests' actual
// spend is unknown and not charged.
func (s *BadgerStore) OrphansReleased() int { return s.orphans }

// releaseOrphans runs once in OpenBadger, before the store is shared.
func (s *BadgerStore) releaseOrphans() (int, error) {
	type orphan struct {
		key []byte
		sr  *storedReservation // nil when undecodable
	}
	var all []orphan
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixReservation)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			o := orphan{key: it.Item().KeyCopy(nil)}
			var sr storedReservation
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &sr) }); err != nil {
				s.log.Warn("keystore: dropping undecodable reservation", zap.ByteString("key", o.key), zap.Error(err))
			} else {
				o.sr = &sr
			}
			all = append(all, o)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	for start := 0; start < len(all); start += orphanChunk {
		chunk := all[start:min(start+orphanChunk, len(all))]
		err := s.update(ctx, func(txn *badger.Txn) error {
			rows := make(map[rowRef]*ledgerRow)
			for _, o := range chunk {
				if o.sr != nil {
					for _, ref := range o.sr.Rows {
						row := rows[ref]
						if row == nil {
							r, err := s.loadRow(txn, ref)
							if err != nil {
								return err
							}
							row = &r
							rows[ref] = row
						}
						row.ReservedMicros = max(row.ReservedMicros-o.sr.CostMicros, 0)
						row.ReservedTokens = max(row.ReservedTokens-o.sr.Tokens, 0)
					}
				}
				if err := txn.Delete(o.key); err != nil {
					return err
				}
			}
			for _, row := range rows {
				if err := putRow(txn, row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return start, fmt.Errorf("keystore: releasing orphaned reservations: %w", err)
		}
	}
	if len(all) > 0 {
		s.log.Warn("keystore: released reservations left open by a previous run", zap.Int("count", len(all)))
		_, err := s.Audit(ctx, AuditEntry{Action: AuditOrphansReleased, Details: map[string]string{"count": strconv.Itoa(len(all))}})
		if err != nil {
			return len(all), err
		}
	}
	return len(all), nil
}
