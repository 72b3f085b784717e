package aigateway

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
