package aigateway

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// claimPort binds an abstract Unix socket named after the port. Abstract
// sockets live in the network namespace, as ports do, need no file and
// vanish with the process however it ends, so a crash leaves no stale
// claim. The holder answers a connection with its pid, for the message
// the second process prints.
func claimPort(port uint) (*portClaim, error) {
	name := fmt.Sprintf("@caddy-ai-gateway/tcp/%d", port)
	ln, err := net.Listen("unix", name)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("claiming port %d for this gateway: %v", port, err)
		}
		return nil, fmt.Errorf("another gateway process%s already serves port %d: Caddy listens with SO_REUSEPORT, so both would take connections and split clients between two key stores; stop that process, or change its config with `caddy reload` instead of starting a second one",
			holderPid(name), port)
	}
	c := &portClaim{ln: ln}
	go c.serve()
	return c, nil
}

// holderPid asks the claim's holder for its pid: " (pid N)", or "" if it
// does not answer in time.
func holderPid(name string) string {
	conn, err := net.DialTimeout("unix", name, time.Second)
	if err != nil {
		return ""
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
		return fmt.Sprintf(" (pid %d)", pid)
	}
	return ""
}

// portClaim is a held claim.
type portClaim struct{ ln net.Listener }

func (c *portClaim) serve() {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return // closed
		}
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = conn.Write(pid)
		conn.Close()
	}
}

// Destruct releases the claim when the last config using it is gone.
func (c *portClaim) Destruct() error { return c.ln.Close() }
