package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// countingStore is a memory store that reports how often its Counter is
// asked, to tell Records.Count's store count from its walk.
type countingStore struct {
	*memory.Store
	counts int
}

func (s *countingStore) Count(ctx context.Context, q storage.Query) (int, error) {
	s.counts++
	return s.Store.Count(ctx, q)
}

// newCountFixture stores calls of carl and cora worked by network,
// database or no group, and returns Records over a store that counts its
// Count calls.
func newCountFixture(t *testing.T, az itsm.Authorizer) (*storage.Records[call, *call], *countingStore) {
	t.Helper()
	f := newAccessFixture(t, az, nil)
	store := &countingStore{Store: f.store}
	recs, err := storage.NewRecords(storage.Backend(store), f.recs.Collection(), f.recs.Machine(), storage.RecordsConfig{Prefix: "CALL", Authorizer: az})
	require.NoError(t, err)
	for i, c := range []struct {
		caller, group string
		prio          int64
	}{
		{"carl", "network", 1}, {"carl", "network", 2}, {"carl", "", 3}, {"carl", "database", 1},
		{"cora", "network", 1}, {"cora", "database", 2}, {"cora", "database", 3}, {"cora", "", 1},
		{"cora", "network", 4},
	} {
		require.NoError(t, recs.Create(as(admin), &call{Title: "call", CallerID: c.caller, Group: c.group, Priority: c.prio}, storage.Command{}), i)
	}
	return recs, store
}

// Count gives each actor the number of records Query hands out to them over
// all its pages, counted by the store with the read scope as a filter: a
// caller counts their own calls whatever filter they pass, an agent their
// groups' and the unassigned.
func TestRecordsCount(t *testing.T) {
	recs, store := newCountFixture(t, itsm.DefaultAuthorizer())
	byPrio := []storage.Filter{storage.Eq("priority", storage.Int(1))}
	othersCalls := []storage.Filter{storage.Eq("caller_id", storage.String("cora"))}
	tests := []struct {
		name    string
		actor   itsm.Actor
		filters []storage.Filter
		want    int
	}{
		{"admin, every call", admin, nil, 9},
		{"admin, a filter", admin, byPrio, 4},
		{"manager", manager, nil, 9},
		{"caller", carl, nil, 4},
		{"caller, a filter", carl, byPrio, 2},
		{"caller asking for another's calls", carl, othersCalls, 0},
		{"caller asking for a group's calls", carl, []storage.Filter{storage.Eq("group", storage.String("database"))}, 1},
		{"agent of network", netAnn, nil, 6},
		{"agent of network, another caller", netAnn, othersCalls, 3},
		{"agent of database, a filter", dbDan, byPrio, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := store.counts
			got, err := recs.Count(as(tt.actor), storage.Query{Filters: tt.filters, Limit: 2})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, before+1, store.counts, "counted by the store")
			all, err := recs.All(as(tt.actor), storage.Query{Filters: tt.filters})
			require.NoError(t, err)
			assert.Len(t, all, got, "what Query hands out")
		})
	}
}

// A read rule that looks at the record cannot be a store filter: Count
// then walks Query's pages and counts what the rule lets through, never
// the records it refuses.
func TestRecordsCountWithARecordRule(t *testing.T) {
	az := itsm.DefaultAuthorizer()
	az.AddRule("call", itsm.ActionRead, func(_ context.Context, req itsm.AccessRequest) string {
		if c, ok := req.Record.(*call); ok && c.Priority == 1 && !req.Actor.HasRole("admin") {
			return "priority 1 calls are confidential"
		}
		return ""
	})
	recs, store := newCountFixture(t, az)
	tests := []struct {
		name  string
		actor itsm.Actor
		want  int
	}{
		{"admin", admin, 9},
		{"manager", manager, 5},
		{"caller", carl, 2},
		{"agent of network", netAnn, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recs.Count(as(tt.actor), storage.Query{})
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Zero(t, store.counts, "walked, not counted by the store")
		})
	}
}

// No one counts what they may not read: no actor, an actor without the
// read grant, another tenant's calls, bad queries.
func TestRecordsCountBypass(t *testing.T) {
	recs, _ := newCountFixture(t, itsm.DefaultAuthorizer())
	stranger := itsm.Actor{ID: "sam", Roles: []string{"visitor"}}
	tests := []struct {
		name string
		ctx  context.Context
		q    storage.Query
		want int
		err  error
	}{
		{"no actor", context.Background(), storage.Query{}, 0, itsm.ErrForbidden},
		{"no read grant", as(stranger), storage.Query{}, 0, itsm.ErrForbidden},
		{"another tenant", itsm.WithTenant(as(admin), "globex"), storage.Query{}, 0, nil},
		{"another kind named in the query", as(carl), storage.Query{Kind: "other"}, 4, nil},
		{"an unindexed field", as(admin), storage.Query{Filters: []storage.Filter{storage.Eq("title", storage.String("call"))}}, 0, itsm.ErrInvalid},
		{"a wrongly typed value", as(carl), storage.Query{Filters: []storage.Filter{storage.Eq("priority", storage.String("1"))}}, 0, itsm.ErrInvalid},
		{"nil context", nil, storage.Query{}, 0, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recs.Count(tt.ctx, tt.q)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
