package improvement

import (
	"hash/maphash"
	"math/bits"
	"strconv"
)

// The engine looks up a bucket by key once or twice for nearly every event.
// bucketIndex is an open-addressing hash table with linear probing over the
// bucket positions (the keys stay in state.Keys): a lookup is a
// multiplicative hash and, mostly, one probe, with no pointer for the
// collector. It is derived data: a checkpoint saves the keys and New
// rebuilds it.

// bucketIndex maps bucket keys to bucket positions. A slot packs the low
// 32 bits of the key's hash (which also name its home slot) with the
// position+1, 0 being empty; the keys are read from state.Keys only for a
// slot whose hash bits match. At a million incidents the keys outgrow the
// processor's caches, and a probe that read the key of every slot it
// passed cost a cache miss per slot; growing rehashes without reading a
// key either.
type bucketIndex tagIndex

func hashBucket(k bucketKey) uint64 {
	h := uint64(uint32(k.Slice.Service))<<32 | uint64(uint32(k.Slice.Group))
	h = h*0x9e3779b97f4a7c15 ^ (uint64(uint32(k.Slice.Priority))<<32 | uint64(uint32(k.Day)))
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>31
}

func (x *bucketIndex) get(keys []bucketKey, k bucketKey) (int32, bool) {
	return x.find(keys, k, hashBucket(k))
}

// find is get for a key of hash h. It and idIndex.get are one loop over
// keys of two types, written twice: one generic loop was not inlined and
// cost the engine 2% of its instructions, these lookups being its hottest
// path.
func (x *bucketIndex) find(keys []bucketKey, k bucketKey, h uint64) (int32, bool) {
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
			if p := int32(uint32(e)) - 1; keys[p] == k {
				return p, true
			}
		}
	}
}

// put adds position v of keys, whose key must not be present.
func (x *bucketIndex) put(keys []bucketKey, v int32) { x.add(hashBucket(keys[v]), v) }

// add adds position v, whose key has hash h and must not be present.
func (x *bucketIndex) add(h uint64, v int32) { (*tagIndex)(x).add(h, v) }

// tagIndex is the open-addressing hash table with linear probing behind
// bucketIndex and idIndex, which add their own lookups: a slot packs the
// low 32 bits of a key's hash (which also name its home slot) with the
// key's position+1 in a slice the caller keeps, 0 being empty. A lookup
// reads a key only on a slot whose hash bits match; growing and deleting
// read none.
type tagIndex struct {
	slots []uint64
	n     int
}

// add adds position v, whose key has hash h and must not be present.
func (x *tagIndex) add(h uint64, v int32) {
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
	x.insert(uint64(uint32(h))<<32 | uint64(uint32(v+1)))
}

func (x *tagIndex) insert(e uint64) {
	mask := uint32(len(x.slots) - 1)
	i := uint32(e>>32) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = e
	x.n++
}

// recentBuckets remembers where recently used buckets are: events arrive
// roughly in time order, so the buckets of the last days are asked again
// and again while the index and the keys grow far larger than the
// processor's caches. It is direct-mapped by the bucket's hash; positions
// never change, so an entry never goes stale.
type recentBuckets [1 << recentBits]struct {
	key bucketKey
	pos int32 // position+1; 0 is empty
}

// recentBits sizes recentBuckets; the top bits of a bucket's hash choose
// its entry.
const recentBits = 12

// idIndex maps record ids to their slots in a table. It is an
// open-addressing hash table with linear probing like bucketIndex, but the
// keys are strings: an entry packs the low 32 bits of the id's hash (which
// also name its home position, so growing and deleting never rehash an id)
// with slot+1, and a lookup compares ids only on entries whose hash bits
// match. It holds no pointer (the collector never scans it), an event's
// id is hashed at most once for finding and adding its record (not at all
// when the table's by-address cache knows it; removing uses the tag), and
// removing an entry costs a few probes where a map's delete cost about
// three hundred instructions. It is derived data: table.rebuild makes it
// from the ids a checkpoint saves, state.rebuild the name index from Names.
type idIndex tagIndex

// idKeys key the id hashes, drawn at random for each process (through
// maphash's seed): the index is never saved, so the hashes need not be the
// same from one process to the next, and ids chosen to collide cannot be
// chosen without them.
var idKeys = func() (k [3]uint64) {
	seed := maphash.MakeSeed()
	for i := range k {
		k[i] = maphash.String(seed, strconv.Itoa(i)) | 1
	}
	return k
}()

// hashID hashes a record id or a name. The engine hashes an id for nearly
// every event, so the hash is inlined arithmetic in the manner of wyhash
// (128-bit multiplications of the input, 16 bytes at a time, with the
// process's keys): a 36-byte UUID costs a few dozen instructions, where
// maphash.String cost over a hundred.
func hashID(s string) uint64 {
	k0, k1, k2 := idKeys[0], idKeys[1], idKeys[2]
	h := k0 ^ uint64(len(s))*k2
	for len(s) > 16 {
		h = mix(load64(s)^k1, load64(s[8:])^h)
		s = s[16:]
	}
	var a, b uint64
	switch n := len(s); {
	case n >= 8:
		a, b = load64(s), load64(s[n-8:])
	case n >= 4:
		a, b = uint64(load32(s)), uint64(load32(s[n-4:]))
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return mix(mix(a^k1, b^h), k2^uint64(len(s)))
}

// mix folds the 128-bit product of a and b into 64 bits.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// load64 reads the first 8 bytes of s, little-endian (the compiler makes
// it one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// load32 reads the first 4 bytes of s, little-endian.
func load32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

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
func (x *idIndex) put(h uint64, s int32) { (*tagIndex)(x).add(h, s) }

// del removes the entry of slot s, whose id has hash h.
func (x *idIndex) del(h uint64, s int32) { (*tagIndex)(x).del(h, s) }

// del removes the entry of slot s, whose id has hash h, shifting back the
// entries after it so that no probe sequence is broken.
func (x *tagIndex) del(h uint64, s int32) {
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
