package xcaddytest

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// modulePath is this repository's Go module.
const modulePath = "github.com/caddy-ai-gateway/caddy-ai-gateway"

// repoFile reads a file of the repository, relative to its root.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goModVersions returns the go directive of go.mod and the version of Caddy
// it requires.
func goModVersions(t *testing.T) (goVersion, caddyVersion string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(repoFile(t, "go.mod")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "go":
			goVersion = f[1]
		case len(f) >= 2 && f[0] == "github.com/caddyserver/caddy/v2":
			caddyVersion = f[1]
		}
	}
	if goVersion == "" || caddyVersion == "" {
		t.Fatalf("go.mod: go %q, caddy %q", goVersion, caddyVersion)
	}
	return goVersion, caddyVersion
}

// linesStarting returns the trimmed lines of text that start with prefix
// (after leading blanks and a Dockerfile's RUN), with any trailing comment
// removed.
func linesStarting(text, prefix string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(line, "RUN ")
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		out = append(out, strings.TrimSpace(line))
	}
	return out
}

// readmeXcaddyBuild returns the README's `xcaddy build` command, split into
// its arguments; every such line in the README must be the same command.
func readmeXcaddyBuild(t *testing.T) []string {
	t.Helper()
	lines := linesStarting(repoFile(t, "README.md"), "xcaddy build ")
	if len(lines) == 0 {
		t.Fatal("README.md has no `xcaddy build` command")
	}
	for _, l := range lines[1:] {
		if l != lines[0] {
			t.Fatalf("README.md has two different xcaddy commands:\n%s\n%s", lines[0], l)
		}
	}
	return strings.Fields(lines[0])
}

// withoutOutput drops an `--output <file>` pair from a command's arguments.
func withoutOutput(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--output" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// TestBuildInstructionsAgree holds the README's build instructions to what
// the repository builds with: the Go version of go.mod, the Caddy version it
// requires, the xcaddy version the xcaddy test installs, and the Dockerfile,
// whose xcaddy command must be the README's (the one the xcaddy test runs),
// so that none of them can drift from what is tested.
func TestBuildInstructionsAgree(t *testing.T) {
	goVersion, caddyVersion := goModVersions(t)
	readme := repoFile(t, "README.md")
	build := readmeXcaddyBuild(t)
	docker := repoFile(t, "examples/production/Dockerfile")

	// The module is not published: only a replacement with a version
	// (module@v0.0.0=dir) makes `go get` inside xcaddy take the local copy.
	wantWith := modulePath + "@v0.0.0=."
	if !slices.Equal(build, []string{"xcaddy", "build", caddyVersion, "--with", wantWith}) {
		t.Errorf("README's xcaddy command = %q, want %q", strings.Join(build, " "),
			"xcaddy build "+caddyVersion+" --with "+wantWith)
	}

	install := "go install github.com/caddyserver/xcaddy/cmd/xcaddy@" + XcaddyVersion
	for name, text := range map[string]string{"README.md": readme, "examples/production/Dockerfile": docker} {
		got := linesStarting(text, "go install github.com/caddyserver/xcaddy")
		if len(got) == 0 {
			t.Errorf("%s does not install xcaddy", name)
		}
		for _, l := range got {
			if l != install {
				t.Errorf("%s: %q, want %q", name, l, install)
			}
		}
	}

	dockerBuild := linesStarting(docker, "xcaddy build ")
	if len(dockerBuild) != 1 {
		t.Fatalf("the Dockerfile has %d xcaddy build commands, want 1", len(dockerBuild))
	}
	if got := withoutOutput(strings.Fields(dockerBuild[0])); !slices.Equal(got, build) {
		t.Errorf("the Dockerfile builds with %q, the README with %q", strings.Join(got, " "), strings.Join(build, " "))
	}
	from := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(docker, -1)
	wantFrom := []string{"golang:" + goVersion + "-alpine", "caddy:" + strings.TrimPrefix(caddyVersion, "v")}
	var gotFrom []string
	for _, m := range from {
		gotFrom = append(gotFrom, m[1])
	}
	if !slices.Equal(gotFrom, wantFrom) {
		t.Errorf("the Dockerfile's images = %q, want %q", gotFrom, wantFrom)
	}

	// The Go version a newcomer needs is go.mod's, not an older 1.26.x.
	if !strings.Contains(readme, "Go "+goVersion) {
		t.Errorf("README.md does not say Go %s (go.mod's go directive)", goVersion)
	}
	for _, m := range regexp.MustCompile(`\bGo (1\.\d+(?:\.\d+)?)\b`).FindAllStringSubmatch(readme, -1) {
		if v := m[1]; strings.Count(v, ".") == 1 && strings.HasPrefix(goVersion, v+".") {
			t.Errorf("README.md says %q where go.mod needs %s", m[0], goVersion)
		}
	}
}

// unitFile parses a systemd unit's Key=Value lines (comments and sections
// aside), keeping every value of a repeated key.
func unitFile(t *testing.T, rel string) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	for _, line := range strings.Split(repoFile(t, rel), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not Key=Value: %q", rel, line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

// unitEnv returns the variables a unit's Environment= lines set.
func unitEnv(keys map[string][]string) map[string]string {
	env := map[string]string{}
	for _, v := range keys["Environment"] {
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(kv, "=")
			env[k] = val
		}
	}
	return env
}

// caddyfileDirective returns the arguments of the one line of the
// Caddyfile text that starts with directive.
func caddyfileDirective(t *testing.T, text, directive string) []string {
	t.Helper()
	var found [][]string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] != "#" && strings.HasPrefix(strings.TrimSpace(line), directive+" ") {
			found = append(found, strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), directive)))
		}
	}
	if len(found) != 1 {
		t.Fatalf("the Caddyfile has %d %q lines, want 1", len(found), directive)
	}
	return found[0]
}

