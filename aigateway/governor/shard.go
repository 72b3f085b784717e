package governor

import "sync"

// numShards is the number of independently locked map shards. It must be a
// power of two.
const numShards = 64

// shard is one lock-protected part of a string→int64 map. The padding keeps
// neighbouring shards' mutexes on different cache lines.
type shard struct {
	mu sync.Mutex
	m  map[string]int64
	_  [64 - 16]byte
}

// shards is a string→int64 map split into numShards locked parts.
type shards [numShards]shard

func (s *shards) init() {
	for i := range s {
		s[i].m = make(map[string]int64)
	}
}

// get returns the shard that owns key. It hashes with FNV-1a inline so the
// lookup does not allocate.
func (s *shards) get(key string) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return &s[h&(numShards-1)]
}

// len returns the total number of entries.
func (s *shards) len() int {
	n := 0
	for i := range s {
		s[i].mu.Lock()
		n += len(s[i].m)
		s[i].mu.Unlock()
	}
	return n
}
