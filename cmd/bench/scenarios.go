package main

import (
	"fmt"
	"net/http"
)

// Target names, as they appear in tables, JSON and the verdicts.
const (
	TDirect      = "direct"       // the mock itself
	TCaddy       = "caddy"        // plain Caddy reverse_proxy → mock
	TGateway     = "gateway"      // ai_gateway, OpenAI passthrough (key auth, metering)
	TAIAuth      = "ai_auth"      // ai_auth + reverse_proxy → mock
	TPortkey     = "portkey"      // Portkey OSS gateway → mock
	TTranslation = "gateway-xlat" // ai_gateway, OpenAI in → Anthropic out
)

// Scenario names.
const (
	SJSON   = "json"      // non-streaming OpenAI chat
	SXlat   = "translate" // OpenAI in → Anthropic out, non-streaming
	SStream = "stream"    // streaming OpenAI chat (SSE)
)

// Target is one thing to load.
type Target struct {
	Name string
	Desc string
	Req  Request
	// ProfileURL is the serving process's CPU profile endpoint (Caddy's
	// admin /debug/pprof/profile), empty when it has none.
	ProfileURL string
}

// Scenario is a set of targets measured alternately.
type Scenario struct {
	Name    string
	Title   string
	Targets []Target
}

const (
	chatBody   = `{"model":"%s","messages":[{"role":"user","content":"Say hello in one short sentence."}]}`
	streamBody = `{"model":"%s","stream":true,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`
)

func header(auth string, extra ...string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer "+auth)
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// Scenarios builds the scenarios for env e; Portkey targets only when it runs.
func Scenarios(e *Env, portkey bool) []Scenario {
	url := func(port int) string { return fmt.Sprintf("http://127.0.0.1:%d/v1/chat/completions", port) }
	pkHeader := header("dummy", "x-portkey-provider", "openai",
		"x-portkey-custom-host", fmt.Sprintf("http://127.0.0.1:%d/v1", e.MockPort))
	mk := func(stream bool, model string) []byte {
		if stream {
			return []byte(fmt.Sprintf(streamBody, model))
		}
		return []byte(fmt.Sprintf(chatBody, model))
	}
	profile := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile", e.AdminPort)
	targets := func(stream bool, names ...string) []Target {
		var ts []Target
		for _, n := range names {
			t := Target{Name: n, Req: Request{Stream: stream, Body: mk(stream, passthroughModel), Want: `"choices"`}}
			switch n {
			case TDirect:
				t.Desc, t.Req.URL, t.Req.Header = "mock upstream, no proxy", url(e.MockPort), header("dummy")
			case TCaddy:
				t.Desc, t.Req.URL, t.Req.Header = "plain Caddy reverse_proxy → mock", url(e.CaddyPort), header("dummy")
			case TGateway:
				t.Desc, t.Req.URL, t.Req.Header = "ai_gateway OpenAI passthrough (key auth, metering)", url(e.GatewayPort), header(e.GatewayKey)
				t.ProfileURL = profile
			case TAIAuth:
				t.Desc, t.Req.URL, t.Req.Header = "ai_auth + reverse_proxy → mock", url(e.AuthPort), header(e.GatewayKey)
				t.ProfileURL = profile
			case TPortkey:
				if !portkey {
					continue
				}
				t.Desc, t.Req.URL, t.Req.Header = "Portkey OSS gateway → mock", url(e.PortkeyPort), pkHeader
			case TTranslation:
				t.Desc, t.Req.URL, t.Req.Header = "ai_gateway OpenAI in → anthropic provider → mock /v1/messages", url(e.GatewayPort), header(e.GatewayKey)
				t.Req.Body = mk(stream, translateModel)
				t.ProfileURL = profile
			}
			ts = append(ts, t)
		}
		return ts
	}
	return []Scenario{
		{Name: SJSON, Title: "Non-streaming OpenAI chat completion", Targets: targets(false, TDirect, TCaddy, TGateway, TAIAuth, TPortkey)},
		{Name: SXlat, Title: "OpenAI in → Anthropic out translation (non-streaming; Caddy passthrough as baseline)", Targets: targets(false, TCaddy, TTranslation)},
		{Name: SStream, Title: "Streaming OpenAI chat completion (SSE)", Targets: targets(true, TDirect, TCaddy, TGateway, TPortkey)},
	}
}
