package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
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
	for _, tenant := range []string{"acme", "globex"} {
		tctx := itsm.WithTenant(context.Background(), tenant)
		for start := 0; start < 20_000; start += 5000 {
			entries := make([]storage.TextEntry, 0, 5000)
			for i := start; i < start+5000; i++ {
				body := fmt.Sprintf("w%d w%d w%d w%d", i%1009, i%997, i%983, i%977)
				if i%10 == 0 {
					body += " error"
				}
				entries = append(entries, storage.TextEntry{Kind: "incident", ID: itsm.NewID(), Number: itsm.FormatNumber("INC", int64(i+1)),
					Title: fmt.Sprintf("t%d t%d t%d", i%3001, i%2999, i%2971), Public: body, Owner: fmt.Sprint("caller", i%500), Group: fmt.Sprint("group", i%4)})
			}
			require.NoError(b, s.IndexText(tctx, entries))
		}
	}
	queries := []struct {
		name  string
		terms []string
	}{
		{"two title words", []string{"t17", "t17"}},
		{"word in 10%", []string{"error"}},
	}
	rankAll := func(q storage.TextQuery) (string, []any) {
		return `SELECT m.kind, m.id, -bm25(pillars_text_fts, 3.0, 1.0, 1.0) AS score
FROM pillars_text_fts JOIN pillars_text m ON m.rowid = pillars_text_fts.rowid
WHERE pillars_text_fts MATCH ? AND m.tenant = ? AND m.kind IN (?)
ORDER BY score DESC, m.kind, m.id LIMIT ? OFFSET ?`, []any{ftsMatch(q.Terms, q.Internal), "acme", q.Kinds[0], q.Limit, q.Offset}
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
		q := storage.TextQuery{Kinds: []string{"incident"}, Terms: qq.terms, Limit: 21}
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
		b.Run(qq.name+"/store", func(b *testing.B) {
			run(b, func(b *testing.B) int {
				hits, err := s.SearchText(acme, q)
				require.NoError(b, err)
				return len(hits)
			})
		})
		b.Run(qq.name+"/raw", func(b *testing.B) {
			text, args := searchSQL("acme", q)
			run(b, func(b *testing.B) int { return raw(b, text, args) })
		})
		b.Run(qq.name+"/raw every match ranked", func(b *testing.B) {
			text, args := rankAll(q)
			run(b, func(b *testing.B) int { return raw(b, text, args) })
		})
	}
}
