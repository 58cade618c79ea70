package transition_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// bank is a small service map:
//
//	online_banking (business service) depends_on web, payments (service) depends_on api
//	web depends_on api; api depends_on db; web runs_on vm1; api runs_on vm2
//	vm1, vm2 runs_on host1; db runs_on host2; host1 member_of cluster
type bank struct {
	*env
	svc, pay, web, api, db, vm1, vm2, host1, host2, cluster string
}

func newBank(t testing.TB) *bank { return newBankOn(t, memory.New()) }

// newBankOn builds the bank's service map on the given store.
func newBankOn(t testing.TB, store storage.Backend) *bank {
	e := newEnvOn(t, store)
	b := &bank{env: e}
	b.svc = e.ci(t, "Online banking", transition.ClassBusinessService)
	b.pay = e.ci(t, "Payments", transition.ClassBusinessService)
	b.web = e.ci(t, "web", transition.ClassApplication)
	b.api = e.ci(t, "api", transition.ClassApplication)
	b.db = e.ci(t, "db", transition.ClassDatabase)
	b.vm1 = e.ci(t, "vm1", transition.ClassVirtualMachine)
	b.vm2 = e.ci(t, "vm2", transition.ClassVirtualMachine)
	b.host1 = e.ci(t, "host1", transition.ClassServer)
	b.host2 = e.ci(t, "host2", transition.ClassServer)
	b.cluster = e.ci(t, "cluster", transition.ClassCluster)
	e.rel(t, b.svc, transition.RelDependsOn, b.web)
	e.rel(t, b.pay, transition.RelDependsOn, b.api)
	e.rel(t, b.web, transition.RelDependsOn, b.api)
	e.rel(t, b.api, transition.RelDependsOn, b.db)
	e.rel(t, b.web, transition.RelRunsOn, b.vm1)
	e.rel(t, b.api, transition.RelRunsOn, b.vm2)
	e.rel(t, b.vm1, transition.RelRunsOn, b.host1)
	e.rel(t, b.vm2, transition.RelRunsOn, b.host1)
	e.rel(t, b.db, transition.RelRunsOn, b.host2)
	e.rel(t, b.host1, transition.RelMemberOf, b.cluster)
	return b
}

func TestImpactUpstreamFindsServicesWithPaths(t *testing.T) {
	b := newBank(t)
	ctx := as(admin)
	imp, err := b.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{b.host1}, Direction: transition.Upstream})
	require.NoError(t, err)
	var ids []string
	for _, a := range imp.Affected {
		ids = append(ids, a.ID)
	}
	assert.ElementsMatch(t, []string{b.vm1, b.vm2, b.web, b.api, b.svc, b.pay, b.cluster}, ids)
	require.Len(t, imp.Services, 2)
	byName := map[string]transition.AffectedService{}
	for _, s := range imp.Services {
		byName[s.Name] = s
	}
	pay := byName["Payments"]
	assert.Equal(t, 3, pay.Depth)
	require.Len(t, pay.Path, 4)
	assert.Equal(t, []string{b.host1, b.vm2, b.api, b.pay}, []string{pay.Path[0].CI, pay.Path[1].CI, pay.Path[2].CI, pay.Path[3].CI})
	assert.Equal(t, transition.RelRunsOn, pay.Path[1].Type)
	assert.Equal(t, transition.RelDependsOn, pay.Path[3].Type)

	// Relationship-type filter and depth limit.
	imp, err = b.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{b.host1}, Direction: transition.Upstream, Types: []string{transition.RelRunsOn}})
	require.NoError(t, err)
	assert.Len(t, imp.Affected, 4) // vm1, vm2, web, api
	assert.Empty(t, imp.Services)
	imp, err = b.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{b.host1}, Direction: transition.Upstream, MaxDepth: 1})
	require.NoError(t, err)
	assert.Len(t, imp.Affected, 3) // vm1, vm2, cluster

	// Downstream from the service: everything it rests on.
	imp, err = b.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{b.svc}, Direction: transition.Downstream})
	require.NoError(t, err)
	assert.Len(t, imp.Affected, 7) // web api db vm1 vm2 host1 host2 (not the cluster: it depends on host1)

	// The graph answers exactly the same.
	g, err := transition.LoadGraph(ctx, b.cmdb)
	require.NoError(t, err)
	for _, q := range []transition.ImpactQuery{
		{CIs: []string{b.host1}, Direction: transition.Upstream},
		{CIs: []string{b.host1, b.host2}, Direction: transition.Upstream, MaxDepth: 2},
		{CIs: []string{b.svc}, Direction: transition.Downstream, Types: []string{transition.RelRunsOn, transition.RelDependsOn}},
		{CIs: []string{b.db}, Direction: transition.Upstream, Limit: 2},
	} {
		want, err := b.cmdb.Impact(ctx, q)
		require.NoError(t, err)
		got, err := g.Impact(ctx, b.cmdb, q)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
}

