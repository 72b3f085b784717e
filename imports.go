// Package caddyaigateway brings in every module of the AI gateway, so that
// `xcaddy build --with github.com/caddy-ai-gateway/caddy-ai-gateway` builds a
// Caddy with all of it.
package caddyaigateway

import (
	// The app, handlers and admin API.
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway"
	// The `caddy ai-gateway` command.
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/aigateway/cli"
	// The Caddyfile syntax.
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/caddyfile"
	// Providers.
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/anthropic"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/bedrock"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/cohere"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/gemini"
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/openai"
)
