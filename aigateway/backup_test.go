package aigateway_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/keystore"
)

// TestBackupAndRestore takes an online backup over the admin API with the
// CLI while the gateway serves, restores it offline into a new directory
// with the CLI, and opens the restored store: keys, teams, spend and the
// audit chain are all there.
func TestBackupAndRestore(t *testing.T) {
	e := newEnv(t)
	var team struct{ ID string }
	e.admin("POST", "/ai_gateway/teams", map[string]any{"name": "backed-up"}, 201, &team)
	k := e.createKey(map[string]any{"name": "backed-up", "team": team.ID})
	if code, _, _ := e.do("POST", "/v1/chat/completions", k.Key, chatBody("gpt-test", false)); code != 200 {
		t.Fatal("request failed")
	}
	e.usageOf("key_id="+k.ID, func(r usageReport) bool { return r.requests() >= 1 })

	file := filepath.Join(t.TempDir(), "gateway.backup")
	if out := cli(t, "backup", "--output", file); !strings.Contains(out, "bytes") && !strings.Contains(out, file) {
		t.Fatalf("backup output: %s", out)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if out := cli(t, "restore", "--from", file, "--dir", dir); !strings.Contains(out, "Restored") {
		t.Fatalf("restore output: %s", out)
	}

	s, err := keystore.OpenBadger(dir, keystore.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	got, err := s.Authenticate(ctx, k.Key, time.Now())
	if err != nil || got.Team != team.ID {
		t.Fatalf("restored key: %+v %v", got, err)
	}
	if _, err := s.GetTeam(ctx, team.ID); err != nil {
		t.Fatalf("restored team: %v", err)
	}
	v, err := s.VerifyAudit(ctx)
	if err != nil || !v.OK || v.Entries < 3 {
		t.Fatalf("restored audit chain: %+v %v", v, err)
	}
	groups, err := s.QueryUsage(ctx, keystore.UsageQuery{KeyID: k.ID, GroupBy: "model"})
	if err != nil || len(groups) != 1 || groups[0].Requests != 1 {
		t.Fatalf("restored usage: %+v %v", groups, err)
	}
	// Restoring over a store is refused.
	if _, _, err := runCLI(t, "restore", "--from", file, "--dir", dir); err == nil {
		t.Fatal("restore into a non-empty directory was accepted")
	}
}