func TestImpactRefusals(t *testing.T) {
	b := newBank(t)
	g, err := transition.LoadGraph(as(admin), b.cmdb)
	require.NoError(t, err)
	for _, q := range []transition.ImpactQuery{
		{Direction: transition.Upstream},
		{CIs: []string{""}, Direction: transition.Upstream},
		{CIs: []string{b.db}},
		{CIs: []string{b.db}, Direction: transition.Upstream, MaxDepth: 65},
		{CIs: []string{b.db}, Direction: transition.Upstream, Limit: -1},
		{CIs: []string{b.db}, Direction: transition.Upstream, Types: []string{"likes"}},
	} {
		_, err := b.cmdb.Impact(as(admin), q)
		assert.ErrorIs(t, err, itsm.ErrInvalid, "%+v", q)
		_, err = g.Impact(as(admin), b.cmdb, q)
		assert.ErrorIs(t, err, itsm.ErrInvalid, "%+v", q)
	}
	unknown := transition.ImpactQuery{CIs: []string{b.db, itsm.NewID()}, Direction: transition.Upstream}
	_, err = b.cmdb.Impact(as(admin), unknown)
	assert.ErrorIs(t, err, itsm.ErrNotFound)
	_, err = g.Impact(as(admin), b.cmdb, unknown)
	assert.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestGraphRefreshFollowsTheLog(t *testing.T) {
	b := newBank(t)
	ctx := as(admin)
	g, err := transition.LoadGraph(ctx, b.cmdb)
	require.NoError(t, err)
	st := g.Stats()
	assert.Equal(t, 10, st.CIs)
	assert.Equal(t, 10, st.Relationships)

	// Change the map after the load: a new service, a removed link.
	svc3 := b.ci(t, "Branch banking", transition.ClassBusinessService)
	b.rel(t, svc3, transition.RelDependsOn, b.db)
	rels, err := b.cmdb.Relationships(ctx, b.host1)
	require.NoError(t, err)
	for _, r := range rels {
		if r.Type == transition.RelMemberOf {
			_, err := b.cmdb.Unrelate(as(agent), r.ID, storage.Command{})
			require.NoError(t, err)
		}
	}
	n, err := g.Refresh(ctx)
	require.NoError(t, err)
	assert.Positive(t, n)
	assert.Equal(t, 10, g.Stats().Relationships)
	q := transition.ImpactQuery{CIs: []string{b.host1, b.host2}, Direction: transition.Upstream}
	want, err := b.cmdb.Impact(ctx, q)
	require.NoError(t, err)
	got, err := g.Impact(ctx, b.cmdb, q)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Len(t, got.Services, 3)
	n, err = g.Refresh(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// refHop is the reference answer of a traversal.
type refEdge struct{ id, up, dn, typ string }

// referenceTraverse is the simplest correct reading of storage.Hop's rules:
// each node once at its smallest depth, parent the smallest id one level up,
// edge the smallest id from that parent, ordered by depth then id, cut at
// limit.
func referenceTraverse(edges []refEdge, start []string, dir storage.Direction, types []string, maxDepth, limit int) []storage.Hop {
	if limit == 0 {
		limit = storage.MaxTraverseHops
	}
	seen := map[string]bool{}
	for _, s := range start {
		seen[s] = true
	}
	frontier := map[string]bool{}
	for _, s := range start {
		frontier[s] = true
	}
	var out []storage.Hop
	for depth := 1; depth <= maxDepth && len(frontier) > 0; depth++ {
		best := map[string]storage.Hop{}
		for _, e := range edges {
			near, far := e.up, e.dn
			if dir == storage.Up {
				near, far = e.dn, e.up
			}
			if !frontier[near] || seen[far] || len(types) > 0 && !slices.Contains(types, e.typ) {
				continue
			}
			h := storage.Hop{ID: far, Depth: depth, Parent: near, Edge: e.id, Type: e.typ}
			if cur, ok := best[far]; !ok || h.Parent < cur.Parent || h.Parent == cur.Parent && h.Edge < cur.Edge {
				best[far] = h
			}
		}
		var level []storage.Hop
		for _, h := range best {
			level = append(level, h)
		}
		slices.SortFunc(level, func(a, b storage.Hop) int { return cmpStr(a.ID, b.ID) })
		frontier = map[string]bool{}
		for _, h := range level {
			if len(out) == limit {
				return out
			}
			out = append(out, h)
			seen[h.ID] = true
			frontier[h.ID] = true
		}
	}
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// randomCMDB builds a random CMDB from the seed: n CIs, m relationship
// attempts of random types (acyclic types refuse cycles, connected_to keeps
// them), and some removals. It returns the active relationships.
func randomCMDB(t testing.TB, e *env, rng *rand.Rand, n, m int) ([]string, []refEdge) {
	ids := make([]string, n)
	classes := []string{transition.ClassServer, transition.ClassApplication, transition.ClassBusinessService, transition.ClassDatabase}
	for i := range ids {
		ids[i] = e.ci(t, "ci", classes[rng.IntN(len(classes))])
	}
	types := []string{transition.RelDependsOn, transition.RelRunsOn, transition.RelConnectedTo, transition.RelMemberOf}
	var active []refEdge
	for range m {
		p, c := ids[rng.IntN(n)], ids[rng.IntN(n)]
		typ := types[rng.IntN(len(types))]
		r, err := e.cmdb.Relate(as(agent), p, typ, c, storage.Command{})
		if err != nil {
			continue // refused: self, duplicate or cycle
		}
		active = append(active, refEdge{id: r.ID, up: r.Upstream, dn: r.Downstream, typ: typ})
		if rng.IntN(8) == 0 {
			k := rng.IntN(len(active))
			_, err := e.cmdb.Unrelate(as(agent), active[k].id, storage.Command{})
			require.NoError(t, err)
			active = slices.Delete(active, k, k+1)
		}
	}
	return ids, active
}

func checkAgreement(t testing.TB, e *env, g *transition.Graph, ids []string, edges []refEdge, rng *rand.Rand, rounds int) {
	t.Helper()
	ctx := as(admin)
	allTypes := []string{transition.RelDependsOn, transition.RelRunsOn, transition.RelConnectedTo, transition.RelMemberOf}
	for range rounds {
		start := []string{ids[rng.IntN(len(ids))]}
		if rng.IntN(3) == 0 {
			start = append(start, ids[rng.IntN(len(ids))])
		}
		dir := storage.Direction(1 + rng.IntN(2))
		var types []string
		if rng.IntN(2) == 0 {
			types = []string{allTypes[rng.IntN(4)]}
		}
		depth := 1 + rng.IntN(6)
		limit := 0
		if rng.IntN(4) == 0 {
			limit = 1 + rng.IntN(5)
		}
		want := referenceTraverse(edges, start, dir, types, depth, limit)
		p := storage.TraverseParams{Edges: transition.RelationshipCollection().Schema(), FromField: transition.EdgeUpstream,
			ToField: transition.EdgeDownstream, TypeField: transition.EdgeType, Start: start, Direction: dir, Types: types, MaxDepth: depth, Limit: limit}
		fromStore, err := storage.Traverse(ctx, e.store, p)
		require.NoError(t, err)
		fromGraph, err := g.Traverse(start, dir, types, depth, limit)
		require.NoError(t, err)
		if len(want) == 0 {
			require.Empty(t, fromStore)
			require.Empty(t, fromGraph)
			continue
		}
		require.Equal(t, want, fromStore, "store vs reference: start %v dir %d types %v depth %d limit %d", start, dir, types, depth, limit)
		require.Equal(t, want, fromGraph, "graph vs reference: start %v dir %d types %v depth %d limit %d", start, dir, types, depth, limit)
	}
}

func TestGraphAgreesWithStoreOnRandomGraphs(t *testing.T) {
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 7))
		e := newEnv(t)
		// Half the relationships before the load (rows), half after (overlay).
		ids, edges := randomCMDB(t, e, rng, 25, 40)
		g, err := transition.LoadGraph(as(admin), e.cmdb)
		require.NoError(t, err)
		checkAgreement(t, e, g, ids, edges, rng, 40)
		more := make([]string, 0)
		for range 5 {
			more = append(more, e.ci(t, "late", transition.ClassApplication))
		}
		ids = append(ids, more...)
		for range 40 {
			p, c := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
			r, err := e.cmdb.Relate(as(agent), p, transition.RelConnectedTo, c, storage.Command{})
			if err == nil {
				edges = append(edges, refEdge{id: r.ID, up: r.Upstream, dn: r.Downstream, typ: transition.RelConnectedTo})
			}
		}
		for range 5 {
			k := rng.IntN(len(edges))
			_, err := e.cmdb.Unrelate(as(agent), edges[k].id, storage.Command{})
			require.NoError(t, err)
			edges = slices.Delete(edges, k, k+1)
		}
		_, err = g.Refresh(as(admin))
		require.NoError(t, err)
		checkAgreement(t, e, g, ids, edges, rng, 60)
	}
}

func TestGraphCompactsALargeOverlay(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = e.ci(t, "n", transition.ClassApplication)
	}
	g, err := transition.LoadGraph(as(admin), e.cmdb)
	require.NoError(t, err)
	var edges []refEdge
	for len(edges) < 1100 {
		p, c := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
		r, err := e.cmdb.Relate(as(agent), p, transition.RelConnectedTo, c, storage.Command{})
		if err == nil {
			edges = append(edges, refEdge{id: r.ID, up: r.Upstream, dn: r.Downstream, typ: transition.RelConnectedTo})
		}
	}
	_, err = g.Refresh(as(admin))
	require.NoError(t, err)
	st := g.Stats()
	assert.Zero(t, st.Overlay, "the overlay was folded into the rows")
	assert.Equal(t, 1100, st.Relationships)
	checkAgreement(t, e, g, ids, edges, rng, 30)
}

