// Command testall runs every test of the repository: `go test -race ./...`,
// then each fuzz target for a short while (FUZZTIME, default 4s), so that
// the fuzzers' seed corpora and a little exploration run on every change.
// Long fuzzing belongs to a benchmark run: FUZZTIME=10m go run ./cmd/testall.
//
//	go run ./cmd/testall
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	fuzztime := os.Getenv("FUZZTIME")
	if fuzztime == "" {
		fuzztime = "4s"
	}
	failed := 0
	if err := run("go", "test", "-race", "-timeout", "25m", "./..."); err != nil {
		failed++
	}

	targets, err := fuzzTargets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "listing fuzz targets:", err)
		os.Exit(1)
	}
	passed, fuzzFailed := 0, 0
	for _, t := range targets {
		fmt.Printf("=== fuzz %s %s for %s\n", t.pkg, t.name, fuzztime)
		if err := run("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", fuzztime, t.pkg); err != nil {
			fuzzFailed++
			fmt.Printf("--- FAIL fuzz %s %s (the failing input is in %s's testdata/fuzz/%s)\n", t.pkg, t.name, t.pkg, t.name)
		} else {
			passed++
		}
	}
	fmt.Printf("fuzz: %d passed, %d failed\n", passed, fuzzFailed)
	if failed > 0 || fuzzFailed > 0 {
		os.Exit(1)
	}
}

type target struct{ pkg, name string }

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

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
