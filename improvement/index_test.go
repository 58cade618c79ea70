package improvement

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIDIndexAgreesWithAMap adds and removes ids at random, as a table
// does, and checks after every step that the index finds exactly the ids
// a map holds, at their slots. Hashes are the real ones, or squeezed into
// a few values so that long probe runs, wrap-around and the back-shift on
// delete are exercised.
func TestIDIndexAgreesWithAMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(string) uint64
	}{
		{"hashID", hashID},
		{"eight hashes", func(s string) uint64 { return hashID(s) & 7 }},
		{"one hash", func(string) uint64 { return 0xffffffff }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var x idIndex
			var ids []string // slot -> id, "" free
			want := map[string]int32{}
			for step := 0; step < 3000; step++ {
				if len(want) > 0 && rng.IntN(3) == 0 {
					s := int32(rng.IntN(len(ids)))
					for ids[s] == "" {
						s = (s + 1) % int32(len(ids))
					}
					x.del(tc.hash(ids[s]), s)
					delete(want, ids[s])
					ids[s] = ""
				} else {
					id := fmt.Sprintf("rec-%d", step)
					s := int32(len(ids))
					ids = append(ids, id)
					x.put(tc.hash(id), s)
					want[id] = s
				}
				if step%97 != 0 {
					continue
				}
				require.Equal(t, len(want), x.n)
				for id, s := range want {
					got, ok := x.get(ids, id, tc.hash(id))
					require.True(t, ok, "step %d: %s lost", step, id)
					require.Equal(t, s, got, id)
				}
				_, ok := x.get(ids, "never", tc.hash("never"))
				require.False(t, ok)
			}
		})
	}
}

// TestHashIDDependsOnEveryByte changes each byte of ids of every length
// up to 40 in turn and checks that the hash, and the 32-bit tag the index
// keeps of it, change with it.
func TestHashIDDependsOnEveryByte(t *testing.T) {
	base := "0192f3c4-5d6e-7f80-9a1b-2c3d4e5f6071-xyz"
	seen := map[uint64]string{}
	for n := 0; n <= len(base); n++ {
		id := base[:n]
		h := hashID(id)
		require.Equal(t, h, hashID(string([]byte(id))), "the hash depends on the bytes only")
		if prev, dup := seen[h]; dup {
			t.Fatalf("%q and %q hash alike", prev, id)
		}
		seen[h] = id
		for i := 0; i < n; i++ {
			b := []byte(id)
			b[i] ^= 1
			g := hashID(string(b))
			require.NotEqual(t, h, g, "byte %d of %q", i, id)
			require.NotEqual(t, uint32(h), uint32(g), "tag, byte %d of %q", i, id)
		}
	}
}

// TestTableFindsByContent checks that a table finds an id whatever string
// holds its bytes, and that what it remembers of where ids were found
// never answers for a removed id, nor for another id in a reused slot.
func TestTableFindsByContent(t *testing.T) {
	var tb table[int]
	id := func(s string) string { return string([]byte(s)) } // a fresh copy
	a, b := id("INC-a"), id("INC-b")
	sa := tb.add(a, 0)
	_, _, _ = tb.find(a, 0) // the table now knows where a's bytes are
	prefix := a[:4]         // same address, shorter: another id
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"the added string", a, true},
		{"a copy", id("INC-a"), true},
		{"the added string again", a, true},
		{"another id", b, false},
		{"a prefix at the same address", prefix, false},
		{"the empty id", "", false},
	} {
		s, ok, _ := tb.find(tc.id, 0)
		require.Equal(t, tc.want, ok, tc.name)
		if ok {
			require.Equal(t, sa, s, tc.name)
		}
	}
	tb.remove(sa)
	_, ok, _ := tb.find(a, 0)
	require.False(t, ok, "removed")
	sb := tb.add(b, 0)
	require.Equal(t, sa, sb, "the slot is reused")
	_, ok, _ = tb.find(a, 0)
	require.False(t, ok, "the slot holds another id")
	s, ok, _ := tb.find(b, 0)
	require.True(t, ok)
	require.Equal(t, sb, s)
	require.Equal(t, uint32(hashID(b)), tb.tags[sb])
}
