// Command caddy is Caddy with its standard modules and the AI gateway
// plugin built in: `go build -o caddy ./cmd/caddy && ./caddy run --config
// examples/quickstart/Caddyfile`.
// It also links the mock provider (provider type mock, canned answers
// without a key or network) that the quickstart uses; a Caddy built with
// xcaddy from the module root has no mock.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ai-gateway/caddy-ai-gateway"
	// For trials only: the quickstart's provider.
	_ "github.com/caddy-ai-gateway/caddy-ai-gateway/providers/mock"
)

func main() { caddycmd.Main() }
