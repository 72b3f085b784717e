package caddyfile_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// validate adapts a Caddyfile and runs caddy.Validate on the JSON, as
// `caddy validate` does: every module is provisioned, nothing is started.
func validate(t *testing.T, caddyfileText string) error {
	t.Helper()
	out, warnings, err := adapt(t, caddyfileText)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapter warning: %s:%d: %s: %s", w.File, w.Line, w.Directive, w.Message)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("decoding the adapted JSON: %v", err)
	}
	return caddy.Validate(&cfg)
}

// isolateDataDir points Caddy's data and config directories at a fresh
// directory, so validation cannot touch the real ones, and returns it.
func isolateDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	return dir
}

// assertNotCreated fails if validation created path: provisioning must not
// open the key store (a running server holds its lock).
func assertNotCreated(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("validation created %s (stat: %v); it must not open the key store", p, err)
		}
	}
}

// TestValidate checks provisioning errors, which adapting cannot catch, and
// that validation never opens the key store.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // "" for a valid config
	}{
		{
			name: "valid",
			in: `{
	ai_gateway {
		store badger {STORE_DIR} {
			sync_writes
		}
		provider openai openai {
			api_key {env.OPENAI_API_KEY}
			header OpenAI-Organization org-123
			timeout 90s
		}
		provider ollama openai_compatible {
			base_url http://localhost:11434/v1
		}
		model gpt-4o openai
		model llama ollama llama3.1:8b
	}
}

:8080 {
	ai_gateway
}

:8081 {
	ai_auth
	reverse_proxy localhost:8000
}
`,
		},
		{
			name: "default store dir",
			in: `{
	ai_gateway {
		provider openai openai {
			api_key sk-test-literal
		}
		model gpt-4o openai
	}
}

:8080 {
	ai_gateway
}
`,
		},
		{
			name: "base_url without a scheme",
			in: `{
	ai_gateway {
		store badger {STORE_DIR}
		provider local openai_compatible {
			base_url localhost:11434/v1
		}
		model llama local
	}
}

:8080 {
	ai_gateway
}
`,
			wantErr: `base_url "localhost:11434/v1": must start with http:// or https://`,
		},
	}
	t.Setenv("OPENAI_API_KEY", "sk-test-from-env")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := isolateDataDir(t)
			storeDir := filepath.Join(tmp, "store")
			in := strings.ReplaceAll(tt.in, "{STORE_DIR}", storeDir)
			err := validate(t, in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validation failed: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("validation succeeded; want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q\ndoes not contain %q", err, tt.wantErr)
			}
			assertNotCreated(t, storeDir, filepath.Join(tmp, "data", "caddy", "ai_gateway"))
		})
	}
}

// TestEveryProviderTypeProvisions validates the golden config that holds a
// provider of every type: each module must provision from what the
// Caddyfile produced (placeholders expanded from the environment).
func TestEveryProviderTypeProvisions(t *testing.T) {
	isolateDataDir(t)
	for _, v := range []string{"OPENAI_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY",
		"GEMINI_API_KEY", "COHERE_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(v, "test-"+strings.ToLower(v))
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "adapt", "every_provider_type.caddytest"))
	if err != nil {
		t.Fatal(err)
	}
	caddyfileText, _, _ := strings.Cut(string(raw), separator)
	caddyfileText = strings.TrimRight(caddyfileText, "\n") + "\n"
	if err := validate(t, caddyfileText); err != nil {
		t.Fatalf("a provider type does not provision from its Caddyfile block: %v", err)
	}
	// Without the AWS credentials, Bedrock must refuse to start.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	if err := validate(t, caddyfileText); err == nil || !strings.Contains(err.Error(), "bedrock") {
		t.Fatalf("bedrock without credentials: %v", err)
	}
}

// TestValidateProviderKeys checks that a provider whose api_key is missing
// or expands to nothing stops the config from loading, with one line that
// names the provider and the variable, unless its type needs no key.
func TestValidateProviderKeys(t *testing.T) {
	t.Setenv("AIGW_TEST_SET_KEY", "sk-test-set")
	t.Setenv("AIGW_TEST_EMPTY_KEY", "")
	const unset, empty, set = "api_key {env.AIGW_TEST_SURELY_UNSET}", "api_key {env.AIGW_TEST_EMPTY_KEY}", "api_key {env.AIGW_TEST_SET_KEY}"
	tests := []struct {
		name, typ, option string // the provider is named p
		wantErr           string // "" for a config that loads
	}{
		{"openai, variable unset", "openai", unset,
			`provider "p": api_key {env.AIGW_TEST_SURELY_UNSET} is empty; set the environment variable AIGW_TEST_SURELY_UNSET; to try the gateway without a key, use the provider type mock`},
		{"openai, variable empty", "openai", empty,
			`provider "p": api_key {env.AIGW_TEST_EMPTY_KEY} is empty; set the environment variable AIGW_TEST_EMPTY_KEY`},
		{"anthropic, no api_key", "anthropic", "",
			`provider "p": the anthropic provider needs an api_key, e.g. api_key {env.ANTHROPIC_API_KEY}`},
		{"groq preset, variable unset", "groq", unset, `provider "p": api_key {env.AIGW_TEST_SURELY_UNSET} is empty`},
		{"azure, no api_key", "azure", "base_url https://r.openai.azure.com", `provider "p": the azure provider needs an api_key`},
		{"openai, variable set", "openai", set, ""},
		{"openai_compatible without a key", "openai_compatible", "base_url http://localhost:8000/v1", ""},
		{"ollama without a key", "ollama", "", ""},
		{"vllm with an empty key", "vllm", empty, ""},
		{"lmstudio without a key", "lmstudio", "", ""},
		{"mock", "mock", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateDataDir(t)
			block := "provider p " + tt.typ
			if tt.option != "" {
				block += " {\n\t\t\t" + tt.option + "\n\t\t}"
			}
			err := validate(t, "{\n\tai_gateway {\n\t\t"+block+"\n\t\tmodel m p\n\t}\n}\n")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validation failed: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("validation succeeded; want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && (!strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n")):
				t.Errorf("error %q\ndoes not contain %q on one line", err, tt.wantErr)
			}
		})
	}
}
