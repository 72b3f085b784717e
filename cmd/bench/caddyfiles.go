package main

import "fmt"

// Model names the gateway serves in the benchmark.
const (
	passthroughModel = "gpt-4o-mini"  // openai_compatible provider → mock, body passed through
	translateModel   = "claude-bench" // anthropic provider → mock's /v1/messages
	translateUpModel = "claude-3-5-haiku-latest"
)

// PlainCaddyfile is plain Caddy: one reverse_proxy to the mock, no plugin
// configuration, no admin endpoint, no access log.
func PlainCaddyfile(port, mockPort int) string {
	return fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:%d
}
`, port, mockPort)
}

// GatewayCaddyfile is the gateway: an ai_gateway site (OpenAI passthrough to
// the mock, and translation of one model to the mock's Anthropic dialect)
// and an ai_auth + reverse_proxy site, with the admin API on adminPort for
// key creation. Keys and usage live in a Badger store under storeDir.
func GatewayCaddyfile(gwPort, authPort, adminPort, mockPort int, storeDir string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%[3]d
	auto_https off
	persist_config off
	ai_gateway {
		store badger %[5]q
		provider mock openai_compatible {
			base_url http://127.0.0.1:%[4]d/v1
			api_key bench-upstream-key
		}
		provider mockanthropic anthropic {
			base_url http://127.0.0.1:%[4]d/v1
			api_key bench-upstream-key
		}
		model %[6]s mock
		model %[7]s mockanthropic %[8]s
	}
}

http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	ai_gateway
}

http://127.0.0.1:%[2]d {
	bind 127.0.0.1
	ai_auth
	reverse_proxy 127.0.0.1:%[4]d
}
`, gwPort, authPort, adminPort, mockPort, storeDir, passthroughModel, translateModel, translateUpModel)
}

// PortkeyPackageJSON pins Portkey's gateway and, through npm overrides,
// @hono/node-server (later versions break Portkey's streaming: "immutable"
// headers; see bench/README.md).
func PortkeyPackageJSON(portkeyVersion, honoVersion string) string {
	return fmt.Sprintf(`{
  "name": "bench-portkey",
  "private": true,
  "dependencies": { "@portkey-ai/gateway": %q },
  "overrides": { "@hono/node-server": %q }
}
`, portkeyVersion, honoVersion)
}
