package caddyfile_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// adapt runs a Caddyfile through the caddyfile adapter, as `caddy adapt`
// and `caddy run --config Caddyfile` do.
func adapt(t *testing.T, caddyfileText string) ([]byte, []caddyconfig.Warning, error) {
	t.Helper()
	return caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfileText), map[string]any{"filename": "Caddyfile"})
}

// TestCaddyfileErrors checks that each malformed Caddyfile fails to adapt
// with a message that says what is wrong and points at the right line.
func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error, the first one with the message
		line int      // the error must name Caddyfile:<line>
	}{
		// The ai_gateway global option.
		{
			name: "argument after the global option name",
			in: `{
	ai_gateway extra {
		store badger
	}
}`,
			want: []string{"wrong argument count or unexpected line ending after 'extra'"},
			line: 2,
		},
		{
			name: "max_key_age without a duration",
			in: `{
	ai_gateway {
		max_key_age
	}
}`,
			want: []string{"max_key_age <duration> [grace <duration>]"},
			line: 3,
		},
		{
			name: "max_key_age not a duration",
			in: `{
	ai_gateway {
		max_key_age ninety
	}
}`,
			want: []string{`max_key_age "ninety": want a positive duration`},
			line: 3,
		},
		{
			name: "max_key_age grace not shorter than the age",
			in: `{
	ai_gateway {
		max_key_age 30d grace 30d
	}
}`,
			want: []string{`max_key_age grace "30d": want a positive duration shorter than the age`},
			line: 3,
		},
		{
			name: "max_key_age with a stray word",
			in: `{
	ai_gateway {
		max_key_age 30d warn 3d
	}
}`,
			want: []string{"max_key_age <duration> [grace <duration>]"},
			line: 3,
		},
		{
			name: "unknown global option",
			in: `{
	ai_gateway {
		provider openai openai
		providers openai
	}
}`,
			want: []string{`unknown ai_gateway option "providers"`},
			line: 4,
		},

		// provider
		{
			name: "unknown provider type lists the known types",
			in: `{
	ai_gateway {
		provider wx watsonx {
			api_key {env.WATSONX_API_KEY}
		}
	}
}`,
			want: []string{`unknown provider type "watsonx"`, "(known: ", "anthropic, azure, bedrock, cohere, deepseek, fireworks, gemini, groq, lmstudio, mistral, mock, ollama, openai, openai_compatible, openrouter, perplexity, together, vllm, xai)"},
			line: 3,
		},
		{
			name: "provider without a name or type",
			in: `{
	ai_gateway {
		provider
	}
}`,
			want: []string{"provider: expected a name and a type"},
			line: 3,
		},
		{
			name: "provider without a type",
			in: `{
	ai_gateway {
		provider openai
		model gpt-4o openai
	}
}`,
			want: []string{"provider openai: expected a type after the name"},
			line: 3,
		},
		{
			name: "provider without a type but with a block",
			in: `{
	ai_gateway {
		provider openai {
			api_key x
		}
	}
}`,
			want: []string{"provider openai: expected a type after the name"},
			line: 3,
		},
		{
			name: "provider defined twice",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai
		provider openai openai_compatible {
			base_url http://localhost:8000/v1
		}
	}
}`,
			want: []string{`provider "openai" is defined twice`},
			line: 5,
		},
		{
			name: "provider defined twice across merged blocks",
			in: `{
	ai_gateway {
		provider openai openai
	}
	ai_gateway {
		provider openai openai
	}
}`,
			want: []string{`provider "openai" is defined twice`},
			line: 6,
		},
		{
			name: "argument after the provider type",
			in: `{
	ai_gateway {
		provider openai openai https://api.openai.com/v1
	}
}`,
			want: []string{"wrong argument count or unexpected line ending after 'https://api.openai.com/v1'"},
			line: 3,
		},
		{
			name: "unknown provider option",
			in: `{
	ai_gateway {
		provider openai openai {
			api_key {env.OPENAI_API_KEY}
			organization org-123
		}
	}
}`,
			want: []string{`unknown provider option "organization"`},
			line: 5,
		},
		{
			name: "image_fetch unknown option",
			in: `{
	ai_gateway {
		image_fetch {
			fetch_everything
		}
	}
}`,
			want: []string{`unknown image_fetch option "fetch_everything"`},
			line: 4,
		},
		{
			name: "image_fetch bad size",
			in: `{
	ai_gateway {
		image_fetch {
			max_size huge
		}
	}
}`,
			want: []string{`max_size "huge": not a size`},
			line: 4,
		},
		{
			name: "openai_compatible without base_url",
			in: `{
	ai_gateway {
		provider local openai_compatible {
			api_key {env.LOCAL_KEY}
		}
	}
}`,
			want: []string{"openai_compatible: base_url is required"},
			line: 3,
		},
		{
			name: "base_url without a value",
			in: `{
	ai_gateway {
		provider local openai_compatible {
			base_url
		}
	}
}`,
			want: []string{"wrong argument count or unexpected line ending after 'base_url'"},
			line: 4,
		},
		{
			name: "api_key with two values",
			in: `{
	ai_gateway {
		provider openai openai {
			api_key sk-one sk-two
		}
	}
}`,
			want: []string{"wrong argument count or unexpected line ending after 'sk-one'"},
			line: 4,
		},
		{
			name: "header with one argument",
			in: `{
	ai_gateway {
		provider openai openai {
			header OpenAI-Organization
		}
	}
}`,
			want: []string{"wrong argument count or unexpected line ending after 'OpenAI-Organization'"},
			line: 4,
		},
		{
			name: "bad timeout",
			in: `{
	ai_gateway {
		provider openai openai {
			timeout soon
		}
	}
}`,
			want: []string{`timeout "soon"`, "invalid duration"},
			line: 4,
		},
		{
			name: "timeout 0",
			in: `{
	ai_gateway {
		provider openai openai {
			timeout 0
		}
	}
}`,
			want: []string{"timeout must be positive, got 0"},
			line: 4,
		},
		{
			name: "negative timeout",
			in: `{
	ai_gateway {
		provider openai openai {
			timeout -5s
		}
	}
}`,
			want: []string{"timeout must be positive, got -5s"},
			line: 4,
		},
		{
			name: "mock_without_key is gone and says what replaced it",
			in: `{
	ai_gateway {
		provider openai openai {
			mock_without_key
		}
	}
}`,
			want: []string{"mock_without_key was removed", "use the provider type mock"},
			line: 4,
		},
		{
			name: "the mock provider takes no base_url",
			in: `{
	ai_gateway {
		provider try mock {
			base_url http://localhost:1/v1
		}
	}
}`,
			want: []string{"base_url and api_key are not options of the mock provider"},
			line: 3,
		},

		// model
		{
			name: "model naming an undefined provider names the model's line",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai
		model llama ollama llama3.1:8b
	}
}`,
			want: []string{`model llama names provider "ollama", which is not defined (defined: openai)`},
			line: 5,
		},
		{
			name: "model naming a provider when none is defined",
			in: `{
	ai_gateway {
		store badger

		model gpt-4o openai
	}
}`,
			want: []string{`model gpt-4o names provider "openai", which is not defined (defined: none)`},
			line: 5,
		},
		{
			name: "model defined twice",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai
		model gpt-4o-mini openai
		model gpt-4o openai gpt-4o-2024-08-06
	}
}`,
			want: []string{"model gpt-4o is defined twice"},
			line: 6,
		},
		{
			name: "model defined twice across merged blocks",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai
	}
	ai_gateway {
		model gpt-4o openai
	}
}`,
			want: []string{"model gpt-4o is defined twice"},
			line: 7,
		},
		{
			name: "model with one argument",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o
	}
}`,
			want: []string{"model: expected <public-name> <provider-name> [<upstream-model-name>]"},
			line: 4,
		},
		{
			name: "model with four arguments",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai gpt-4o-2024-08-06 extra
	}
}`,
			want: []string{"model: expected <public-name> <provider-name> [<upstream-model-name>]"},
			line: 4,
		},
		{
			name: "model block with an unknown option",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai {
			upstream gpt-4o-2024-08-06
		}
	}
}`,
			want: []string{`unknown model option "upstream"`},
			line: 5,
		},
		{
			name: "model price not a number",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai {
			input_price cheap
		}
	}
}`,
			want: []string{`input_price "cheap": want USD per million tokens`},
			line: 5,
		},
		{
			name: "model price negative",
			in: `{
	ai_gateway {
		provider openai openai
		model gpt-4o openai {
			output_price -1
		}
	}
}`,
			want: []string{`output_price "-1": want USD per million tokens`},
			line: 5,
		},

		// store
		{
			name: "store with an unknown type",
			in: `{
	ai_gateway {
		store redis localhost:6379
	}
}`,
			want: []string{`store: unknown store type "redis" (supported: badger)`},
			line: 3,
		},
		{
			name: "store without a type",
			in: `{
	ai_gateway {
		store
	}
}`,
			want: []string{"store: expected `store badger [<dir>]`"},
			line: 3,
		},
		{
			name: "store with too many arguments",
			in: `{
	ai_gateway {
		store badger /var/lib/a /var/lib/b
	}
}`,
			want: []string{"store: expected `store badger [<dir>]`"},
			line: 3,
		},
		{
			name: "unknown store option",
			in: `{
	ai_gateway {
		store badger /var/lib/caddy/ai_gateway {
			sync_writes
			fsync
		}
	}
}`,
			want: []string{`unknown store option "fsync"`},
			line: 5,
		},
		{
			name: "sync_writes with an argument",
			in: `{
	ai_gateway {
		store badger {
			sync_writes true
		}
	}
}`,
			want: []string{"wrong argument count or unexpected line ending after 'true'"},
			line: 4,
		},
		{
			name: "key_cache not a number",
			in: `{
	ai_gateway {
		store badger {
			key_cache lots
		}
	}
}`,
			want: []string{`key_cache: expected a positive number of keys or off, got "lots"`},
			line: 4,
		},
		{
			name: "key_cache zero",
			in: `{
	ai_gateway {
		store badger {
			key_cache 0
		}
	}
}`,
			want: []string{`key_cache: expected a positive number of keys or off, got "0"`},
			line: 4,
		},
		{
			name: "key_cache without a size",
			in: `{
	ai_gateway {
		store badger {
			key_cache
		}
	}
}`,
			want: []string{"wrong argument count"},
			line: 4,
		},

		// The ai_gateway and ai_auth directives.
		{
			name: "argument after the ai_gateway directive",
			in: `:8080 {
	ai_gateway openai
}`,
			want: []string{"wrong argument count or unexpected line ending after 'openai'"},
			line: 2,
		},
		{
			name: "argument after the ai_auth directive",
			in: `:8080 {
	ai_auth required
	reverse_proxy localhost:8000
}`,
			want: []string{"wrong argument count or unexpected line ending after 'required'"},
			line: 2,
		},
		{
			name: "argument after a matcher on the ai_gateway directive",
			in: `:8080 {
	ai_gateway /v1/* openai
}`,
			want: []string{"wrong argument count or unexpected line ending after 'openai'"},
			line: 2,
		},
		{
			name: "unknown ai_gateway directive option",
			in: `:8080 {
	ai_gateway {
		max_request_body 8MB
		provider openai
	}
}`,
			want: []string{`unknown ai_gateway option "provider"`},
			line: 4,
		},
		{
			name: "unknown ai_auth directive option",
			in: `:8080 {
	ai_auth {
		models gpt-4o
	}
	reverse_proxy localhost:8000
}`,
			want: []string{`unknown ai_auth option "models"`},
			line: 3,
		},
		{
			name: "ai_gateway max_request_body with a bad size",
			in: `:8080 {
	ai_gateway {
		max_request_body lots
	}
}`,
			want: []string{`invalid size "lots"`},
			line: 3,
		},
		{
			name: "ai_gateway max_request_body 0",
			in: `:8080 {
	ai_gateway {
		max_request_body 0
	}
}`,
			want: []string{`invalid size "0"`},
			line: 3,
		},
		{
			name: "ai_auth max_request_body with a bad size",
			in: `:8080 {
	ai_auth {
		max_request_body 1XB
	}
	reverse_proxy localhost:8000
}`,
			want: []string{`invalid size "1XB"`},
			line: 3,
		},
		{
			name: "ai_auth max_request_body without a value",
			in: `:8080 {
	ai_auth {
		max_request_body
	}
	reverse_proxy localhost:8000
}`,
			want: []string{"wrong argument count or unexpected line ending after 'max_request_body'"},
			line: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := adapt(t, tt.in+"\n")
			if err == nil {
				t.Fatalf("adapting succeeded; want an error containing %q", tt.want)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
			if !mentionsLine(msg, tt.line) {
				t.Errorf("error %q\ndoes not name Caddyfile:%d", msg, tt.line)
			}
		})
	}
}

// mentionsLine reports whether msg names Caddyfile:<line> and no other line
// of it (so Caddyfile:3 does not match Caddyfile:30).
func mentionsLine(msg string, line int) bool {
	const file = "Caddyfile:"
	found := false
	for rest := msg; ; {
		i := strings.Index(rest, file)
		if i < 0 {
			return found
		}
		rest = rest[i+len(file):]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 0 {
			continue
		}
		if rest[:j] != strconv.Itoa(line) {
			return false
		}
		found = true
	}
}

// TestModelErrorInSnippet checks that a model error found after the block
// is read still names the model's line and the import that brought it in.
func TestModelErrorInSnippet(t *testing.T) {
	in := `(gateway) {
	ai_gateway {
		provider openai openai
		model llama ollama
	}
}

{
	import gateway
}
`
	_, _, err := adapt(t, in)
	if err == nil {
		t.Fatal("adapting succeeded; want an error")
	}
	want := `model llama names provider "ollama", which is not defined (defined: openai), at Caddyfile:4 import chain ['Caddyfile:9 (import gateway)']`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not contain %q", err, want)
	}
}
