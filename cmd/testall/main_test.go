package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCoordinatorRace(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want bool
	}{
		{"the race, as CI printed it", "fuzz: elapsed: 5s, execs: 59922 (5734/sec), new interesting: 1 (total: 162)\n" +
			"--- FAIL: FuzzDecodeResponse (5.03s)\n    context deadline exceeded\nFAIL\nexit status 1\n" +
			"FAIL\tgithub.com/x/providers/gemini\t5.043s\n", true},
		{"the race at the end of the output", "--- FAIL: FuzzX (4.01s)\n    context deadline exceeded", true},
		{"a failing input", "--- FAIL: FuzzX (0.20s)\n    --- FAIL: FuzzX (0.00s)\n        x_test.go:12: mismatch\n" +
			"    Failing input written to testdata/fuzz/FuzzX/abc\nFAIL\n", false},
		{"a panic", "--- FAIL: FuzzX (0.20s)\n    panic: boom\nFAIL\n", false},
		{"the deadline, then more of the target's own", "--- FAIL: FuzzX (4.01s)\n    context deadline exceeded\n    x_test.go:3: more\nFAIL\n", false},
		{"a hung worker", "--- FAIL: FuzzX (10.00s)\n    fuzzing process hung or terminated unexpectedly: exit status 2\nFAIL\n", false},
		{"a build failure", "# github.com/x\n./x.go:1:1: syntax error\nFAIL\tgithub.com/x [build failed]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := coordinatorRace([]byte(tt.out)); got != tt.want {
				t.Errorf("coordinatorRace = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewInputs(t *testing.T) {
	dir := t.TempDir()
	if got := inputs(filepath.Join(dir, "missing")); len(got) != 0 {
		t.Fatalf("a missing corpus lists %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	before := inputs(dir)
	if got := newInputs(before, inputs(dir)); len(got) != 0 {
		t.Fatalf("nothing written, yet new inputs %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "crasher"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := newInputs(before, inputs(dir)); !reflect.DeepEqual(got, []string{"crasher"}) {
		t.Fatalf("new inputs %v, want [crasher]", got)
	}
}
