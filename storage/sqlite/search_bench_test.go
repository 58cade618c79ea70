package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

// BenchmarkSearchText compares SearchText with its own statement run raw
// through the same driver (database/sql on the reader pool, the rows
// scanned as SearchText scans them), and with the statement before the
// ranking window (every match joined and ranked), over 20,000 entries in
// each of two tenants: two words of one title, and a word in a tenth of
// the entries. Ratios: raw ns/op over store ns/op, in the same run.
func BenchmarkSearchText(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), WithSynchronous("OFF"))
	require.NoError(b, err)
	b.Cleanup(func() { s.Close() })
	acme := itsm.WithTenant(context.Background(), "acme")
	storagetest.FillSearchBench(b, s)
	queries := storagetest.SearchBenchQueries()
	rankAll := func(q storage.TextQuery) (string, []any) {
		return `SELECT m.kind, m.id, -bm25(pillars_text_fts, 3.0, 1.0, 1.0, 0.0) AS score
FROM pillars_text_fts JOIN pillars_text m ON m.rowid = pillars_text_fts.rowid
WHERE pillars_text_fts MATCH ? AND m.tenant = ? AND m.kind IN (?)
ORDER BY score DESC, m.kind, m.id LIMIT ? OFFSET ?`, []any{ftsMatch("acme", q), "acme", q.Kinds[0], q.Limit, q.Offset}
	}
	raw := func(b *testing.B, text string, args []any) int {
		rows, err := s.r.QueryContext(acme, text, args...)
		require.NoError(b, err)
		defer rows.Close()
		var hits []storage.TextHit
		for rows.Next() {
			var h storage.TextHit
			require.NoError(b, rows.Scan(&h.Kind, &h.ID, &h.Score))
			hits = append(hits, h)
		}
		require.NoError(b, rows.Err())
		return len(hits)
	}
	for _, qq := range queries {
		q := storage.TextQuery{Kinds: []string{"incident"}, Terms: qq.Terms, Limit: 21}
		run := func(b *testing.B, op func(b *testing.B) int) {
			hits := op(b)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				op(b)
			}
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
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
			text, args := searchSQL("acme", q)
			run(b, func(b *testing.B) int { return raw(b, text, args) })
		})
		b.Run(qq.Name+"/raw every match ranked", func(b *testing.B) {
			text, args := rankAll(q)
			run(b, func(b *testing.B) int { return raw(b, text, args) })
		})
	}
}
