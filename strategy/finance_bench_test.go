package strategy_test

import (
	"testing"

	"github.com/pillars-itsm/pillars/strategy"
)

// BenchmarkSplit shares a fixed cost among 1,000 customers by usage, against
// a hand-written loop of the same proportional split with int64 arithmetic
// (no overflow check and no remainder distribution, so its parts need
// not add up).
func BenchmarkSplit(b *testing.B) {
	weights := make([]int64, 1000)
	for i := range weights {
		weights[i] = int64(1 + i%37)
	}
	total := strategy.M(123456789_00, "EUR")
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := total.Split(weights); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline_loop", func(b *testing.B) {
		b.ReportAllocs()
		var sum int64
		for _, w := range weights {
			sum += w
		}
		for i := 0; i < b.N; i++ {
			parts := make([]int64, len(weights))
			for j, w := range weights {
				parts[j] = total.Amount * w / sum
			}
		}
	})
}
