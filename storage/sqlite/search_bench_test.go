package sqlite

import (
	"context"
	"database/sql"
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
// the entries, each for every reader and for an agent of one group of four
// (whose entries never hold the word in a tenth). Ratios: raw ns/op over
// store ns/op, in the same run.
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
ORDER BY score DESC, m.kind, m.id LIMIT ? OFFSET ?`, []any{ftsWords(q), "acme", q.Kinds[0], q.Limit, q.Offset}
	}
	raw := func(b *testing.B, db interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}, text string, args []any) int {
		rows, err := db.QueryContext(acme, text, args...)
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
	scopes := []struct {
		name   string
		scopes []storage.TextScope
	}{
		{"", nil},
		// An agent of one group of four: "error" is in none of its entries.
		{" (group1 scope)", []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{"group1"}}}},
	}
	for _, qq := range queries {
		for _, sc := range scopes {
			q := storage.TextQuery{Kinds: []string{"incident"}, Terms: qq.Terms, Scopes: sc.scopes, Limit: 21}
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
			b.Run(qq.Name+sc.name+"/store", func(b *testing.B) {
				run(b, func(b *testing.B) int {
					hits, err := s.SearchText(acme, q)
					require.NoError(b, err)
					return len(hits)
				})
			})
			b.Run(qq.Name+sc.name+"/raw", func(b *testing.B) {
				if sc.scopes == nil {
					text, args := searchSQL("acme", q)
					run(b, func(b *testing.B) int { return raw(b, s.r, text, args) })
					return
				}
				// The two statements of a scoped search in one read
				// transaction, as SearchText runs them.
				run(b, func(b *testing.B) int {
					tx, err := s.r.BeginTx(acme, nil)
					require.NoError(b, err)
					defer tx.Rollback()
					lo, hi, ids, err := scopedWindow(acme, tx, "acme", q)
					require.NoError(b, err)
					if ids == "" {
						return 0
					}
					text2, args2 := scopedSQL("acme", q, lo, hi, ids)
					return raw(b, tx, text2, args2)
				})
			})
			if sc.scopes == nil {
				b.Run(qq.Name+sc.name+"/raw every match ranked", func(b *testing.B) {
					text, args := rankAll(q)
					run(b, func(b *testing.B) int { return raw(b, s.r, text, args) })
				})
			}
		}
	}
}
