package stream_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/internal/fixture"
)

func kinds() stream.Kinds {
	return stream.Kinds{fixture.Kind: stream.FieldsOf(fixture.Ticket{})}
}

func TestFieldsOf(t *testing.T) {
	f := stream.FieldsOf(&fixture.Ticket{})
	for _, want := range []string{"id", "number", "state", "version", "created_at", "title", "caller_id", "group", "priority", "notes"} {
		assert.Contains(t, f, want)
	}
	assert.Nil(t, stream.FieldsOf(3))
	assert.Nil(t, stream.FieldsOf(nil))
}

func TestCompileRefusesBadSubscriptions(t *testing.T) {
	tests := []struct {
		name string
		sub  stream.Subscription
		kind stream.Kinds
		want string
	}{
		{"empty name", stream.Subscription{}, kinds(), "name must be a lower-case identifier"},
		{"upper-case name", stream.Subscription{Name: "Hooks"}, kinds(), "name must be"},
		{"no catalogue", stream.Subscription{Name: "s"}, nil, "no kinds declared"},
		{"unknown kind", stream.Subscription{Name: "s", Kinds: []string{"incidnet"}}, kinds(), `unknown kind "incidnet" (known: ticket)`},
		{"bad tenant", stream.Subscription{Name: "s", Tenants: []string{"A B"}}, kinds(), `tenant "A B"`},
		{"empty event", stream.Subscription{Name: "s", Events: []string{""}}, kinds(), "event name"},
		{"unknown changed field", stream.Subscription{Name: "s", Changed: []string{"prio"}}, kinds(), `changed names unknown field "prio"`},
		{"unknown condition field", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "urgency", Op: stream.OpEq, Value: 1}}}, kinds(), `condition 0 names unknown field "urgency"`},
		{"unknown op", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: "like", Value: 1}}}, kinds(), `unknown operator "like"`},
		{"in without list", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpIn, Value: 1}}}, kinds(), "non-empty list"},
		{"in with empty list", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpIn, Value: []int{}}}}, kinds(), "non-empty list"},
		{"in with a nested list", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpIn, Value: []any{[]int{1}}}}}, kinds(), "list entry"},
		{"lt with bool", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpLt, Value: true}}}, kinds(), "number or a string"},
		{"eq with object", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpEq, Value: map[string]int{"a": 1}}}}, kinds(), "string, number, boolean or null"},
		{"changed with value", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpChanged, Value: 1}}}, kinds(), "takes no value"},
		{"value not JSON", stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpEq, Value: make(chan int)}}}, kinds(), "is not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.sub.Compile(tc.kind)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, f)
		})
	}
}

// setup returns a store with tickets and their events: ticket 0 (priority
// 1) started then resolved by the agent, ticket 1 (priority 2) edited by
// the manager.
func setup(t *testing.T) (context.Context, storage.Backend, []itsm.Event, []*fixture.Ticket) {
	t.Helper()
	ctx := context.Background()
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	recs, err := fixture.Open(ctx, b)
	require.NoError(t, err)
	ts, err := fixture.Create(ctx, recs, 2)
	require.NoError(t, err)
	agent := itsm.WithActor(ctx, fixture.Agent())
	_, err = recs.Fire(agent, ts[0].ID, "start", storage.Command{}, nil)
	require.NoError(t, err)
	_, err = recs.Fire(agent, ts[0].ID, "resolve", storage.Command{}, nil)
	require.NoError(t, err)
	_, err = recs.Change(itsm.WithActor(ctx, itsm.Actor{ID: "admin-1", Roles: []string{"admin"}}), ts[1].ID, storage.Command{}, func(tk *fixture.Ticket) error {
		tk.Priority = 1
		return nil
	})
	require.NoError(t, err)
	evs, err := b.ReadEvents(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, evs, 5) // create, create, start, resolve, update
	return ctx, b, evs, ts
}

