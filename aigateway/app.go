// Package aigateway is the Caddy side of the AI gateway: the "ai_gateway"
// app (the key store and the model registry), the "ai_gateway" and "ai_auth"
// HTTP handlers, and the admin API routes under /ai_gateway/.
package aigateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"go.uber.org/zap"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/wirejson"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	caddy.RegisterModule(App{})
}

// AppName is the app's module ID and its key in the config's "apps".
const AppName = "ai_gateway"

// App is the "ai_gateway" Caddy app. It owns the key store (one Badger
// handle per directory, shared across config reloads) and the registry of
// providers and public model names. Handlers and the admin API reach it.
type App struct {
	// Store configures where keys and usage are kept.
	Store *StoreConfig `json:"store,omitempty"`
	// ProvidersRaw are the upstream providers by instance name. Each is a
	// module in the "ai_gateway.providers" namespace, named by its "type".
	ProvidersRaw map[string]json.RawMessage `json:"providers,omitempty" caddy:"namespace=ai_gateway.providers inline_key=type"`
	// Models maps the public model names clients ask for to a provider and
	// the model name the provider knows.
	Models []Model `json:"models,omitempty"`
	// ImageFetch configures fetching image URLs for providers that only
	// take image bytes.
	ImageFetch *ImageFetch `json:"image_fetch,omitempty"`
	// MaxInflightBody bounds the memory that request bodies in flight may
	// hold, in bytes, across every ai_gateway handler of the config. A
	// request weighs its body's size times the copies its path makes
	// (translation decodes and re-encodes it); one that would go over the
	// bound while others are in flight is answered 503 with Retry-After.
	// Default 256 MiB; -1 for no bound.
	MaxInflightBody int64 `json:"max_inflight_body,omitempty"`
	// MaxKeyAge makes every key expire that long after its creation
	// ("90d", "2160h"); a team's max_key_age applies too, the stricter
	// one winning. A key gets its expiry, an audit entry and an event
	// MaxKeyAgeGrace ahead of it. Zero: no gateway-wide limit.
	MaxKeyAge keystore.Duration `json:"max_key_age,omitempty"`
	// MaxKeyAgeGrace is that warning time. Zero: a tenth of the age, at
	// most 7 days.
	MaxKeyAgeGrace keystore.Duration `json:"max_key_age_grace,omitempty"`

	providers map[string]providers.Provider
	// scrub removes every provider credential from upstream text before
	// it reaches a client or a log (nil: no credential to remove).
	scrub     *providers.Scrubber
	images    *imageFetcher
	prices    *governor.PriceTable
	events    *caddyevents.App
	ctx       caddy.Context
	models    map[string]route
	modelList []string
	logger    *zap.Logger

	inflight *inflightBudget
	gate     *startGate // opens when Start succeeded or the app ended without starting

	storeMu  *sync.Mutex // guards store and storeKey; a pointer so App copies cheaply in CaddyModule
	store    keystore.Store
	storeKey string   // the pool key this app holds a reference to, "" if none
	claims   []string // the port claims this app holds (instance.go); set by Start, released by Cleanup

	keyAge *keyAgeSweeper // applies MaxKeyAge; started by Start, stopped by Stop
}

// StoreConfig says where and how keys and usage records are stored.
type StoreConfig struct {
	// Type is the store implementation; only "badger" exists today.
	Type string `json:"type,omitempty"`
	// Dir is the Badger directory. Default: <caddy data dir>/ai_gateway.
	Dir string `json:"dir,omitempty"`
	// SyncWrites makes every commit fsync. Without it a process crash loses
	// nothing, but an OS crash or power cut can lose the latest commits.
	SyncWrites bool `json:"sync_writes,omitempty"`
	// KeyCache bounds how many keys are kept in memory for authentication
	// (about 290 bytes each). A key not cached costs one store read on its
	// next use. 0 means keystore.DefaultKeyCacheSize (100000); -1 turns the
	// cache off. Like sync_writes it applies when the store is opened,
	// not on a reload that finds it open.
	KeyCache int `json:"key_cache,omitempty"`
}

// Model publishes a provider's model under a public name.
type Model struct {
	// Name is the model name clients send.
	Name string `json:"name"`
	// Provider is the name of a provider instance in "providers".
	Provider string `json:"provider"`
	// UpstreamModel is the model name sent to the provider. Default: Name.
	UpstreamModel string `json:"upstream_model,omitempty"`
	// Price is this public model's price (USD per million tokens). It
	// belongs to the public name only: two models with the same upstream
	// model may be priced differently. Without it the built-in table's
	// price for the upstream model applies.
	Price *governor.Price `json:"price,omitempty"`
}

