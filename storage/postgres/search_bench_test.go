package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// BenchmarkSearchText compares SearchText with its own statement run raw
// through the same driver (pgx on the same pool, one round trip, planned
// for its values as the store plans it), over 20,000 entries in each of
// two tenants: two words of one title, and a word in a tenth of the
// entries. Ratio: raw ns/op over store ns/op, in the same run.
func BenchmarkSearchText(b *testing.B) {
	s := newTestStore(b)
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
	for _, qq := range queries {
		q := storage.TextQuery{Kinds: []string{"incident"}, Terms: qq.terms, Limit: 21}
		run := func(b *testing.B, op func(b *testing.B) int) {
			hits := op(b)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				op(b)
			}
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