func TestFilterMatches(t *testing.T) {
	ctx, b, evs, _ := setup(t)
	tests := []struct {
		name string
		sub  stream.Subscription
		want []string // event names matched, in order
	}{
		{"everything", stream.Subscription{}, []string{"create", "create", "start", "resolve", "update"}},
		{"by event", stream.Subscription{Events: []string{"resolve", "start"}}, []string{"start", "resolve"}},
		{"own actor skipped", stream.Subscription{Actor: fixture.Agent()}, []string{"update"}},
		{"other tenant", stream.Subscription{Tenants: []string{"acme"}}, nil},
		{"default tenant", stream.Subscription{Tenants: []string{itsm.DefaultTenant}}, []string{"create", "create", "start", "resolve", "update"}},
		{"changed priority", stream.Subscription{Changed: []string{"priority"}}, []string{"create", "create", "update"}},
		{"changed state", stream.Subscription{Changed: []string{"state"}}, []string{"create", "create", "start", "resolve"}},
		{"state became resolved", stream.Subscription{Where: []stream.Condition{{Field: "state", Op: stream.OpBecame, Value: "resolved"}}}, []string{"resolve"}},
		// The record after each event: ticket 0 was priority 1 throughout,
		// ticket 1 only after the update.
		{"priority is 1", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpEq, Value: 1}}}, []string{"create", "start", "resolve", "update"}},
		{"priority in", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpIn, Value: []int{2, 3}}}}, []string{"create"}},
		{"priority not in", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpNotIn, Value: []int{2, 3}}}}, []string{"create", "start", "resolve", "update"}},
		{"priority ne", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpNe, Value: 1}}}, []string{"create"}},
		{"priority gt", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpGt, Value: 1}}}, []string{"create"}},
		{"priority gte", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpGte, Value: 1}}}, []string{"create", "create", "start", "resolve", "update"}},
		{"priority lt", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpLt, Value: 2}}}, []string{"create", "start", "resolve", "update"}},
		{"priority lte", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpLte, Value: 1.5}}}, []string{"create", "start", "resolve", "update"}},
		{"state was in progress", stream.Subscription{Where: []stream.Condition{{Field: "state", Op: stream.OpEq, Value: "in_progress"}}}, []string{"start"}},
		{"string order", stream.Subscription{Where: []stream.Condition{{Field: "state", Op: stream.OpGte, Value: "new"}}}, []string{"create", "create", "resolve", "update"}},
		{"number against string", stream.Subscription{Where: []stream.Condition{{Field: "state", Op: stream.OpLt, Value: 3}}}, nil},
		{"absent member is null", stream.Subscription{Where: []stream.Condition{{Field: "notes", Op: stream.OpEq, Value: nil}}}, nil},
		{"changed op", stream.Subscription{Where: []stream.Condition{{Field: "priority", Op: stream.OpChanged}}}, []string{"create", "create", "update"}},
		{"all conditions", stream.Subscription{Events: []string{"update", "resolve"}, Where: []stream.Condition{
			{Field: "priority", Op: stream.OpEq, Value: 1}, {Field: "state", Op: stream.OpEq, Value: "new"}}}, []string{"update"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.sub.Name = "sub"
			f, err := tc.sub.Compile(kinds())
			require.NoError(t, err)
			var got []string
			for _, ev := range evs {
				ok, err := f.Match(ctx, b, ev)
				require.NoError(t, err)
				if ok {
					got = append(got, ev.Name)
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFilterHandlerPassesMatchesInOrder(t *testing.T) {
	ctx, b, evs, _ := setup(t)
	f, err := stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpEq, Value: 1}}}.Compile(kinds())
	require.NoError(t, err)
	var got [][]int64
	h := f.Handler(b, stream.HandlerFunc(func(_ context.Context, batch []itsm.Event) error {
		var seqs []int64
		for _, ev := range batch {
			seqs = append(seqs, ev.Seq)
		}
		got = append(got, seqs)
		return nil
	}))
	_, err = fixture.Pump(ctx, b, h, 0, 2)
	require.NoError(t, err)
	// Batches [c0 c1] [start resolve] [update]: ticket 1's creation is not priority 1.
	assert.Equal(t, [][]int64{{evs[0].Seq}, {evs[2].Seq, evs[3].Seq}, {evs[4].Seq}}, got)

	err = f.Handler(b, nil).Handle(ctx, evs)
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestMatchOnDeletedRecordAndBadArguments(t *testing.T) {
	ctx, b, evs, _ := setup(t)
	f, err := stream.Subscription{Name: "s", Where: []stream.Condition{{Field: "priority", Op: stream.OpEq, Value: 1}}}.Compile(kinds())
	require.NoError(t, err)
	gone := evs[0]
	gone.RecordID = itsm.NewID()
	ok, err := f.Match(ctx, b, gone)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = f.Match(nil, b, evs[0]) //nolint:staticcheck // a nil context is refused, not a panic
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = f.Match(ctx, nil, evs[0])
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestSubscriptionIsJSON(t *testing.T) {
	const doc = `{"name":"p1_resolved","actor":{"id":"bot"},"kinds":["ticket"],"events":["resolve"],
		"where":[{"field":"priority","op":"eq","value":1}]}`
	var s stream.Subscription
	require.NoError(t, json.Unmarshal([]byte(doc), &s))
	f, err := s.Compile(kinds())
	require.NoError(t, err)
	assert.Equal(t, []string{"ticket"}, f.Kinds())
	assert.Equal(t, "p1_resolved", f.Subscription().Name)
}

func TestReadPayloadHidesWhatTheActorMayNotSee(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	recs, err := fixture.Open(ctx, b)
	require.NoError(t, err)
	ts, err := fixture.Create(ctx, recs, 1)
	require.NoError(t, err)
	_, err = recs.Change(itsm.WithActor(ctx, fixture.Agent()), ts[0].ID, storage.Command{}, func(tk *fixture.Ticket) error {
		tk.Notes, tk.Title = "more secret", "renamed"
		return nil
	})
	require.NoError(t, err)
	evs, err := b.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	r := stream.Readers{fixture.Kind: stream.RecordReader(recs)}

	tests := []struct {
		name    string
		actor   itsm.Actor
		skip    bool
		notes   bool
		changes []string
	}{
		{"caller: own ticket, no internal", fixture.Caller(), false, false, []string{"title"}},
		{"manager: internal too", fixture.Manager(), false, true, []string{"title", "notes"}},
		{"other caller: skipped", itsm.Actor{ID: "x", Roles: []string{"caller"}}, true, false, nil},
		{"no roles: skipped", itsm.Actor{ID: "y"}, true, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, skip, err := stream.ReadPayload(ctx, r, tc.actor, evs[1])
			require.NoError(t, err)
			assert.Equal(t, tc.skip, skip)
			if tc.skip {
				return
			}
			var rec fixture.Ticket
			require.NoError(t, json.Unmarshal(p.Record, &rec))
			assert.Equal(t, "renamed", rec.Title)
			assert.Equal(t, tc.notes, rec.Notes != "")
			var fields []string
			for _, c := range p.Event.Changes {
				fields = append(fields, c.Field)
			}
			assert.ElementsMatch(t, tc.changes, fields)
			assert.Equal(t, evs[1].Seq, p.Event.Seq)
		})
	}
	_, skip, err := stream.ReadPayload(ctx, stream.Readers{}, fixture.Manager(), evs[0])
	require.NoError(t, err)
	assert.True(t, skip, "a kind without a reader is not delivered")
}

// The tenant filter reads each event's Tenant (a consumer of every tenant
// hands them all in); an event without one is the default tenant's.
func TestFilterByTenant(t *testing.T) {
	ctx, b, evs, _ := setup(t)
	acme := evs[0]
	acme.Tenant = "acme"
	tests := []struct {
		tenants []string
		ev      itsm.Event
		want    bool
	}{
		{[]string{"acme"}, acme, true},
		{[]string{"acme", "globex"}, acme, true},
		{[]string{itsm.DefaultTenant}, acme, false},
		{[]string{itsm.DefaultTenant}, evs[0], true},
		{nil, acme, true},
		{[]string{"globex"}, evs[0], false},
	}
	for i, tc := range tests {
		f, err := stream.Subscription{Name: "s", Tenants: tc.tenants}.Compile(kinds())
		require.NoError(t, err)
		ok, err := f.Match(ctx, b, tc.ev)
		require.NoError(t, err)
		assert.Equal(t, tc.want, ok, "case %d", i)
	}
}

// The pillars' records are what RecordReader reads through.
var _ stream.RecordSource[*fixture.Ticket] = (*fixture.Records)(nil)
