package aigateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers/anthropic"
)

// keyHeaders are the headers a client key may arrive in, besides
// "Authorization: Bearer": Anthropic's, Azure's and Google's conventions, so
// that each provider's SDK works unchanged against the gateway.
var keyHeaders = [...]string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// presentedKey returns the client key from the request headers, or "".
func presentedKey(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
		return ""
	}
	for _, name := range keyHeaders {
		if v := h.Get(name); v != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// stripKeyHeaders removes every header that may carry a client key, so the
// key is never forwarded upstream.
func stripKeyHeaders(h http.Header) {
	h.Del("Authorization")
	for _, name := range keyHeaders {
		h.Del(name)
	}
}

// authenticateRequest is the first step of both handlers: it checks the
// request's key, from the headers alone, and removes every key header from
// the request. It returns the store it checked the key against, for the
// steps after it. On failure it has written the error, in dialect d, and
// returns false.
func (a *App) authenticateRequest(w http.ResponseWriter, r *http.Request, d providers.Inbound) (keystore.Key, keystore.Store, bool) {
	if !a.waitStarted(r.Context()) {
		// Caddy may open the listeners before this app starts; a request
		// then waits, and gets this only if the start failed or took
		// longer than startWait.
		e := errStoreUnavailable()
		e.RetryAfter = 1
		closeIfBodyUnread(w, r)
		writeError(w, d, e)
		return keystore.Key{}, nil, false
	}
	if queryHoldsKey(r) {
		a.authFailed(r, keystore.Key{})
		closeIfBodyUnread(w, r)
		writeError(w, d, errInvalidKey("API keys in the query string are not accepted, as URLs end up in logs: send the key in the "+keyHeaderOf(d)+" header"))
		return keystore.Key{}, nil, false
	}
	store, err := a.keyStore()
	if err != nil {
		a.logger.Error("key store unavailable", zap.Error(err))
		closeIfBodyUnread(w, r)
		writeError(w, d, errStoreUnavailable())
		return keystore.Key{}, nil, false
	}
	key, aerr := authenticate(r.Context(), store, r.Header, d)
	if aerr != nil {
		a.authFailed(r, key)
		closeIfBodyUnread(w, r)
		writeError(w, d, aerr)
		return keystore.Key{}, nil, false
	}
	stripKeyHeaders(r.Header)
	if u, ok := store.(keystore.LastUsed); ok {
		// In memory only; written once a minute by the store.
		addr, _ := netip.ParseAddr(remoteIP(r))
		u.NoteUse(key.ID, addr, time.Now())
	}
	return key, store, true
}

// keyHeaderOf names the header a client of dialect d sends its key in, as
// that dialect's SDKs do.
func keyHeaderOf(d providers.Inbound) string {
	if _, ok := d.(anthropic.Inbound); ok {
		return "'x-api-key: <key>'"
	}
	return "'Authorization: Bearer <key>'"
}

// queryKeyNames are query parameters that carry API keys elsewhere (Google's
// ?key=, Kong's ?apikey=, ...), compared without case, '-' and '_'.
var queryKeyNames = [...]string{"key", "apikey", "xapikey", "apitoken", "accesstoken", "token", "auth", "authorization"}

// queryHoldsKey reports whether the query string has a parameter that
// carries an API key. Such a request is refused even with a good key in
// the headers: the key in the URL is in access logs already, and ai_auth
// would hand it on to the backend.
func queryHoldsKey(r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return false
	}
	for name, vals := range r.URL.Query() {
		if !slices.ContainsFunc(vals, func(v string) bool { return strings.TrimSpace(v) != "" }) {
			continue
		}
		norm := strings.Map(func(c rune) rune {
			if c == '-' || c == '_' {
				return -1
			}
			return unicode.ToLower(c)
		}, name)
		if slices.Contains(queryKeyNames[:], norm) {
			return true
		}
	}
	return false
}

// spaceChecker is a store that can tell it is out of disk space.
type spaceChecker interface{ CheckSpace() error }

// refuseIfFull answers 507 when the store cannot take writes, before a
// request that would be metered runs: a usage record that cannot be
// written would make the spend invisible and budgets unenforceable.
// Authentication itself needs no writes and goes on.
func (a *App) refuseIfFull(w http.ResponseWriter, d providers.Inbound, store keystore.Store) bool {
	if sc, ok := store.(spaceChecker); ok && sc.CheckSpace() != nil {
		writeError(w, d, errStoreFull())
		return true
	}
	return false
}

// closeIfBodyUnread makes the connection close after an answer written
// before the request body was read. Otherwise net/http (HTTP/1.x) first
// reads up to 256 KiB of the unread body, to keep the connection for the
// next request, and a client that sends its body slowly holds the answer
// back for as long as it likes. The rest of the body is then bounded by the
// server's read_body timeout.
func closeIfBodyUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		w.Header().Set("Connection", "close")
	}
}

// failuresPerMinute is how many failed authentications one address may
// make in a minute before the audit trail records it.
const failuresPerMinute = 10

var repeatedFailuresAudited sync.Map // store dir|address -> time of the last audit entry

// authFailed records a failed authentication: the metric and event, an
// audit entry when a revoked or expired key was used, and one when an
// address keeps failing.
func (a *App) authFailed(r *http.Request, key keystore.Key) {
	remote := remoteIP(r)
	a.rejected(r.Context(), "invalid_api_key", "", "")
	if key.ID != "" { // a real key, revoked or expired
		a.audit(r.Context(), keystore.AuditEntry{Action: "auth." + key.StatusAt(time.Now()) + "_key", Target: key.ID, Remote: remote})
	}
	if d := limiter.Allow("authfail:"+remote, failuresPerMinute, 1); !d.Allowed {
		now := time.Now()
		seenKey := a.storeKey + "|" + remote // once a minute per address, in each store's trail
		if last, ok := repeatedFailuresAudited.Load(seenKey); !ok || now.Sub(last.(time.Time)) > time.Minute {
			repeatedFailuresAudited.Store(seenKey, now)
			a.audit(r.Context(), keystore.AuditEntry{Action: "auth.repeated_failures", Remote: remote,
				Details: map[string]string{"threshold": strconv.Itoa(failuresPerMinute) + "/min"}})
		}
	}
}

// remoteIP is the client's address as Caddy resolved it (trusted proxies
// considered), else the connection's.
func remoteIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate checks the request's key against the store and returns the
// key record (also for a revoked or expired key, so that its use can be
// audited). The returned error is always a client-facing *providers.Error
// whose message never echoes the presented key; for a missing key it names
// the header of dialect d.
func authenticate(ctx context.Context, store keystore.Store, h http.Header, d providers.Inbound) (keystore.Key, *providers.Error) {
	presented := presentedKey(h)
	if presented == "" {
		return keystore.Key{}, errInvalidKey("missing API key: send it as " + keyHeaderOf(d))
	}
	key, err := store.Authenticate(ctx, presented, time.Now())
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, keystore.ErrRevoked):
		return key, errInvalidKey("this API key has been revoked")
	case errors.Is(err, keystore.ErrExpired):
		return key, errInvalidKey("this API key has expired")
	case errors.Is(err, keystore.ErrMalformedKey), errors.Is(err, keystore.ErrBadChecksum):
		return keystore.Key{}, errInvalidKey("invalid API key: not a key issued by this gateway (check for a typo)")
	case errors.Is(err, keystore.ErrNotFound):
		return keystore.Key{}, errInvalidKey("invalid API key")
	default:
		return keystore.Key{}, errStoreUnavailable()
	}
}
