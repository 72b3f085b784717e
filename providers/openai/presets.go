package openai

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/providers"
)

// preset describes an OpenAI-compatible host: where it is and what it
// rejects. The facts are from each host's API reference (see
// shared/docs/providers.md §4).
type preset struct {
	baseURL string
	quirks  Quirks
	// translate: the host rejects fields OpenAI accepts, so requests are
	// always translated (and filtered) rather than passed through.
	translate bool
	// keyless: a local server, which usually wants no api_key.
	keyless bool
}

var presets = map[string]preset{
	"groq": {baseURL: "https://api.groq.com/openai/v1", translate: true, quirks: Quirks{
		MaxTokensField: "max_tokens", NoName: true, NoN: true,
		DropFields: []string{"logprobs", "top_logprobs", "logit_bias"},
	}},
	"mistral": {baseURL: "https://api.mistral.ai/v1", translate: true, quirks: Quirks{
		MaxTokensField: "max_tokens", NoName: true, DropExtra: true, NoN: true,
		SeedField: "random_seed", RequiredToolChoice: "any", ToolCallIDs: mistralToolCallID,
	}},
	"deepseek":   {baseURL: "https://api.deepseek.com/v1", quirks: Quirks{MaxTokensField: "max_tokens"}},
	"together":   {baseURL: "https://api.together.xyz/v1", quirks: Quirks{MaxTokensField: "max_tokens"}},
	"openrouter": {baseURL: "https://openrouter.ai/api/v1"},
	"fireworks":  {baseURL: "https://api.fireworks.ai/inference/v1", quirks: Quirks{MaxTokensField: "max_tokens"}},
	"xai":        {baseURL: "https://api.x.ai/v1"},
	"perplexity": {baseURL: "https://api.perplexity.ai", quirks: Quirks{MaxTokensField: "max_tokens"}},
	"ollama":     {keyless: true, baseURL: "http://localhost:11434/v1", quirks: Quirks{MaxTokensField: "max_tokens"}},
	"vllm":       {keyless: true, baseURL: "http://localhost:8000/v1", quirks: Quirks{MaxTokensField: "max_tokens"}},
	"lmstudio":   {keyless: true, baseURL: "http://localhost:1234/v1", quirks: Quirks{MaxTokensField: "max_tokens"}},
}

func init() {
	for name := range presets {
		caddy.RegisterModule(Preset{name: name})
	}
	caddy.RegisterModule(Azure{})
}

// Preset is an OpenAI-compatible host known by name: groq, mistral,
// deepseek, together, openrouter, fireworks, xai, perplexity, ollama, vllm,
// lmstudio. The name is the provider type (`provider fast groq`); it fills
// in the base URL (base_url overrides it) and the host's quirks.
type Preset struct {
	Config
	name string
}

// CaddyModule returns the Caddy module information.
func (p Preset) CaddyModule() caddy.ModuleInfo {
	name := p.name
	return caddy.ModuleInfo{
		ID:  caddy.ModuleID(providers.Namespace + "." + name),
		New: func() caddy.Module { return &Preset{name: name} },
	}
}

// Provision applies the preset, then the configuration.
func (p *Preset) Provision(ctx caddy.Context) error {
	ps := presets[p.name]
	p.quirks = ps.quirks
	p.noPassthrough = ps.translate
	return p.provision(ctx, ps.baseURL)
}

// KeyOptional reports whether the host may be reached without an api_key:
// true for the local servers (ollama, vllm, lmstudio).
func (p *Preset) KeyOptional() bool { return presets[p.name].keyless }

// mistralToolCallID rewrites a tool-call id into the 9 alphanumeric
// characters Mistral accepts, deterministically, so a call and its result
// still match.
func mistralToolCallID(id string) string {
	if len(id) == 9 && isAlnum(id) {
		return id
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	sum := sha256.Sum256([]byte(id))
	out := make([]byte, 9)
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(out)
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// DefaultAzureAPIVersion is the api-version used with deployment URLs when
// the configuration names none.
const DefaultAzureAPIVersion = "2024-10-21"

// Azure is Azure OpenAI. Without api_version it uses the v1 API
// ({base_url}/openai/v1/..., the model in the body is the deployment name);
// with api_version it uses deployment URLs
// ({base_url}/openai/deployments/{model}/...?api-version=...). The key is
// sent in the api-key header. base_url is the resource endpoint, e.g.
// https://my-resource.openai.azure.com.
type Azure struct {
	Config
	// APIVersion selects the deployment-URL API and its version.
	APIVersion string `json:"api_version,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Azure) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "ai_gateway.providers.azure",
		New: func() caddy.Module { return new(Azure) },
	}
}

// Provision builds the URLs and the api-key header.
func (a *Azure) Provision(ctx caddy.Context) error {
	if a.BaseURL == "" {
		return errBaseURLRequired("azure")
	}
	a.quirks.MaxTokensField = "max_completion_tokens"
	if err := a.provision(ctx, ""); err != nil {
		return err
	}
	base := strings.TrimSuffix(strings.TrimSuffix(a.URL, "/openai/v1"), "/openai")
	version := caddy.NewReplacer().ReplaceKnown(a.APIVersion, "")
	if version == "" {
		a.endpoint = func(path, _ string) string { return base + "/openai/v1" + path }
	} else {
		q := "?api-version=" + url.QueryEscape(version)
		a.endpoint = func(path, model string) string {
			return base + "/openai/deployments/" + url.PathEscape(model) + path + q
		}
	}
	a.auth = func(h http.Header) {
		if a.Key != "" {
			h.Set("Api-Key", a.Key)
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up Azure OpenAI. Syntax:
//
//	provider <name> azure {
//		base_url    https://<resource>.openai.azure.com
//		api_key     <value>
//		api_version <version>   # deployment URLs; omit for the v1 API
//		header      <name> <value>
//		timeout     <duration>
//	}
func (a *Azure) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return a.UnmarshalBlock(d, func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "api_version" {
			return false, nil
		}
		if !d.AllArgs(&a.APIVersion) {
			return true, d.ArgErr()
		}
		return true, nil
	})
}

// Interface guards.
var (
	_ providers.Provider    = (*Preset)(nil)
	_ providers.Passthrough = (*Preset)(nil)
	_ providers.Provider    = (*Azure)(nil)
	_ providers.Embedder    = (*Azure)(nil)
	_ caddy.Provisioner     = (*Preset)(nil)
	_ caddy.Provisioner     = (*Azure)(nil)
	_ caddyfile.Unmarshaler = (*Preset)(nil)
	_ caddyfile.Unmarshaler = (*Azure)(nil)
)