// TestProductionUnitsMatchCaddyfile holds examples/production's systemd
// units to its Caddyfile: the unit serves the file the Caddyfile says to
// install, the store and Caddy's data directory are in the unit's
// StateDirectory, the admin socket in its RuntimeDirectory, every {env.*}
// the Caddyfile reads is in the EnvironmentFile's example, and the backup
// service and script talk to that socket with that binary.
func TestProductionUnitsMatchCaddyfile(t *testing.T) {
	caddyfile := repoFile(t, "examples/production/Caddyfile")
	unit := unitFile(t, "examples/production/caddy.service")
	one := func(keys map[string][]string, k string) string {
		t.Helper()
		if len(keys[k]) != 1 {
			t.Fatalf("%s is set %d times, want once", k, len(keys[k]))
		}
		return keys[k][0]
	}

	const cfgPath = "/etc/caddy/Caddyfile"
	if !strings.Contains(caddyfile, "Install it as "+cfgPath) {
		t.Errorf("the Caddyfile does not say to install it as %s", cfgPath)
	}
	start := strings.Fields(one(unit, "ExecStart"))
	bin := start[0]
	if want := []string{bin, "run", "--config", cfgPath}; !slices.Equal(start, want) {
		t.Errorf("ExecStart = %q, want %q (and never --environ, which prints the provider keys)", start, want)
	}
	if got, want := one(unit, "ExecReload"), bin+" reload --config "+cfgPath+" --force"; got != want {
		t.Errorf("ExecReload = %q, want %q", got, want)
	}
	if one(unit, "Type") != "notify" || one(unit, "User") != "caddy" {
		t.Errorf("Type = %q, User = %q", unit["Type"], unit["User"])
	}
	if !strings.Contains(one(unit, "AmbientCapabilities"), "CAP_NET_BIND_SERVICE") || one(unit, "LimitNOFILE") == "" {
		t.Errorf("AmbientCapabilities = %q, LimitNOFILE = %q", unit["AmbientCapabilities"], unit["LimitNOFILE"])
	}

	// Caddy's data directory is $XDG_DATA_HOME/caddy: the StateDirectory.
	env := unitEnv(unit)
	stateDir := "/var/lib/" + one(unit, "StateDirectory")
	if got := env["XDG_DATA_HOME"] + "/caddy"; got != stateDir {
		t.Errorf("Caddy's data directory is %s, the StateDirectory %s", got, stateDir)
	}
	if cfgHome := env["XDG_CONFIG_HOME"]; !strings.HasPrefix(cfgHome, stateDir+"/") {
		t.Errorf("XDG_CONFIG_HOME = %q is not writable under ProtectSystem=strict (not in %s)", cfgHome, stateDir)
	}
	if store := caddyfileDirective(t, caddyfile, "store"); len(store) != 2 || store[0] != "badger" || !strings.HasPrefix(store[1], stateDir+"/") {
		t.Errorf("store %q is not in the StateDirectory %s", store, stateDir)
	}

	admin := caddyfileDirective(t, caddyfile, "admin")
	runDir := "/run/" + one(unit, "RuntimeDirectory")
	if len(admin) != 1 || !strings.HasPrefix(admin[0], "unix/"+runDir+"/") {
		t.Fatalf("admin %q is not a unix socket in the RuntimeDirectory %s", admin, runDir)
	}

	envFile := one(unit, "EnvironmentFile")
	if envFile != "/etc/caddy/gateway.env" {
		t.Errorf("EnvironmentFile = %q", envFile)
	}
	example := repoFile(t, "examples/production/gateway.env")
	for _, m := range regexp.MustCompile(`\{env\.([A-Za-z0-9_]+)\}`).FindAllStringSubmatch(caddyfile, -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).MatchString(example) {
			t.Errorf("the Caddyfile reads %s, which gateway.env does not set", m[0])
		}
	}

	// The backup service and the script's defaults: same binary, same
	// socket; the script is where the service runs it from.
	backup := unitFile(t, "examples/production/caddy-ai-gateway-backup.service")
	benv := unitEnv(backup)
	if benv["CADDY"] != bin || benv["CADDY_ADMIN"] != admin[0] {
		t.Errorf("the backup service uses %s at %s, the unit %s at %s", benv["CADDY"], benv["CADDY_ADMIN"], bin, admin[0])
	}
	script := repoFile(t, "examples/production/backup.sh")
	for _, want := range []string{"${CADDY:-" + bin + "}", "${CADDY_ADMIN:-" + admin[0] + "}", "${BACKUP_DIR:-" + benv["BACKUP_DIR"] + "}", "install this script as\n# " + one(backup, "ExecStart")} {
		if !strings.Contains(script, want) {
			t.Errorf("backup.sh lacks %q", want)
		}
	}
	timer := unitFile(t, "examples/production/caddy-ai-gateway-backup.timer")
	if one(timer, "OnCalendar") == "" || one(timer, "Persistent") != "true" {
		t.Errorf("the timer: %q", timer)
	}
}
