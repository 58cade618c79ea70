package improvement

import "hash/maphash"

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

// idIndex maps record ids to their slots in a table. It is an
// open-addressing hash table with linear probing like bucketIndex, but the
// keys are strings: an entry packs the low 32 bits of the id's hash (which
// also name its home position, so growing and deleting never rehash an id)
// with slot+1, and a lookup compares ids only on entries whose hash bits
// match. It holds no pointer (the collector never scans it), an event's
// id is hashed once for finding, adding and removing its record, and
// removing an entry costs a few probes where a map's delete cost about
// three hundred instructions. It is derived data: table.rebuild makes it
// from the ids a checkpoint saves, state.rebuild the name index from Names.
type idIndex struct {
	slots []uint64 // hash<<32 | slot+1; 0 is empty
	n     int
}

// idSeed seeds the id hashes; the index is never saved, so the hashes
// need not be the same from one process to the next.
var idSeed = maphash.MakeSeed()

// hashID hashes a record id or a name.
func hashID(id string) uint64 { return maphash.String(idSeed, id) }

// get returns the slot of id, whose hash is h, in ids.
func (x *idIndex) get(ids []string, id string, h uint64) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := uint32(len(x.slots) - 1)
	tag := uint32(h)
	for i := tag & mask; ; i = (i + 1) & mask {
		e := x.slots[i]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) == tag {
			if s := int32(uint32(e)) - 1; ids[s] == id {
				return s, true
			}
		}
	}
}

// put adds slot s for an id of hash h that is not in the index.
func (x *idIndex) put(h uint64, s int32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.slots = make([]uint64, max(64, 2*len(old)))
		x.n = 0
		for _, e := range old {
			if e != 0 {
				x.insert(e)
			}
		}
	}
	x.insert(uint64(uint32(h))<<32 | uint64(uint32(s+1)))
}

func (x *idIndex) insert(e uint64) {
	mask := uint32(len(x.slots) - 1)
	i := uint32(e>>32) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = e
	x.n++
}

// del removes the entry of slot s, whose id has hash h, shifting back the
// entries after it so that no probe sequence is broken.
func (x *idIndex) del(h uint64, s int32) {
	if x.n == 0 {
		return
	}
	mask := uint32(len(x.slots) - 1)
	want := uint64(uint32(h))<<32 | uint64(uint32(s+1))
	i := uint32(h) & mask
	for x.slots[i] != want {
		if x.slots[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := x.slots[j]
		if e == 0 {
			break
		}
		// e may move to the hole at i unless its home lies cyclically in
		// (i, j].
		if home := uint32(e>>32) & mask; (j-home)&mask >= (j-i)&mask {
			x.slots[i] = e
			i = j
		}
	}
	x.slots[i] = 0
	x.n--
}