// route is where a public model name goes, and its configured price.
type route struct {
	providerName  string
	provider      providers.Provider
	upstreamModel string
	price         governor.Price
	priced        bool // price was configured
	// publicJSON is the public name as a JSON string, to put in answers in
	// place of the upstream's model; nil when the two names are the same
	// (the upstream's answer then passes as it is).
	publicJSON []byte
	// upstreamHeader is the value of UpstreamModelHeader, made once.
	upstreamHeader []string
}

// validPrice reports whether every field of p is finite and non-negative.
func validPrice(p governor.Price) bool {
	for _, v := range [...]float64{p.InputPerM, p.OutputPerM, p.CachedInputPerM, p.CacheWritePerM} {
		if !(v >= 0) || math.IsInf(v, 1) {
			return false
		}
	}
	return true
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  AppName,
		New: func() caddy.Module { return new(App) },
	}
}

// Provision loads the provider modules and builds the model registry. It
// does not open the store: `caddy validate` provisions too, and must not
// need the lock a running server holds.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.storeMu = new(sync.Mutex)
	a.gate = newStartGate()
	if a.Store == nil {
		a.Store = &StoreConfig{}
	}
	if a.Store.Type != "" && a.Store.Type != "badger" {
		return fmt.Errorf("store type %q: only \"badger\" is supported", a.Store.Type)
	}
	if a.Store.KeyCache < -1 {
		return fmt.Errorf("store key_cache %d: use a positive size, 0 for the default or -1 for none", a.Store.KeyCache)
	}
	if a.MaxInflightBody < -1 {
		return fmt.Errorf("max_inflight_body %d: use a size, 0 for the default or -1 for none", a.MaxInflightBody)
	}
	if a.MaxKeyAge > 0 && a.MaxKeyAgeGrace >= a.MaxKeyAge {
		return fmt.Errorf("max_key_age %s: its grace %s must be shorter", a.MaxKeyAge, a.MaxKeyAgeGrace)
	}
	a.inflight = newInflightBudget(a.MaxInflightBody)
	a.ctx = ctx
	a.images = newImageFetcher(a.ImageFetch)
	a.events = eventsApp(ctx)
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	startJanitor()
	if err := checkProviderKeys(a.ProvidersRaw); err != nil {
		return err
	}
	a.providers = make(map[string]providers.Provider, len(a.ProvidersRaw))
	if len(a.ProvidersRaw) > 0 {
		mods, err := ctx.LoadModule(a, "ProvidersRaw")
		if err != nil {
			return fmt.Errorf("loading providers: %v", err)
		}
		for name, mod := range mods.(map[string]any) {
			p, ok := mod.(providers.Provider)
			if !ok {
				return fmt.Errorf("provider %q: module %T is not a provider", name, mod)
			}
			a.providers[name] = p
		}
	}
	var secrets []string
	for _, p := range a.providers {
		if sh, ok := p.(providers.SecretHolder); ok {
			secrets = append(secrets, sh.Secrets()...)
		}
	}
	a.scrub = providers.NewScrubber(secrets)
	a.models = make(map[string]route, len(a.Models))
	for _, m := range a.Models {
		if m.Name == "" {
			return errors.New("a model needs a name")
		}
		if _, dup := a.models[m.Name]; dup {
			return fmt.Errorf("model %q is defined twice", m.Name)
		}
		p, ok := a.providers[m.Provider]
		if !ok {
			return fmt.Errorf("model %q: provider %q is not defined", m.Name, m.Provider)
		}
		up := m.UpstreamModel
		if up == "" {
			up = m.Name
		}
		r := route{providerName: m.Provider, provider: p, upstreamModel: up, upstreamHeader: []string{up}}
		if up != m.Name {
			r.publicJSON = wirejson.AppendString(nil, m.Name)
		}
		if m.Price != nil {
			if !validPrice(*m.Price) {
				return fmt.Errorf("model %q: prices must be finite and non-negative", m.Name)
			}
			r.price, r.priced = *m.Price, true
		}
		a.models[m.Name] = r
		a.modelList = append(a.modelList, m.Name)
	}
	a.prices = governor.DefaultPrices()
	sort.Strings(a.modelList)
	return nil
}

