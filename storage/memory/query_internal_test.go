package memory

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// An unordered query takes the narrower of the best hash set and the
// composite index range its first-field filter fixes, and the same
// documents come back whichever it takes.
func TestEachCandidateTakesTheNarrowerSource(t *testing.T) {
	ctx := t.Context()
	sc := storage.Schema{Kind: "inc", Fields: []storage.Field{
		{Name: "state", Type: storage.TypeString},
		{Name: "parent", Type: storage.TypeString},
		{Name: "caller", Type: storage.TypeString, CompositeOnly: true},
	}, Indexes: []storage.Index{
		{Name: "children", Fields: []string{"parent", "state"}},
		{Name: "by_caller", Fields: []string{"caller", "state"}},
	}}
	s := New()
	require.NoError(t, s.Register(ctx, sc))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i := range 400 {
			parent, caller := "", fmt.Sprintf("c%d", i%4)
			if i < 5 {
				parent = "p1"
			}
			d := storage.Document{Kind: "inc", ID: fmt.Sprintf("i%03d", i), Version: 1,
				Fields: []storage.Value{storage.String("open"), storage.String(parent), storage.String(caller)}}
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	open := storage.Eq("state", storage.String("open"))
	tests := []struct {
		name    string
		filters []storage.Filter
		source  string
		matches int
	}{
		{"a caller's range beats every open incident", []storage.Filter{storage.Eq("caller", storage.String("c1")), open}, byPrefix, 100},
		{"a rare parent's hash set beats a caller's range", []storage.Filter{storage.Eq("caller", storage.String("c1")), storage.Eq("parent", storage.String("p1"))}, byHash, 1},
		{"a hash set as narrow as the range", []storage.Filter{storage.Eq("parent", storage.String("p1"))}, byHash, 5},
		{"a CompositeOnly field alone has only its index", []storage.Filter{storage.In("caller", storage.String("c2"), storage.String("c3"))}, byPrefix, 200},
		{"no children: the empty hash set is narrower than any range", []storage.Filter{storage.Eq("parent", storage.String("none")), open}, byHash, 0},
		{"no Eq or In", []storage.Filter{storage.Gt("state", storage.String("a"))}, byScan, 400},
	}
	kd := s.tenants[itsm.DefaultTenant].kinds["inc"]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := sc.CheckQuery(storage.Query{Kind: "inc", Filters: tt.filters})
			require.NoError(t, err)
			n := 0
			got := kd.eachCandidate(p, func(d storage.Document) {
				if p.Matches(d) {
					n++
				}
			})
			assert.Equal(t, tt.source, got)
			assert.Equal(t, tt.matches, n)
		})
	}
}

func TestDistinct(t *testing.T) {
	v := func(ns ...int64) []storage.Value {
		out := make([]storage.Value, len(ns))
		for i, n := range ns {
			out[i] = storage.Int(n)
		}
		return out
	}
	long := make([]int64, 0, 40)
	for i := range 20 {
		long = append(long, int64(i), int64(i))
	}
	wantLong := make([]int64, 20)
	for i := range wantLong {
		wantLong[i] = int64(i)
	}
	tests := []struct {
		name     string
		in, want []storage.Value
	}{
		{"empty", nil, nil},
		{"one", v(1), v(1)},
		{"no repeats", v(3, 1, 2), v(3, 1, 2)},
		{"repeats, first seen order", v(2, 2, 1, 2, 3, 1), v(2, 1, 3)},
		{"long list through a set", v(long...), v(wantLong...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, distinct(tt.in))
		})
	}
}
