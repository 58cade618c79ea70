package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// SearchBenchQuery is one query of the text-search benchmarks: its name
// and its terms.
type SearchBenchQuery struct {
	Name  string
	Terms []string
}

// SearchBenchQueries are the queries the adapters' text-search benchmarks
// time over FillSearchBench's entries: two words of one title, and a word
// in a tenth of the entries.
func SearchBenchQueries() []SearchBenchQuery {
	return []SearchBenchQuery{
		{"two title words", []string{"t17", "t17"}},
		{"word in 10%", []string{"error"}},
	}
}

// FillSearchBench indexes the text-search benchmarks' entries on x: 20,000
// incidents in each of the tenants "acme" and "globex", with titles of
// three words out of about 3,000, bodies of four out of about 1,000 (and
// "error" in every tenth), 500 owners and 4 groups. An adapter's benchmark
// times its SearchText against the same statement run raw on them.
func FillSearchBench(tb testing.TB, x storage.TextIndexer) {
	tb.Helper()
	for _, tenant := range []string{"acme", "globex"} {
		ctx := itsm.WithTenant(context.Background(), tenant)
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
			require.NoError(tb, x.IndexText(ctx, entries))
		}
	}
}
