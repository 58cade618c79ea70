package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

// BenchmarkSearchText compares SearchText with its own statement run raw
// through the same driver (pgx on the same pool, one round trip, planned
// for its values as the store plans it), over 20,000 entries in each of
// two tenants: two words of one title, and a word in a tenth of the
// entries. Ratio: raw ns/op over store ns/op, in the same run.
func BenchmarkSearchText(b *testing.B) {
	s := newTestStore(b)
	acme := itsm.WithTenant(context.Background(), "acme")
	storagetest.FillSearchBench(b, s)
	queries := storagetest.SearchBenchQueries()
	for _, qq := range queries {
		q := storage.TextQuery{Kinds: []string{"incident"}, Terms: qq.Terms, Limit: 21}
		run := func(b *testing.B, op func(b *testing.B) int) {
			hits := op(b)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				op(b)
			}
			b.ReportMetric(float64(hits), "hits")
		}
		b.Run(qq.Name+"/store", func(b *testing.B) {
			run(b, func(b *testing.B) int {
				hits, err := s.SearchText(acme, q)
				require.NoError(b, err)
				return len(hits)
			})
		})
		b.Run(qq.Name+"/raw", func(b *testing.B) {
			text, args := s.searchSQL("acme", q)
			run(b, func(b *testing.B) int {
				rows, err := s.pool.Query(acme, text, append([]any{pgx.QueryExecModeExec}, args...)...)
				require.NoError(b, err)
				defer rows.Close()
				var hits []storage.TextHit
				for rows.Next() {
					var h storage.TextHit
					var score float32
					require.NoError(b, rows.Scan(&h.Kind, &h.ID, &score))
					h.Score = float64(score)
					hits = append(hits, h)
				}
				require.NoError(b, rows.Err())
				return len(hits)
			})
		})
	}
}
