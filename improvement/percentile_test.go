package improvement

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPercentilesSelectAsASortWould: selecting the three ranks gives what
// the nearest-rank method reads from the sorted samples, on shapes that
// trip up quickselect (sorted, reversed, all equal, few distinct values)
// and on random ones of every small size.
func TestPercentilesSelectAsASortWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 21))
	gen := map[string]func(n int) []int64{
		"random": func(n int) []int64 {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = rng.Int64N(1 << 40)
			}
			return xs
		},
		"few values": func(n int) []int64 {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = rng.Int64N(3) * 60000
			}
			return xs
		},
		"sorted": func(n int) []int64 {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = int64(i)
			}
			return xs
		},
		"reversed": func(n int) []int64 {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = int64(n - i)
			}
			return xs
		},
		"equal": func(n int) []int64 { return slices.Repeat([]int64{42}, n) },
		"organ pipe": func(n int) []int64 {
			xs := make([]int64, n)
			for i := range xs {
				xs[i] = int64(min(i, n-i))
			}
			return xs
		},
	}
	sizes := []int{1, 2, 3, 15, 16, 17, 18, 19, 20, 99, 100, 101, 1000, 4097, 100000}
	for name, g := range gen {
		for _, n := range sizes {
			xs := g(n)
			sorted := slices.Sorted(slices.Values(xs))
			rank := func(p int) time.Duration {
				r := max(1, min((p*n+99)/100, n))
				return time.Duration(sorted[r-1]) * time.Millisecond
			}
			p50, p90, p95 := percentiles(xs)
			require.Equal(t, []time.Duration{rank(50), rank(90), rank(95)}, []time.Duration{p50, p90, p95}, "%s, %d samples", name, n)
			slices.Sort(xs)
			require.Equal(t, sorted, xs, "%s, %d samples: the samples are only reordered", name, n)
		}
	}
}
