package aigateway

import "testing"

// StoreRefs reports how many configs hold the store open at dir, for the
// reload tests in package aigateway_test.
func StoreRefs(dir string) int {
	n, _ := storePool.References(dir)
	return n
}

// StoresOpen reports how many store directories are open.
func StoresOpen() int {
	n := 0
	storePool.Range(func(any, any) bool { n++; return true })
	return n
}

// AllowLoopbackImageFetch lets the image fetchers of configs loaded until
// the test ends fetch from loopback addresses, where httptest serves.
func AllowLoopbackImageFetch(t testing.TB) {
	testAllowLoopback.Store(true)
	t.Cleanup(func() { testAllowLoopback.Store(false) })
}