// FuzzImpactAgreesWithReference builds a random graph (cycles included,
// through connected_to) from the fuzzer's bytes and checks that the graph
// index terminates and agrees with the reference traversal and the store.
func FuzzImpactAgreesWithReference(f *testing.F) {
	f.Add(uint64(1), uint8(8), uint8(20))
	f.Add(uint64(42), uint8(3), uint8(9))
	f.Add(uint64(7), uint8(12), uint8(60))
	f.Fuzz(func(t *testing.T, seed uint64, n, m uint8) {
		nodes := 2 + int(n)%14
		rng := rand.New(rand.NewPCG(seed, uint64(n)<<8|uint64(m)))
		e := newEnv(t)
		ids, edges := randomCMDB(t, e, rng, nodes, int(m)%48)
		g, err := transition.LoadGraph(as(admin), e.cmdb)
		require.NoError(t, err)
		checkAgreement(t, e, g, ids, edges, rng, 12)
	})
}

func TestCycleCheckOnTheGraph(t *testing.T) {
	b := newBank(t)
	ctx := as(admin)
	g, err := transition.LoadGraph(ctx, b.cmdb)
	require.NoError(t, err)
	b.cmdb.UseGraph(g)
	before := takeSnapshot(t, b.store, cmdbKinds...)
	// db depends_on web would close web → api → db → web.
	_, err = b.cmdb.Relate(as(agent), b.db, transition.RelDependsOn, b.web, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Contains(t, err.Error(), "cycle")
	assert.Equal(t, before, takeSnapshot(t, b.store, cmdbKinds...))
	// A cycle of another type is allowed: runs_on is checked on its own.
	_, err = b.cmdb.Relate(as(agent), b.db, transition.RelRunsOn, b.host1, storage.Command{})
	require.NoError(t, err)
	// Remove api → db; now db depends_on web closes nothing.
	rels, err := b.cmdb.Relationships(ctx, b.db)
	require.NoError(t, err)
	for _, r := range rels {
		if r.Type == transition.RelDependsOn && r.Child == b.db {
			_, err := b.cmdb.Unrelate(as(agent), r.ID, storage.Command{})
			require.NoError(t, err)
		}
	}
	_, err = b.cmdb.Relate(as(agent), b.db, transition.RelDependsOn, b.web, storage.Command{})
	require.NoError(t, err)
	// A new CI added since the load joins the walk through the overlay.
	x := b.ci(t, "x", transition.ClassApplication)
	b.rel(t, b.web, transition.RelDependsOn, x)
	_, err = b.cmdb.Relate(as(agent), x, transition.RelDependsOn, b.db, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}
