package postgres

import (
	"context"
	"fmt"
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

// BenchmarkIndexText times IndexText of batches of 1,000 new entries of
// FillSearchBench's shape (titles of three words, bodies of four, 500
// owners, 4 groups) into one tenant; ns/op is per batch. It holds the cost
// of keeping the lexeme table (_search_lexeme) beside the text table.
func BenchmarkIndexText(b *testing.B) {
	s := newTestStore(b)
	acme := itsm.WithTenant(context.Background(), "acme")
	next := 0
	batch := func() []storage.TextEntry {
		entries := make([]storage.TextEntry, 0, 1000)
		for i := next; i < next+1000; i++ {
			entries = append(entries, storage.TextEntry{Kind: "incident", ID: itsm.NewID(), Number: itsm.FormatNumber("INC", int64(i+1)),
				Title: fmt.Sprintf("t%d t%d t%d", i%3001, i%2999, i%2971), Public: fmt.Sprintf("w%d w%d w%d w%d", i%1009, i%997, i%983, i%977),
				Owner: fmt.Sprint("caller", i%500), Group: fmt.Sprint("group", i%4)})
		}
		next += 1000
		return entries
	}
	for range 5 { // the table and its first rows, outside the timing
		require.NoError(b, s.IndexText(acme, batch()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		entries := batch()
		b.StartTimer()
		require.NoError(b, s.IndexText(acme, entries))
	}
}
