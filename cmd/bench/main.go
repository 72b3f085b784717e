// Command bench runs the AI gateway side by side with a plain Caddy
// reverse_proxy, the mock upstream itself and (optionally) Portkey's OSS
// gateway, on this machine, and reports throughput, latency percentiles,
// time to first byte for streams, ratios and PASS/MISS against the
// performance targets.
//
// Usage (from the repository root):
//
//	go run ./cmd/bench [-duration 5s] [-warmup 1s] [-rounds 2] [-c 32]
//	                   [-portkey=true|false] [-scenarios json,translate,stream]
//	                   [-pin=true] [-out bench/out] [-results bench/results]
//
// It builds bench/out/caddy (Caddy with the plugin) and bench/out/mockllm,
// starts the mock, a plain Caddy and the gateway (and Portkey, installed
// with npm into bench/out/portkey) on 127.0.0.1, pins servers to CPU 0 and
// itself to CPU 1 when it can, loads every target at c=1 and c=-c in a
// closed loop, alternating targets for -rounds rounds, prints markdown
// tables and writes bench/results/<timestamp>.json and
// bench/results/latest.md. Every process it started is stopped at the end,
// on error and on Ctrl-C. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// flags are the command's options.
type flags struct {
	duration, warmup, reqTimeout, npmTimeout time.Duration
	rounds, conc                             int
	portkey, pin, profile                    bool
	scenarios, out, results                  string
	outAbs                                   string // f.out made absolute; profiles go there
	portkeyVersion, honoVersion              string
}

func parseFlags() flags {
	var f flags
	_, npmErr := exec.LookPath("npm")
	_, nodeErr := exec.LookPath("node")
	flag.DurationVar(&f.duration, "duration", 5*time.Second, "measured duration of each run (one target, one concurrency, one round)")
	flag.DurationVar(&f.warmup, "warmup", 3*time.Second, "warm-up per target and concurrency before the rounds (not measured)")
	flag.DurationVar(&f.reqTimeout, "request-timeout", 10*time.Second, "timeout of one request")
	flag.IntVar(&f.rounds, "rounds", 3, "rounds; each round runs every target of a scenario once, in order (A B A B)")
	flag.IntVar(&f.conc, "c", 32, "high concurrency (runs are done at c=1 and at this)")
	flag.BoolVar(&f.portkey, "portkey", npmErr == nil && nodeErr == nil, "install (npm) and measure Portkey's gateway (default: on when npm and node are on PATH)")
	flag.DurationVar(&f.npmTimeout, "npm-timeout", 5*time.Minute, "limit for npm install")
	flag.StringVar(&f.portkeyVersion, "portkey-version", "1.15.2", "@portkey-ai/gateway version")
	flag.StringVar(&f.honoVersion, "hono-node-server", "1.11.5", "@hono/node-server version forced with npm overrides (later ones break Portkey's streaming)")
	flag.BoolVar(&f.pin, "pin", true, "pin servers to CPU 0 and the load generator to CPU 1 with taskset (needs ≥ 2 CPUs)")
	flag.BoolVar(&f.profile, "profile", false, "after each scenario's rounds at high concurrency, load each gateway target once more for -duration while taking a CPU profile from Caddy's admin API (written to <out>/profile-<scenario>-<target>.pprof; not counted in the results)")
	flag.StringVar(&f.scenarios, "scenarios", SJSON+","+SXlat+","+SStream, "comma-separated scenarios to run")
	flag.StringVar(&f.out, "out", "bench/out", "directory for binaries, configs, logs, the gateway store and Portkey")
	flag.StringVar(&f.results, "results", "bench/results", "directory for <timestamp>.json and latest.md")
	flag.Parse()
	return f
}

func run() error {
	f := parseFlags()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flag.Args())
	}
	if f.conc < 1 || f.rounds < 1 || f.duration <= 0 {
		return fmt.Errorf("-c, -rounds and -duration must be positive")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	out, resultsDir := abs(f.out), abs(f.results)
	f.outAbs = out
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	machine := DetectMachine()
	taskset, _ := exec.LookPath("taskset")
	pin := DecidePinning(f.pin, runtime.NumCPU(), taskset)
	procs := &Procs{pin: pin, taskset: taskset, logDir: out}
	defer procs.Stop()

	res := &Results{
		Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05Z"),
		Machine:   machine,
		Config: Config{Duration: f.duration.String(), Warmup: f.warmup.String(), Rounds: f.rounds,
			Concurrency: f.conc, Portkey: f.portkey, Scenarios: f.scenarios},
		Pinning:  pin,
		Versions: map[string]string{},
		Targets:  map[string]string{},
		Titles:   map[string]string{},
	}
	logf("%s", pin.Note)

	env := &Env{Root: root, Out: out}
	if env.CaddyBin, env.MockBin, err = BuildBinaries(ctx, root, out); err != nil {
		return err
	}
	if err := StartServers(ctx, procs, env); err != nil {
		return err
	}
	res.Versions["caddy"] = env.CaddyVersion
	logf("mock :%d, caddy :%d, gateway :%d (ai_auth :%d, admin :%d); gateway key created",
		env.MockPort, env.CaddyPort, env.GatewayPort, env.AuthPort, env.AdminPort)

	portkey := f.portkey
	if portkey {
		pdir := filepath.Join(out, "portkey")
		err := InstallPortkey(ctx, pdir, f.portkeyVersion, f.honoVersion, f.npmTimeout)
		if err == nil {
			err = StartPortkey(ctx, procs, env, pdir)
		}
		if err != nil {
			portkey = false
			env.PortkeyErr = err.Error()
			res.Notes = append(res.Notes, "Portkey not measured: "+err.Error())
			logf("Portkey not measured: %v", err)
		} else {
			res.Versions["portkey"] = env.PortkeyVersion
			res.Versions["@hono/node-server"] = env.HonoVersion
			logf("portkey %s (@hono/node-server %s) on :%d", env.PortkeyVersion, env.HonoVersion, env.PortkeyPort)
		}
	} else {
		res.Notes = append(res.Notes, "Portkey not measured (-portkey=false, or npm/node not on PATH)")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Servers are up: move this process to the load CPU.
	if pin.Enabled {
		if err := PinSelf(taskset, pin.LoadCPU); err != nil {
			return err
		}
		runtime.GOMAXPROCS(1)
	}

	want := map[string]bool{}
	for _, s := range strings.Split(f.scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}
	for _, sc := range Scenarios(env, portkey) {
		if !want[sc.Name] {
			continue
		}
		res.Order = append(res.Order, sc.Name)
		res.Titles[sc.Name] = sc.Title
		for _, t := range sc.Targets {
			res.Targets[t.Name] = t.Desc
		}
		sums, err := RunScenario(ctx, sc, f)
		res.Summaries = append(res.Summaries, sums...)
		if err != nil {
			return err
		}
	}
	res.Verdicts = Verdicts(NewIndex(res.Summaries), f.conc)

	md := Markdown(res)
	fmt.Println()
	fmt.Print(md)
	jsonPath, err := WriteJSON(res, resultsDir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(resultsDir, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s and %s", rel(root, jsonPath), rel(root, filepath.Join(resultsDir, "latest.md")))
	return nil
}

// repoRoot is the nearest directory upward holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory; run from the repository")
		}
		dir = parent
	}
}

// logf prints a progress line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// rel is p relative to root when possible, for messages.
func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}