// checkProviderKeys refuses a provider whose api_key is missing or expands
// to an empty string, unless its type may go without one
// (providers.KeyOptional): a key left unset in the environment must stop
// the server at start, naming the provider and the variable, not show up
// later as the upstream's 401 on every request.
func checkProviderKeys(raw map[string]json.RawMessage) error {
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	repl := caddy.NewReplacer()
	for _, name := range names {
		var cfg struct {
			Type   string `json:"type"`
			APIKey string `json:"api_key"`
		}
		if json.Unmarshal(raw[name], &cfg) != nil {
			continue // loading the module says what is wrong
		}
		info, err := caddy.GetModule(providers.Namespace + "." + cfg.Type)
		if err != nil {
			continue // likewise
		}
		if ko, ok := info.New().(providers.KeyOptional); ok && ko.KeyOptional() {
			continue
		}
		if repl.ReplaceKnown(cfg.APIKey, "") != "" {
			continue
		}
		return missingKeyError(name, cfg.Type, cfg.APIKey)
	}
	return nil
}

// missingKeyError says which provider lacks its key and where the key was
// to come from. apiKey expanded to nothing, so it holds placeholders only,
// never a secret.
func missingKeyError(name, typ, apiKey string) error {
	const trial = "; to try the gateway without a key, use the provider type mock (in cmd/caddy only)"
	if apiKey == "" {
		return fmt.Errorf("provider %q: the %s provider needs an api_key, e.g. api_key {env.%s_API_KEY}%s",
			name, typ, strings.ToUpper(typ), trial)
	}
	var vars []string
	for rest := apiKey; ; {
		i := strings.Index(rest, "{env.")
		if i < 0 {
			break
		}
		rest = rest[i+len("{env."):]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			break
		}
		vars = append(vars, rest[:j])
		rest = rest[j+1:]
	}
	if len(vars) == 0 {
		return fmt.Errorf("provider %q: api_key %s is empty%s", name, apiKey, trial)
	}
	return fmt.Errorf("provider %q: api_key %s is empty; set the environment variable %s%s",
		name, apiKey, strings.Join(vars, ", "), trial)
}

// Start opens the store, so the admin API can reach it before any request
// arrives, and makes this app the one the admin API serves.
func (a *App) Start() error {
	// Before the store: a second process on our ports must not serve.
	if err := a.claimPorts(); err != nil {
		return err
	}
	store, err := a.keyStore()
	if err != nil {
		return err
	}
	current.Store(a)
	a.gate.open(true)
	a.auditConfig()
	a.startKeyAge(store)
	if keys, err := store.ListKeys(context.Background()); err == nil && len(keys) == 0 {
		a.logger.Info("no API keys yet; create the first one with `caddy ai-gateway keys create --name <name>` " +
			`or: curl -X POST localhost:2019/ai_gateway/keys -H 'Content-Type: application/json' -d '{"name":"me"}'`)
	}
	return nil
}

// Stop hands the admin API over: a new config's Start runs before the old
// config's Stop, so only clear the pointer if it is still ours.
func (a *App) Stop() error {
	current.CompareAndSwap(a, nil)
	a.stopKeyAge()
	return nil
}

// Cleanup releases the store reference this app acquired, if any. Usage
// records still queued are written when the last reference goes.
func (a *App) Cleanup() error {
	if a.storeMu == nil {
		return nil // never provisioned
	}
	a.gate.open(false) // wakes requests that waited for a Start that never came
	a.stopKeyAge()
	a.releasePorts()
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	if a.storeKey == "" {
		return nil
	}
	k := a.storeKey
	a.storeKey, a.store = "", nil
	_, err := storePool.Delete(k)
	return err
}

// startWait bounds how long a request that arrives while the app is
// starting waits for it. Caddy starts its apps in no fixed order, so the
// HTTP server (and the admin API, which is up even before provisioning) can
// take requests before Start has opened the store.
const startWait = 10 * time.Second

// startGate is one app's start: requests wait on it instead of failing in
// the moment between the listeners opening and Start.
type startGate struct {
	done chan struct{} // closed by open
	ok   atomic.Bool   // Start succeeded
	once sync.Once
}

// starting counts the apps provisioned but neither started nor cleaned up,
// so the admin API can tell "starting" (wait) from "not configured"
// (answer at once); changed is closed and replaced on every decrement.
var starting struct {
	sync.Mutex
	n       int
	changed chan struct{}
}

func newStartGate() *startGate {
	starting.Lock()
	starting.n++
	if starting.changed == nil {
		starting.changed = make(chan struct{})
	}
	starting.Unlock()
	return &startGate{done: make(chan struct{})}
}

// open ends the wait, once: ok says whether the app started.
func (g *startGate) open(ok bool) {
	g.once.Do(func() {
		g.ok.Store(ok)
		close(g.done)
		starting.Lock()
		starting.n--
		close(starting.changed)
		starting.changed = make(chan struct{})
		starting.Unlock()
	})
}

