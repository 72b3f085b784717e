// Package caddyfile registers the gateway's Caddyfile syntax: the
// `ai_gateway` global option (store, providers, models) and the `ai_gateway`
// and `ai_auth` site directives, which need no `order` or `route`.
package caddyfile

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/governor"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("ai_gateway", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("ai_gateway", parseGatewayDirective)
	httpcaddyfile.RegisterHandlerDirective("ai_auth", parseAuthDirective)
	// ai_auth authenticates, so it goes where the other auth handlers go:
	// before anything that serves the request.
	httpcaddyfile.RegisterDirectiveOrder("ai_auth", httpcaddyfile.Before, "basic_auth")
	// ai_gateway answers requests itself, like reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("ai_gateway", httpcaddyfile.Before, "reverse_proxy")
}

func parseGatewayDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler aigateway.Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

func parseAuthDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler aigateway.AuthHandler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// parseGlobalOption parses the ai_gateway global option. Syntax:
//
//	ai_gateway {
//		store badger [<dir>] {
//			sync_writes
//			key_cache <keys>|off
//		}
//		provider <name> <type> {
//			<provider options>
//		}
//		model <public-name> <provider-name> [<upstream-model-name>] {
//			input_price        <USD per 1M tokens>   # all optional: they override
//			output_price       <USD per 1M tokens>   # the built-in price table
//			cached_input_price <USD per 1M tokens>
//			cache_write_price  <USD per 1M tokens>
//		}
//		max_inflight_body <size>|off   # default 256MiB: request bodies held at once
//		max_key_age <duration> [grace <duration>]  # e.g. 90d: keys expire that old; grace default age/10, at most 7d
//		image_fetch {
//			max_size <size>            # default 20MiB
//			timeout  <duration>        # default 10s
//			allow_private_networks     # off: also RFC 1918, 100.64/10, fc00::/7; never loopback
//		}
//	}
//
// The option may appear more than once; the blocks are merged.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(aigateway.App)
	if existing != nil {
		prev, ok := existing.(httpcaddyfile.App)
		if !ok {
			return nil, d.Errf("unexpected existing ai_gateway value %T", existing)
		}
		if err := json.Unmarshal(prev.Value, app); err != nil {
			return nil, d.Errf("merging ai_gateway blocks: %v", err)
		}
	}
	if app.ProvidersRaw == nil {
		app.ProvidersRaw = make(map[string]json.RawMessage)
	}
	type modelLine struct {
		model aigateway.Model
		tok   caddyfile.Token // a token of the model's line, for errors
	}
	var models []modelLine

	d.Next() // the option name
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "store":
			store, err := parseStore(d)
			if err != nil {
				return nil, err
			}
			app.Store = store
		case "provider":
			var name string
			if !d.NextArg() {
				return nil, d.Err("provider: expected a name and a type")
			}
			name = d.Val()
			if !d.NextArg() {
				return nil, d.Errf("provider %s: expected a type after the name", name)
			}
			typ := d.Val()
			if _, dup := app.ProvidersRaw[name]; dup {
				return nil, d.Errf("provider %q is defined twice", name)
			}
			raw, err := parseProvider(d, typ)
			if err != nil {
				return nil, err
			}
			app.ProvidersRaw[name] = raw
		case "model":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return nil, d.Err("model: expected <public-name> <provider-name> [<upstream-model-name>]")
			}
			m := aigateway.Model{Name: args[0], Provider: args[1]}
			if len(args) == 3 {
				m.UpstreamModel = args[2]
			}
			tok := d.Token() // errors about the model name this line
			for d.NextBlock(1) {
				if err := parseModelOption(d, &m); err != nil {
					return nil, err
				}
			}
			models = append(models, modelLine{model: m, tok: tok})
		case "max_inflight_body":
			var v string
			if !d.AllArgs(&v) {
				return nil, d.ArgErr()
			}
			if v == "off" {
				app.MaxInflightBody = -1
				break
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > 1<<62 {
				return nil, d.Errf("max_inflight_body %q: not a size (or off)", v)
			}
			app.MaxInflightBody = int64(n)
		case "max_key_age":
			args := d.RemainingArgs()
			if len(args) != 1 && (len(args) != 3 || args[1] != "grace") {
				return nil, d.Err("max_key_age <duration> [grace <duration>]")
			}
			age, err := keystore.ParseDuration(args[0])
			if err != nil || age <= 0 {
				return nil, d.Errf("max_key_age %q: want a positive duration such as 90d or 2160h", args[0])
			}
			app.MaxKeyAge = keystore.Duration(age)
			if len(args) == 3 {
				grace, err := keystore.ParseDuration(args[2])
				if err != nil || grace <= 0 || grace >= age {
					return nil, d.Errf("max_key_age grace %q: want a positive duration shorter than the age", args[2])
				}
				app.MaxKeyAgeGrace = keystore.Duration(grace)
			}
		case "image_fetch":
			fetch, err := parseImageFetch(d)
			if err != nil {
				return nil, err
			}
			app.ImageFetch = fetch
		default:
			return nil, d.Errf("unknown ai_gateway option %q", d.Val())
		}
	}

	// Models may name providers defined further down, so they are checked
	// once the block is read, each error naming the model's own line.
	seen := make(map[string]bool, len(app.Models)+len(models))
	for _, m := range app.Models {
		seen[m.Name] = true
	}
	for _, ml := range models {
		if _, ok := app.ProvidersRaw[ml.model.Provider]; !ok {
			return nil, errAt(ml.tok, "model %s names provider %q, which is not defined (defined: %s)",
				ml.model.Name, ml.model.Provider, definedProviders(app.ProvidersRaw))
		}
		if seen[ml.model.Name] {
			return nil, errAt(ml.tok, "model %s is defined twice", ml.model.Name)
		}
		seen[ml.model.Name] = true
		app.Models = append(app.Models, ml.model)
	}
	if len(app.ProvidersRaw) == 0 {
		app.ProvidersRaw = nil
	}
	return httpcaddyfile.App{Name: aigateway.AppName, Value: caddyconfig.JSON(app, nil)}, nil
}

