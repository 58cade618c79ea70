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
