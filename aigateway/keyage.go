package aigateway

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// EventKeyMaxAge is the Caddy event emitted when the maximum key age gives
// a key its expiry, a grace ahead of it. Its data: key_id, name, team_id,
// expires_at (RFC 3339), max_key_age and source ("gateway" or "team").
const EventKeyMaxAge = "ai_gateway_key_max_age"

// keyAgeInterval is how often the maximum key age is applied while the
// app runs. A sweep lists every key, so not every minute; the grace is
// normally days, so ten minutes' delay is nothing.
const keyAgeInterval = 10 * time.Minute

// keyAgeFirst is when the first sweep runs after Start. Not in Start
// itself: Caddy starts apps one after another in no fixed order, and the
// events app binds its subscribers in its own Start, so an event emitted
// from ours could reach no one.
const keyAgeFirst = 2 * time.Second

// ageEnforcer is the part of a store that applies a maximum key age (the
// Badger store has it).
type ageEnforcer interface {
	EnforceMaxKeyAge(ctx context.Context, p keystore.KeyAgePolicy, now time.Time) ([]keystore.AgedKey, error)
}

// keyAgeSweeper applies the maximum key age at start and then every
// keyAgeInterval, until stopped. It works on the key records only, so the
// request path reads nothing more: a key past its expiry is refused by
// the usual expiry check.
type keyAgeSweeper struct {
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	ctx    context.Context // cancelled by stop, so Stop does not wait on a long sweep
	cancel context.CancelFunc
}

// startKeyAge starts the sweeps: the first soon after start, so a limit
// new in this config applies at once, then every keyAgeInterval.
func (a *App) startKeyAge(store keystore.Store) {
	e, ok := store.(ageEnforcer)
	if !ok {
		return
	}
	s := &keyAgeSweeper{stop: make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	a.keyAge = s
	go func() {
		defer close(s.done)
		first := time.NewTimer(keyAgeFirst)
		defer first.Stop()
		select {
		case <-s.stop:
			return
		case <-first.C:
			a.sweepKeyAge(s.ctx, e)
		}
		t := time.NewTicker(keyAgeInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				a.sweepKeyAge(s.ctx, e)
			}
		}
	}()
}

// stopKeyAge stops the timer and waits for a sweep under way.
func (a *App) stopKeyAge() {
	if s := a.keyAge; s != nil {
		s.once.Do(func() {
			s.cancel()
			close(s.stop)
		})
		<-s.done
	}
}

// sweepKeyAge applies the policy once, logging and announcing each key
// it gave an expiry (the store wrote the audit entry with the change).
func (a *App) sweepKeyAge(ctx context.Context, e ageEnforcer) {
	ctx, cancel := context.WithTimeout(ctx, keyAgeInterval)
	defer cancel()
	p := keystore.KeyAgePolicy{MaxAge: time.Duration(a.MaxKeyAge), Grace: time.Duration(a.MaxKeyAgeGrace)}
	changed, err := e.EnforceMaxKeyAge(ctx, p, time.Now())
	if err != nil && ctx.Err() == nil {
		a.logger.Error("applying max_key_age", zap.Error(err))
	}
	for _, k := range changed {
		exp := k.ExpiresAt.UTC().Format(time.RFC3339)
		age := keystore.Duration(k.MaxAge).String()
		a.logger.Warn("key reaches its maximum age: it expires at the time given; rotate it",
			zap.String("key_id", k.ID), zap.String("name", k.Name), zap.String("team_id", k.Team),
			zap.String("expires_at", exp), zap.String("max_key_age", age), zap.String("source", k.Source))
		if a.events != nil {
			a.events.Emit(a.ctx, EventKeyMaxAge, map[string]any{
				"key_id": k.ID, "name": k.Name, "team_id": k.Team,
				"expires_at": exp, "max_key_age": age, "source": k.Source,
			})
		}
	}
}
