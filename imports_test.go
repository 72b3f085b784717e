package caddyaigateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPluginLinksNoTrialCode lists what `xcaddy build --with
// github.com/caddy-ai-gateway/caddy-ai-gateway` links (the module root's
// dependencies) and fails on anything under cmd/ or the mock provider:
// a production build must not be able to answer canned text.
func TestPluginLinksNoTrialCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/caddy-ai-gateway/caddy-ai-gateway"
	ours := 0
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		ours++
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		if strings.HasPrefix(rel, "cmd/") || rel == "providers/mock" || strings.HasPrefix(rel, "providers/mock/") {
			t.Errorf("the plugin links %s, which is for trials and tests only", pkg)
		}
	}
	if ours < 5 {
		t.Fatalf("go list -deps named %d packages of this module; the listing is not what this test expects:\n%s", ours, out)
	}
}
