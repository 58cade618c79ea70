package sqlite

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var edgeSchema = storage.Schema{Kind: "rel", Fields: []storage.Field{
	{Name: "src", Type: storage.TypeString}, {Name: "dst", Type: storage.TypeString}, {Name: "typ", Type: storage.TypeString}}}

// plain hides Store's optional interfaces, so storage.Traverse runs its
// generic breadth-first search.
type plain struct{ storage.Backend }

// seedGraph writes a random graph with cycles, parallel edges and self
// loops over nodes n000.., edges e00000...
func seedGraph(t testing.TB, s *Store, nodes, edges int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	types := []string{"runs_on", "depends_on", "hosts"}
	docs := make([]storage.Document, edges)
	for i := range docs {
		docs[i] = storage.Document{Kind: "rel", ID: fmt.Sprintf("e%05d", r.IntN(10*edges)*edges+i), Version: 1, Fields: []storage.Value{
			storage.String(fmt.Sprintf("n%03d", r.IntN(nodes))), storage.String(fmt.Sprintf("n%03d", r.IntN(nodes))),
			storage.String(types[r.IntN(len(types))])}}
	}
	require.NoError(t, s.Import(t.Context(), docs, nil))
}

func TestTraverseMatchesFallback(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, edgeSchema))
	seedGraph(t, s, 150, 400, 11)
	base := storage.TraverseParams{Edges: edgeSchema, FromField: "src", ToField: "dst", TypeField: "typ"}
	var starts [][]string
	for i := range 6 {
		starts = append(starts, []string{fmt.Sprintf("n%03d", i*17)})
	}
	starts = append(starts, []string{"n001", "n002", "n001", "n140"}, []string{"nobody"})
	depths, limits := []int{1, 2, 5, storage.MaxTraverseDepth}, []int{0, 1, 10}
	if raceEnabled || testing.Short() {
		starts, depths, limits = starts[len(starts)-3:], []int{2, storage.MaxTraverseDepth}, []int{0, 3}
	}
	for si, start := range starts {
		for _, dir := range []storage.Direction{storage.Down, storage.Up} {
			for _, depth := range depths {
				for _, types := range [][]string{nil, {"runs_on"}, {"hosts", "depends_on", "nothing"}} {
					for _, limit := range limits {
						p := base
						p.Start, p.Direction, p.MaxDepth, p.Types, p.Limit = start, dir, depth, types, limit
						t.Run(fmt.Sprintf("start%d/dir%d/depth%d/types%d/limit%d", si, dir, depth, len(types), limit), func(t *testing.T) {
							want, err := storage.Traverse(ctx, plain{s}, p)
							require.NoError(t, err)
							got, err := storage.Traverse(ctx, s, p)
							require.NoError(t, err)
							require.Equal(t, want, got)
						})
					}
				}
			}
		}
	}

	t.Run("refusals", func(t *testing.T) {
		bad := base
		bad.Start, bad.Direction, bad.MaxDepth = []string{"n001"}, storage.Down, 0
		_, err := s.Traverse(ctx, bad)
		require.ErrorIs(t, err, itsm.ErrInvalid)
		bad.MaxDepth, bad.Edges = 2, storage.Schema{Kind: "unregistered", Fields: edgeSchema.Fields}
		_, err = s.Traverse(ctx, bad)
		require.ErrorIs(t, err, itsm.ErrInvalid)
		bad.Edges, bad.Types = edgeSchema, make([]string, storage.MaxInValues+1)
		_, err = s.Traverse(ctx, bad)
		require.ErrorIs(t, err, itsm.ErrInvalid)
	})
}

// TestTraverseWideFrontier: a level wider than storage.MaxInValues runs in
// chunks and still matches the fallback.
func TestTraverseWideFrontier(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, edgeSchema))
	var docs []storage.Document
	edge := func(id, from, to string) storage.Document {
		return storage.Document{Kind: "rel", ID: id, Version: 1, Fields: []storage.Value{storage.String(from), storage.String(to), storage.String("t")}}
	}
	n := 2500
	if raceEnabled || testing.Short() {
		n = 1100
	}
	for i := range n {
		child := fmt.Sprintf("c%04d", i)
		docs = append(docs, edge("a"+child, "root", child), edge("b"+child, child, fmt.Sprintf("g%03d", i%700)))
	}
	require.NoError(t, s.Import(ctx, docs, nil))
	p := storage.TraverseParams{Edges: edgeSchema, FromField: "src", ToField: "dst", TypeField: "typ",
		Start: []string{"root"}, Direction: storage.Down, MaxDepth: 3}
	want, err := storage.Traverse(ctx, plain{s}, p)
	require.NoError(t, err)
	got, err := s.Traverse(ctx, p)
	require.NoError(t, err)
	require.Len(t, got, n+700)
	require.Equal(t, want, got)
}
