package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Pinning says where servers and the load generator run.
type Pinning struct {
	Enabled   bool   `json:"enabled"`
	ServerCPU string `json:"server_cpu,omitempty"` // taskset list for servers, e.g. "0"
	LoadCPU   string `json:"load_cpu,omitempty"`   // taskset list for this process
	Note      string `json:"note"`
}

// DecidePinning pins servers to CPU 0 and the generator to CPU 1 when there
// are at least two CPUs, pinning is wanted and taskset exists.
func DecidePinning(want bool, cpus int, taskset string) Pinning {
	switch {
	case !want:
		return Pinning{Note: "CPU pinning off (-pin=false): servers and load generator share all CPUs"}
	case cpus < 2:
		return Pinning{Note: fmt.Sprintf("CPU pinning skipped: only %d CPU", cpus)}
	case taskset == "":
		return Pinning{Note: "CPU pinning skipped: taskset not found on PATH"}
	}
	return Pinning{Enabled: true, ServerCPU: "0", LoadCPU: "1",
		Note: "servers (mock, Caddy, gateway, Portkey) pinned to CPU 0 with taskset; load generator pinned to CPU 1 (GOMAXPROCS=1)"}
}

// Procs starts the servers and kills them all (process group, SIGTERM then
// SIGKILL) when Stop is called.
type Procs struct {
	mu      sync.Mutex
	list    []proc
	pin     Pinning
	taskset string
	logDir  string
}

// Start runs argv in dir with extra env, its output in logDir/name.log,
// in its own process group, pinned to the server CPU when pinning is on.
func (p *Procs) Start(name, dir string, env []string, argv ...string) (*exec.Cmd, error) {
	if p.pin.Enabled {
		argv = append([]string{p.taskset, "-c", p.pin.ServerCPU}, argv...)
	}
	logf, err := os.Create(filepath.Join(p.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.mu.Lock()
	p.list = append(p.list, proc{name: name, cmd: cmd, done: done})
	p.mu.Unlock()
	return cmd, nil
}

// proc is one started server.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
}

// Stop ends every started process (and its group), newest first.
func (p *Procs) Stop() {
	p.mu.Lock()
	list := p.list
	p.list = nil
	p.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		pid := list[i].cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-list[i].done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-list[i].done
			fmt.Fprintf(os.Stderr, "bench: %s (pid %d) killed with SIGKILL\n", list[i].name, pid)
		}
	}
}

// PinSelf moves every thread of this process to cpu with taskset and sets
// The caller sets GOMAXPROCS to match.
func PinSelf(taskset, cpu string) error {
	out, err := exec.Command(taskset, "-a", "-p", "-c", cpu, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitHTTP polls url with GET until it answers with any HTTP status, or
// until timeout (or ctx) ends.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	var last error
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not up after %s: %v", url, timeout, last)
}
