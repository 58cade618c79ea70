package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// plain hides every optional capability of the store, so package storage
// runs its generic fallbacks against it.
type plain struct{ storage.Backend }

func edgeSchema() storage.Schema {
	return storage.Schema{Kind: "rel", Fields: []storage.Field{
		{Name: "src", Type: storage.TypeString}, {Name: "dst", Type: storage.TypeString}, {Name: "typ", Type: storage.TypeString},
	}}
}

func edge(id, from, to, typ string) storage.Document {
	return storage.Document{Kind: "rel", ID: id, Version: 1, Data: []byte("{}"),
		Fields: []storage.Value{storage.String(from), storage.String(to), storage.String(typ)}}
}

// TestTraverseMatchesFallback builds a random graph with cycles, self loops,
// parallel edges and nodes reachable at several depths, and checks that the
// recursive CTE answers exactly like the generic breadth-first search for
// every direction, type filter, depth and limit.
func TestTraverseMatchesFallback(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sc := edgeSchema()
	require.NoError(t, s.Register(ctx, sc))
	r := rand.New(rand.NewPCG(3, 4))
	types := []string{"depends_on", "runs_on", "uses"}
	node := func() string { return fmt.Sprintf("n%03d", r.IntN(120)) }
	var edges []storage.Document
	for i := range 400 {
		from, to := node(), node()
		if i%50 == 0 {
			to = from // self loop
		}
		edges = append(edges, edge(fmt.Sprintf("e%05d", r.IntN(1_000_000)*1000+i), from, to, types[r.IntN(len(types))]))
	}
	// Parallel edges between the same nodes, with ids out of insertion order.
	edges = append(edges, edge("e_zz", "n000", "n001", "uses"), edge("e_aa", "n000", "n001", "runs_on"), edge("e_mm", "n000", "n001", "uses"))
	require.NoError(t, storage.Import(ctx, s, edges, nil))

	starts := [][]string{{"n000"}, {"n005", "n017", "n005"}, {"missing"}, {"n001", "n002", "n003", "n004"}}
	typeSets := [][]string{nil, {"uses"}, {"runs_on", "depends_on"}, {"nothing"}}
	for _, start := range starts {
		for _, dir := range []storage.Direction{storage.Down, storage.Up} {
			for _, ts := range typeSets {
				for _, depth := range []int{1, 2, 3, storage.MaxTraverseDepth} {
					for _, limit := range []int{0, 1, 7, 40} {
						p := storage.TraverseParams{Edges: sc, FromField: "src", ToField: "dst", TypeField: "typ",
							Start: start, Direction: dir, Types: ts, MaxDepth: depth, Limit: limit}
						name := fmt.Sprintf("%v/dir%d/%v/depth%d/limit%d", start, dir, ts, depth, limit)
						want, err := storage.Traverse(ctx, plain{s}, p)
						require.NoError(t, err, name)
						got, err := storage.Traverse(ctx, s, p)
						require.NoError(t, err, name)
						require.Equal(t, want, got, name)
					}
				}
			}
		}
	}
	// Refusals match too.
	bad := storage.TraverseParams{Edges: sc, FromField: "src", ToField: "nope", TypeField: "typ", Start: []string{"n000"}, Direction: storage.Down, MaxDepth: 1}
	_, err := s.Traverse(ctx, bad)
	require.ErrorIs(t, err, itsm.ErrInvalid)
	unregistered := storage.TraverseParams{Edges: storage.Schema{Kind: "other", Fields: sc.Fields}, FromField: "src", ToField: "dst", TypeField: "typ",
		Start: []string{"n000"}, Direction: storage.Down, MaxDepth: 1}
	_, err = s.Traverse(ctx, unregistered)
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestTraverseTies checks the tie rules on a small graph by hand: a node
// reached from two parents at the same depth takes the smaller parent, and
// from one parent the smaller edge id.
func TestTraverseTies(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.Register(ctx, edgeSchema()))
	require.NoError(t, storage.Import(ctx, s, []storage.Document{
		edge("e9", "root", "b", "x"), edge("e8", "root", "a", "x"),
		edge("e7", "b", "c", "x"), edge("e6", "a", "c", "y"), edge("e5", "a", "c", "x"), edge("e1", "b", "c", "z"),
		edge("e4", "c", "root", "x"), edge("e3", "c", "a", "x"),
	}, nil))
	p := storage.TraverseParams{Edges: edgeSchema(), FromField: "src", ToField: "dst", TypeField: "typ",
		Start: []string{"root"}, Direction: storage.Down, MaxDepth: 5}
	got, err := s.Traverse(ctx, p)
	require.NoError(t, err)
	require.Equal(t, []storage.Hop{
		{ID: "a", Depth: 1, Parent: "root", Edge: "e8", Type: "x"},
		{ID: "b", Depth: 1, Parent: "root", Edge: "e9", Type: "x"},
		{ID: "c", Depth: 2, Parent: "a", Edge: "e5", Type: "x"},
	}, got)
	p.Direction = storage.Up
	p.Start = []string{"c"}
	got, err = s.Traverse(ctx, p)
	require.NoError(t, err)
	want, err := storage.Traverse(ctx, plain{s}, p)
	require.NoError(t, err)
	require.Equal(t, want, got)
}
