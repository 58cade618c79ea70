package customstore_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestMatchesMemory pages through random queue-shaped queries on the Redis
// store and on the memory reference store holding the same incidents, and
// requires the same documents in the same order, page by page: every plan
// (straight off an index, merged ranges for In lists, grouped, gathered).
func TestMatchesMemory(t *testing.T) {
	s := newStore(t)
	ref := memory.New()
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, benchSchema))
	require.NoError(t, ref.Register(ctx, benchSchema))
	r := rand.New(rand.NewPCG(9, 9))
	groups := []string{"network", "desktop", "database", ""}
	states := []string{"new", "in_progress", "resolved"}
	var docs []storage.Document
	for i := range 600 {
		d := benchDoc(fmt.Sprintf("inc%04d", r.IntN(10_000)), 1, int64(i))
		d.Fields = []storage.Value{storage.String(groups[r.IntN(len(groups))]), storage.String(states[r.IntN(len(states))]),
			storage.Int(int64(1 + r.IntN(5))), storage.Time(benchOpened.Add(time.Duration(r.IntN(50)) * time.Hour)), storage.Int(int64(r.IntN(4)))}
		docs = append(docs, d)
	}
	docs = dedupe(docs)
	for _, b := range []storage.Backend{s, ref} {
		require.NoError(t, storage.Import(ctx, b, docs, nil))
	}
	str, num := storage.String, storage.Int
	filters := [][]storage.Filter{
		nil,
		{storage.Eq("assignment_group", str("network"))},
		{storage.In("assignment_group", str("network"), str("database"), str("")), storage.Eq("state", str("new"))},
		{storage.In("assignment_group", str("desktop"), str("network")), storage.In("state", str("new"), str("in_progress"))},
		{storage.Eq("assignment_group", str("")), storage.Gte("priority", num(3))},
		{storage.In("priority", num(1), num(2)), storage.Lt("opened_at", storage.Time(benchOpened.Add(20*time.Hour)))},
		{storage.Gt("reassignment_count", num(1))},
	}
	sorts := [][]storage.Sort{
		nil,
		{{Field: "priority"}, {Field: "opened_at"}},
		{{Field: "priority", Desc: true}, {Field: "opened_at", Desc: true}},
		{{Field: "priority"}, {Field: "opened_at", Desc: true}},
		{{Field: "state"}, {Field: "priority"}, {Field: "opened_at"}},
		{{Field: "opened_at", Desc: true}},
		{{Field: "reassignment_count"}},
	}
	for fi, f := range filters {
		for si, o := range sorts {
			q := storage.Query{Kind: "incident", Filters: f, Sort: o, Limit: 10 + r.IntN(40)}
			want, got := q, q
			for page := 0; ; page++ {
				require.Less(t, page, 700, "pagination does not end")
				wp, err := ref.Query(ctx, want)
				require.NoError(t, err)
				gp, err := s.Query(ctx, got)
				require.NoError(t, err, "filters %d sort %d", fi, si)
				require.Equal(t, ids(wp.Docs), ids(gp.Docs), "filters %d sort %d page %d", fi, si, page)
				require.Equal(t, wp.Next == "", gp.Next == "", "filters %d sort %d page %d", fi, si, page)
				if wp.Next == "" {
					break
				}
				want.Cursor, got.Cursor = wp.Next, gp.Next
			}
		}
	}
}

func ids(docs []storage.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func dedupe(docs []storage.Document) []storage.Document {
	seen := map[string]bool{}
	var out []storage.Document
	for _, d := range docs {
		if !seen[d.ID] {
			seen[d.ID] = true
			out = append(out, d)
		}
	}
	return out
}