// errAt returns a parse error located at tok, in the format of the
// dispenser's own errors ("<msg>, at <file>:<line>", plus the import chain
// when the token came from an import), for errors found after the
// dispenser has moved on.
func errAt(tok caddyfile.Token, format string, args ...any) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{tok})
	d.Next()
	return d.Errf(format, args...)
}

// parseStore parses `store badger [<dir>] { sync_writes; key_cache <n>|off }`.
func parseStore(d *caddyfile.Dispenser) (*aigateway.StoreConfig, error) {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return nil, d.Err("store: expected `store badger [<dir>]`")
	}
	if args[0] != "badger" {
		return nil, d.Errf("store: unknown store type %q (supported: badger)", args[0])
	}
	sc := &aigateway.StoreConfig{Type: "badger"}
	if len(args) == 2 {
		sc.Dir = args[1]
	}
	for d.NextBlock(1) {
		switch d.Val() {
		case "sync_writes":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			sc.SyncWrites = true
		case "key_cache":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			if d.Val() == "off" {
				sc.KeyCache = -1
			} else {
				n, err := strconv.Atoi(d.Val())
				if err != nil || n <= 0 {
					return nil, d.Errf("key_cache: expected a positive number of keys or off, got %q", d.Val())
				}
				sc.KeyCache = n
			}
			if d.NextArg() {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unknown store option %q", d.Val())
		}
	}
	return sc, nil
}

// parseProvider hands the provider's block to the provider module's own
// Caddyfile parser, so a third-party provider brings its own syntax.
func parseProvider(d *caddyfile.Dispenser, typ string) (json.RawMessage, error) {
	id := providers.Namespace + "." + typ
	if _, err := caddy.GetModule(id); err != nil {
		return nil, d.Errf("unknown provider type %q (known: %s)", typ, strings.Join(knownProviderTypes(), ", "))
	}
	unm, err := caddyfile.UnmarshalModule(d, id)
	if err != nil {
		return nil, err
	}
	var warnings []caddyconfig.Warning
	raw := caddyconfig.JSONModuleObject(unm, "type", typ, &warnings)
	if len(warnings) > 0 {
		return nil, d.Errf("provider %s: %s", typ, warnings[0].Message)
	}
	return raw, nil
}

func knownProviderTypes() []string {
	var types []string
	for _, m := range caddy.GetModules(providers.Namespace) {
		types = append(types, m.ID.Name())
	}
	sort.Strings(types)
	return types
}

func definedProviders(m map[string]json.RawMessage) string {
	if len(m) == 0 {
		return "none"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseImageFetch parses the image_fetch block.
func parseImageFetch(d *caddyfile.Dispenser) (*aigateway.ImageFetch, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	f := new(aigateway.ImageFetch)
	for d.NextBlock(1) {
		switch d.Val() {
		case "max_size":
			var s string
			if !d.AllArgs(&s) {
				return nil, d.ArgErr()
			}
			n, err := humanize.ParseBytes(s)
			if err != nil || n == 0 {
				return nil, d.Errf("max_size %q: not a size", s)
			}
			f.MaxSize = int64(n)
		case "timeout":
			var s string
			if !d.AllArgs(&s) {
				return nil, d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return nil, d.Errf("timeout %q: not a positive duration", s)
			}
			f.Timeout = caddy.Duration(dur)
		case "allow_private_networks":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			f.AllowPrivateNetworks = true
		default:
			return nil, d.Errf("unknown image_fetch option %q", d.Val())
		}
	}
	return f, nil
}

// parseModelOption parses one line of a model's block: a price in USD per
// million tokens.
func parseModelOption(d *caddyfile.Dispenser, m *aigateway.Model) error {
	if m.Price == nil {
		m.Price = new(governor.Price)
	}
	name := d.Val()
	var field *float64
	switch name {
	case "input_price":
		field = &m.Price.InputPerM
	case "output_price":
		field = &m.Price.OutputPerM
	case "cached_input_price":
		field = &m.Price.CachedInputPerM
	case "cache_write_price":
		field = &m.Price.CacheWritePerM
	default:
		return d.Errf("unknown model option %q", name)
	}
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	usd, err := strconv.ParseFloat(s, 64)
	if err != nil || usd < 0 || math.IsInf(usd, 0) || math.IsNaN(usd) {
		return d.Errf("%s %q: want USD per million tokens, a number >= 0", name, s)
	}
	*field = usd
	return nil
}
