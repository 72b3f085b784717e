// Command testall runs every test of the repository: `go test -race ./...`;
// then the xcaddy phase, which builds Caddy with the README's xcaddy command
// and runs the quickstart and the production example with it
// (internal/xcaddytest, alone, so that its build does not compete with the
// other packages' tests); then each fuzz target for a short while
// (FUZZTIME, default 4s), so that the fuzzers' seed corpora and a little
// exploration run on every change.
// Long fuzzing belongs to a benchmark run: FUZZTIME=10m go run ./cmd/testall.
//
//	go run ./cmd/testall
//
// Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
// exceeded" when a duration -fuzztime ends while a worker is mid-call
// (go.dev/issue/75804, fixed in Go 1.27). That failure writes no input. When
// a target fails that way, and only that way, testall runs it once more
// with a count budget (-fuzztime 2000x), which never sets that deadline: the
// target passes only if the rerun does.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddy-ai-gateway/caddy-ai-gateway/internal/xcaddytest"
)

// recountBudget is the count budget of a rerun after the coordinator race.
const recountBudget = "2000x"

func main() {
	fuzztime := os.Getenv("FUZZTIME")
	if fuzztime == "" {
		fuzztime = "4s"
	}
	failed := 0
	if _, err := run("go", "test", "-race", "-timeout", "25m", "./..."); err != nil {
		failed++
	}

	// -count=1: the build reads the whole repository, which go test's cache
	// does not track.
	start := time.Now()
	if _, err := runEnv([]string{xcaddytest.EnvRun + "=1"}, "go", "test", "-race", "-count=1", "-timeout", "20m", "-v",
		"-run", "^(TestXcaddyBuild|TestProductionExample)$", "./internal/xcaddytest"); err != nil {
		failed++
	}
	fmt.Printf("xcaddy phase: %s\n", time.Since(start).Round(time.Second))

	targets, err := fuzzTargets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "listing fuzz targets:", err)
		os.Exit(1)
	}
	passed, fuzzFailed, rerun := 0, 0, 0
	for _, t := range targets {
		ok, reran := fuzz(t, fuzztime)
		if reran {
			rerun++
		}
		if ok {
			passed++
		} else {
			fuzzFailed++
		}
	}
	fmt.Printf("fuzz: %d passed, %d failed (%d rerun after go.dev/issue/75804)\n", passed, fuzzFailed, rerun)
	if failed > 0 || fuzzFailed > 0 {
		os.Exit(1)
	}
}

// fuzz runs one target for budget. It reports whether the target passed and
// whether it had to be rerun after the coordinator's deadline race.
func fuzz(t target, budget string) (ok, reran bool) {
	corpus, err := t.corpusDir()
	if err != nil {
		fmt.Printf("--- FAIL fuzz %s %s: %v\n", t.pkg, t.name, err)
		return false, false
	}
	before := inputs(corpus)
	fmt.Printf("=== fuzz %s %s for %s\n", t.pkg, t.name, budget)
	out, err := run("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", budget, t.pkg)
	if err == nil {
		return true, false
	}
	if found := newInputs(before, inputs(corpus)); len(found) > 0 {
		fmt.Printf("--- FAIL fuzz %s %s: failing input %s\n", t.pkg, t.name, strings.Join(found, ", "))
		return false, false
	}
	if !coordinatorRace(out) {
		fmt.Printf("--- FAIL fuzz %s %s (no input was written; see the output above)\n", t.pkg, t.name)
		return false, false
	}
	fmt.Printf("=== fuzz %s %s hit go.dev/issue/75804 (no input written); rerun for %s\n", t.pkg, t.name, recountBudget)
	if _, err := run("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", recountBudget, t.pkg); err != nil {
		if found := newInputs(before, inputs(corpus)); len(found) > 0 {
			fmt.Printf("--- FAIL fuzz %s %s: failing input %s\n", t.pkg, t.name, strings.Join(found, ", "))
		} else {
			fmt.Printf("--- FAIL fuzz %s %s (rerun failed; see the output above)\n", t.pkg, t.name)
		}
		return false, true
	}
	return true, true
}

// coordinatorRace reports whether a failed fuzz run's output is the
// signature of go.dev/issue/75804: the target's FAIL line followed by a bare
// "context deadline exceeded" and nothing else of the target's own.
func coordinatorRace(out []byte) bool {
	lines := strings.Split(string(out), "\n")
	for i, line := range lines {
		if strings.HasPrefix(line, "--- FAIL: Fuzz") {
			return i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "context deadline exceeded" &&
				(i+2 >= len(lines) || strings.TrimSpace(lines[i+2]) == "FAIL")
		}
	}
	return false
}

type target struct{ pkg, name string }

// corpusDir is where `go test -fuzz` writes the target's failing inputs.
func (t target) corpusDir() (string, error) {
	var out bytes.Buffer
	cmd := exec.Command("go", "list", "-f", "{{.Dir}}", t.pkg)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", err
	}
	return filepath.Join(strings.TrimSpace(out.String()), "testdata", "fuzz", t.name), nil
}

// inputs lists the files in a corpus directory; a missing one is empty.
func inputs(dir string) map[string]bool {
	entries, _ := os.ReadDir(dir)
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

func newInputs(before, after map[string]bool) []string {
	var added []string
	for name := range after {
		if !before[name] {
			added = append(added, name)
		}
	}
	return added
}

// fuzzTargets lists every Fuzz function with its package, from
// `go test -list`.
func fuzzTargets() ([]target, error) {
	var out bytes.Buffer
	cmd := exec.Command("go", "test", "-list", "^Fuzz", "./...")
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	// Names are printed before the "ok  <package>" line of their package.
	var targets []target
	var pending []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Fuzz"):
			pending = append(pending, strings.TrimSpace(line))
		case strings.HasPrefix(line, "ok "):
			fields := strings.Fields(line)
			for _, name := range pending {
				targets = append(targets, target{pkg: fields[1], name: name})
			}
			pending = nil
		}
	}
	return targets, sc.Err()
}

// run runs a command with its output on ours, and returns that output too.
func run(name string, args ...string) ([]byte, error) {
	return runEnv(nil, name, args...)
}

// runEnv is run with env added to the environment.
func runEnv(env []string, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.MultiWriter(os.Stdout, &out)
	cmd.Stderr = io.MultiWriter(os.Stderr, &out)
	err := cmd.Run()
	return out.Bytes(), err
}
