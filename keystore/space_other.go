//go:build !(linux || darwin)

package keystore

import "errors"

// freeBytes is not implemented here: the free-space guard is off.
func freeBytes(string) (uint64, error) {
	return 0, errors.New("free space unknown on this system")
}
