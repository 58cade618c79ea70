package improvement

// The engine looks up a bucket by key once or twice for nearly every event.
// bucketIndex is an open-addressing hash table with linear probing over the
// bucket positions (the keys stay in state.Keys): a lookup is a
// multiplicative hash and, mostly, one probe, with no pointer for the
// collector. It is derived data: a checkpoint saves the keys and Open
// rebuilds it.

// bucketIndex maps bucket keys to bucket positions. Slots hold position+1,
// 0 being empty; the keys are read from state.Keys.
type bucketIndex struct {
	slots []int32
	n     int
}

func hashBucket(k bucketKey) uint64 {
	h := uint64(uint32(k.Slice.Service))<<32 | uint64(uint32(k.Slice.Group))
	h = h*0x9e3779b97f4a7c15 ^ (uint64(uint32(k.Slice.Priority))<<32 | uint64(uint32(k.Day)))
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>31
}

func (x *bucketIndex) get(keys []bucketKey, k bucketKey) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for i := hashBucket(k) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return 0, false
		}
		if keys[s-1] == k {
			return s - 1, true
		}
	}
}

// put adds position v of keys, whose key must not be present.
func (x *bucketIndex) put(keys []bucketKey, v int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]int32, max(64, 2*len(old)))
		x.n = 0
		for _, s := range old {
			if s != 0 {
				x.put(keys, s-1)
			}
		}
	}
	mask := uint64(len(x.slots) - 1)
	i := hashBucket(keys[v]) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = v + 1
	x.n++
}

// recentBuckets remembers where recently used buckets are: events arrive
// roughly in time order, so the buckets of the last days are asked again
// and again while the index and the keys grow far larger than the
// processor's caches. It is direct-mapped by the bucket's hash; positions
// never change, so an entry never goes stale.
type recentBuckets [1024]struct {
	key bucketKey
	pos int32 // position+1; 0 is empty
}

func (r *recentBuckets) slot(k bucketKey) *struct {
	key bucketKey
	pos int32
} {
	return &r[hashBucket(k)>>54]
}