// waitStarted reports whether the app has started, waiting (bounded by
// startWait and ctx) if it is still starting. One atomic load once started.
func (a *App) waitStarted(ctx context.Context) bool {
	if a.gate.ok.Load() {
		return true
	}
	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case <-a.gate.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return a.gate.ok.Load()
}

// runningApp returns the running app. While an app is provisioned but not
// yet started it waits for it (bounded by startWait and ctx); it returns
// nil at once when no app is configured or starting, and nil with
// stillStarting set when the wait ran out.
func runningApp(ctx context.Context) (app *App, stillStarting bool) {
	var t *time.Timer
	for {
		// current is set before the gate opens, so an app seen done
		// under the lock is seen by this load.
		starting.Lock()
		app, n, changed := current.Load(), starting.n, starting.changed
		starting.Unlock()
		if app != nil || n == 0 {
			return app, false
		}
		if t == nil {
			t = time.NewTimer(startWait)
			defer t.Stop()
		}
		select {
		case <-changed:
		case <-t.C:
			return nil, true
		case <-ctx.Done():
			return nil, true
		}
	}
}

// current is the running app, for the admin API (which Caddy builds before
// the apps of a new config and must therefore look the app up per request).
var current atomic.Pointer[App]

// storePool shares one open store per directory across the configs that
// Caddy runs side by side during a reload: Badger locks its directory, so a
// second open would fail.
var storePool = caddy.NewUsagePool()

type pooledStore struct {
	keystore.Store
	syncWrites bool
	keyCache   int
}

// Destruct closes the store when its last user is gone.
func (p *pooledStore) Destruct() error { return p.Store.Close() }

// keyStore returns the store, opening it (or taking a reference to the open
// one) on first use.
func (a *App) keyStore() (keystore.Store, error) {
	a.storeMu.Lock()
	defer a.storeMu.Unlock()
	if a.store != nil {
		return a.store, nil
	}
	dir := a.Store.Dir
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "ai_gateway")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	syncWrites, keyCache := a.Store.SyncWrites, a.Store.KeyCache
	val, loaded, err := storePool.LoadOrNew(dir, func() (caddy.Destructor, error) {
		s, err := keystore.OpenBadger(dir, keystore.BadgerOptions{SyncWrites: syncWrites, KeyCacheSize: keyCache, Logger: a.logger})
		if err != nil {
			return nil, err
		}
		return &pooledStore{Store: s, syncWrites: syncWrites, keyCache: keyCache}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening the key store: %w", err)
	}
	ps := val.(*pooledStore)
	if loaded && ps.syncWrites != syncWrites {
		a.logger.Warn("store already open with another sync_writes setting; it applies after a restart",
			zap.String("dir", dir), zap.Bool("sync_writes_in_use", ps.syncWrites))
	}
	if loaded && ps.keyCache != keyCache {
		a.logger.Warn("store already open with another key_cache setting; it applies after a restart",
			zap.String("dir", dir), zap.Int("key_cache_in_use", ps.keyCache))
	}
	a.store, a.storeKey = ps.Store, dir
	a.logger.Info("key store ready", zap.String("dir", dir), zap.Bool("sync_writes", ps.syncWrites))
	return a.store, nil
}

// lookupModel resolves a public model name.
func (a *App) lookupModel(name string) (route, bool) {
	r, ok := a.models[name]
	return r, ok
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*pooledStore)(nil)
)

// auditConfig records a config load in the audit trail: which providers and
// models it serves, and a fingerprint of their configuration (a hash, so no
// credential written in the config reaches the trail).
func (a *App) auditConfig() {
	provNames := make([]string, 0, len(a.ProvidersRaw))
	for name := range a.ProvidersRaw {
		provNames = append(provNames, name)
	}
	sort.Strings(provNames)
	fingerprint, _ := json.Marshal(struct {
		Providers map[string]json.RawMessage
		Models    []Model
	}{a.ProvidersRaw, a.Models})
	sum := sha256.Sum256(fingerprint)
	a.audit(context.Background(), keystore.AuditEntry{Action: "config.load", Details: map[string]string{
		"providers":   truncateList(provNames),
		"models":      truncateList(a.modelList),
		"fingerprint": hex.EncodeToString(sum[:]),
	}})
}

// truncateList joins names, bounded to what an audit field holds.
func truncateList(names []string) string {
	s := strings.Join(names, ",")
	if len(s) > 1000 {
		s = strings.ToValidUTF8(s[:1000], "") + "..."
	}
	return s
}
