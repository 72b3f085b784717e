//go:build !linux

package aigateway

// portClaim is a no-op here: abstract sockets are Linux-only, so a second
// gateway process on the same ports is not detected on this system.
type portClaim struct{}

func claimPort(uint) (*portClaim, error) { return &portClaim{}, nil }

// Destruct does nothing.
func (*portClaim) Destruct() error { return nil }
