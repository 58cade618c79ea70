package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// numberedTicket is a case document of numberedSchema with its number.
func numberedTicket(id, number, state string) storage.Document {
	return storage.Document{Kind: "case", ID: id, Version: 1, Data: []byte(`{"id":"` + id + `"}`),
		Fields: []storage.Value{storage.String(number), storage.String(state)}}
}

// putIn writes d in the tenant of ctx.
func putIn(ctx context.Context, s *Store, d storage.Document, expected int64) error {
	return s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, expected) })
}

// TestTenantIsolation: two tenants on one file see nothing of each other's
// documents, numbers, sequences, events or edges.
func TestTenantIsolation(t *testing.T) {
	s := openTest(t)
	bg := t.Context()
	acme, beta := itsm.WithTenant(bg, "acme"), itsm.WithTenant(bg, "beta")
	require.NoError(t, s.Register(bg, numberedSchema))
	require.NoError(t, s.Register(bg, edgeSchema))

	// Each tenant draws its own INC0000001 and keeps it.
	for _, ctx := range []context.Context{acme, beta, bg} {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			n, err := tx.NextSequence(ctx, "case")
			if err != nil {
				return err
			}
			require.Equal(t, int64(1), n, "sequences are per tenant")
			tenant, _ := storage.TenantOf(ctx, false)
			d := numberedTicket("case-"+tenant, fmt.Sprintf("INC%07d", n), "new")
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
			return tx.Append(ctx, itsm.Event{ID: "ev-" + tenant, Kind: "case", RecordID: d.ID, RecordVersion: 1, Name: itsm.EventCreate})
		}))
	}
	require.NoError(t, s.Update(acme, func(tx storage.Tx) error {
		n, err := tx.NextSequence(acme, "case")
		require.Equal(t, int64(2), n)
		return err
	}))

	t.Run("get and query are scoped", func(t *testing.T) {
		_, err := s.Get(beta, "case", "case-acme")
		require.ErrorIs(t, err, itsm.ErrNotFound)
		d, err := s.Get(acme, "case", "case-acme")
		require.NoError(t, err)
		assert.Equal(t, "INC0000001", d.Fields[0].Str())
		for tenant, ctx := range map[string]context.Context{"acme": acme, "beta": beta, itsm.DefaultTenant: bg} {
			page, err := s.Query(ctx, storage.Query{Kind: "case"})
			require.NoError(t, err)
			assert.Equal(t, []string{"case-" + tenant}, idsOf(page.Docs))
			page, err = s.Query(ctx, storage.Query{Kind: "case", Filters: []storage.Filter{storage.Eq(storage.NumberField, storage.String("INC0000001"))}})
			require.NoError(t, err)
			assert.Equal(t, []string{"case-" + tenant}, idsOf(page.Docs), "the same number in every tenant")
		}
		require.NoError(t, s.Update(beta, func(tx storage.Tx) error {
			_, err := tx.Get(beta, "case", "case-acme")
			require.ErrorIs(t, err, itsm.ErrNotFound)
			page, err := tx.Query(beta, storage.Query{Kind: "case"})
			require.NoError(t, err)
			assert.Equal(t, []string{"case-beta"}, idsOf(page.Docs))
			return nil
		}))
	})

	t.Run("writes never reach another tenant's document", func(t *testing.T) {
		stolen := numberedTicket("case-acme", "INC0000009", "stolen")
		stolen.Version = 2
		require.ErrorIs(t, putIn(beta, s, stolen, 1), itsm.ErrConflict, "a version beta does not hold")
		err := s.Update(beta, func(tx storage.Tx) error { return tx.Delete(beta, "case", "case-acme", 1) })
		require.ErrorIs(t, err, itsm.ErrNotFound)
		// The same id in beta is beta's own document.
		own := numberedTicket("case-acme", "INC0000009", "beta's")
		require.NoError(t, putIn(beta, s, own, 0))
		require.ErrorIs(t, s.Import(beta, []storage.Document{own}, nil), itsm.ErrConflict, "beta holds it now")
		require.NoError(t, s.Import(itsm.WithTenant(bg, "gamma"), []storage.Document{own}, nil), "gamma does not")
		got, err := s.Get(beta, "case", "case-acme")
		require.NoError(t, err)
		assert.Equal(t, "beta's", got.Fields[1].Str())
		d, err := s.Get(acme, "case", "case-acme")
		require.NoError(t, err)
		assert.Equal(t, int64(1), d.Version)
		assert.Equal(t, "new", d.Fields[1].Str(), "acme's is untouched")
		require.NoError(t, s.Update(beta, func(tx storage.Tx) error { return tx.Delete(beta, "case", "case-acme", 1) }))
		_, err = s.Get(acme, "case", "case-acme")
		require.NoError(t, err, "deleting beta's leaves acme's")
	})

	t.Run("numbers are unique within a tenant", func(t *testing.T) {
		err := putIn(acme, s, numberedTicket("case-acme-2", "INC0000001", "new"), 0)
		var dn *storage.DuplicateNumberError
		require.ErrorAs(t, err, &dn)
		require.NoError(t, putIn(itsm.WithTenant(bg, "epsilon"), s, numberedTicket("case-gamma", "INC0000001", "new"), 0))
		require.NoError(t, s.Import(itsm.WithTenant(bg, "delta"), []storage.Document{numberedTicket("case-delta", "INC0000001", "new")}, nil))
		err = s.Import(itsm.WithTenant(bg, "delta"), []storage.Document{numberedTicket("case-delta-2", "INC0000001", "new")}, nil)
		require.ErrorAs(t, err, &dn)
	})

	t.Run("events are scoped", func(t *testing.T) {
		for tenant, ctx := range map[string]context.Context{"acme": acme, "beta": beta, itsm.DefaultTenant: bg} {
			evs, err := s.ReadEvents(ctx, 0, 100)
			require.NoError(t, err)
			require.Len(t, evs, 1, tenant)
			assert.Equal(t, "ev-"+tenant, evs[0].ID)
			assert.Equal(t, tenant, evs[0].Tenant)
			h, err := s.History(ctx, "case", "case-"+tenant)
			require.NoError(t, err)
			require.Len(t, h, 1)
		}
		h, err := s.History(beta, "case", "case-acme")
		require.NoError(t, err)
		assert.Empty(t, h, "another tenant's history")
		all, err := s.ReadEvents(storage.AllTenants(bg), 0, 100)
		require.NoError(t, err)
		got := map[string]string{}
		for _, e := range all {
			got[e.ID] = e.Tenant
		}
		assert.Equal(t, map[string]string{"ev-acme": "acme", "ev-beta": "beta", "ev-default": itsm.DefaultTenant}, got)
		err = s.Update(acme, func(tx storage.Tx) error {
			return tx.Append(acme, itsm.Event{ID: "forged", Kind: "case", RecordID: "x", RecordVersion: 1, Name: "n", Tenant: "beta"})
		})
		require.ErrorIs(t, err, itsm.ErrInvalid, "an event naming another tenant")
	})

	t.Run("traverse is scoped", func(t *testing.T) {
		edge := func(id, src, dst string) storage.Document {
			return storage.Document{Kind: "rel", ID: id, Version: 1,
				Fields: []storage.Value{storage.String(src), storage.String(dst), storage.String("runs_on")}}
		}
		require.NoError(t, s.Import(acme, []storage.Document{edge("ea1", "a", "b"), edge("ea2", "b", "c")}, nil))
		require.NoError(t, s.Import(beta, []storage.Document{edge("eb1", "a", "x")}, nil))
		p := storage.TraverseParams{Edges: edgeSchema, FromField: "src", ToField: "dst", TypeField: "typ",
			Start: []string{"a"}, Direction: storage.Down, MaxDepth: 5}
		hops, err := s.Traverse(acme, p)
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "c"}, hopIDs(hops))
		hops, err = s.Traverse(beta, p)
		require.NoError(t, err)
		assert.Equal(t, []string{"x"}, hopIDs(hops))
		hops, err = s.Traverse(bg, p)
		require.NoError(t, err)
		assert.Empty(t, hops)
	})

	t.Run("a unit belongs to its Update's tenant", func(t *testing.T) {
		require.NoError(t, s.Update(acme, func(tx storage.Tx) error {
			return tx.Put(beta, numberedTicket("unit-tenant", "", "new"), 0)
		}))
		_, err := s.Get(beta, "case", "unit-tenant")
		require.ErrorIs(t, err, itsm.ErrNotFound)
		_, err = s.Get(acme, "case", "unit-tenant")
		require.NoError(t, err)
	})
}

func hopIDs(hops []storage.Hop) []string {
	out := []string{}
	for _, h := range hops {
		out = append(out, h.ID)
	}
	return out
}

// TestRequireTenant: a store opened WithRequireTenant refuses every call
// whose context names no tenant, and every store refuses a malformed one.
func TestRequireTenant(t *testing.T) {
	s := openTest(t, WithRequireTenant())
	bg := t.Context()
	acme := itsm.WithTenant(bg, "acme")
	require.NoError(t, s.Register(bg, ticketSchema), "a kind serves every tenant: Register needs none")
	require.NoError(t, putIn(acme, s, ticket("a", 1, "g", "new", 1, t0), 0))
	calls := map[string]func(ctx context.Context) error{
		"Get":   func(ctx context.Context) error { _, err := s.Get(ctx, "ticket", "a"); return err },
		"Query": func(ctx context.Context) error { _, err := s.Query(ctx, storage.Query{Kind: "ticket"}); return err },
		"Update": func(ctx context.Context) error {
			return putIn(ctx, s, ticket("b", 1, "g", "new", 1, t0), 0)
		},
		"Import": func(ctx context.Context) error {
			return s.Import(ctx, []storage.Document{ticket("c", 1, "g", "new", 1, t0)}, nil)
		},
		"ReadEvents": func(ctx context.Context) error { _, err := s.ReadEvents(ctx, 0, 10); return err },
		"History":    func(ctx context.Context) error { _, err := s.History(ctx, "ticket", "a"); return err },
		"Traverse": func(ctx context.Context) error {
			_, err := s.Traverse(ctx, storage.TraverseParams{Edges: ticketSchema, FromField: "grp", ToField: "state", TypeField: "grp",
				Start: []string{"g"}, Direction: storage.Down, MaxDepth: 1})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, call(bg), itsm.ErrInvalid, "no tenant")
			require.ErrorIs(t, call(itsm.WithTenant(bg, "Bad Tenant")), itsm.ErrInvalid, "malformed tenant")
			require.NoError(t, call(acme))
		})
	}
	require.ErrorIs(t, s.Register(itsm.WithTenant(bg, "Bad"), ticketSchema), itsm.ErrInvalid)
	_, err := s.ReadEvents(storage.AllTenants(bg), 0, 10)
	require.NoError(t, err, "a reader of every tenant names none")
	page, err := s.Query(acme, storage.Query{Kind: "ticket"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, idsOf(page.Docs), "only the calls with a tenant wrote")

	plainStore := openTest(t)
	require.NoError(t, plainStore.Register(bg, ticketSchema))
	_, err = plainStore.Get(itsm.WithTenant(bg, "-x"), "ticket", "a")
	require.ErrorIs(t, err, itsm.ErrInvalid, "a malformed tenant never falls back to the default")
}

// TestTenantQueuePlan: among many tenants, a tenant's queue page, its next
// page and its listing by id each stay on one index range led by the tenant.
func TestTenantQueuePlan(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	require.NoError(t, s.Register(ctx, ticketSchema))
	for i := range 20 {
		tctx := itsm.WithTenant(ctx, fmt.Sprintf("t%02d", i))
		docs := make([]storage.Document, 30)
		for j := range docs {
			docs[j] = ticket(fmt.Sprintf("t%02d-%03d", i, j), 1, fmt.Sprintf("g%d", j%3), []string{"new", "work"}[j%2], int64(j%4), t0)
		}
		require.NoError(t, s.Import(tctx, docs, nil))
	}
	_, err := s.w.ExecContext(ctx, "ANALYZE")
	require.NoError(t, err)
	k, err := s.lookup(ctx, "ticket")
	require.NoError(t, err)
	queue := storage.Query{Kind: "ticket", Limit: 2,
		Filters: []storage.Filter{storage.Eq("grp", storage.String("g1")), storage.Eq("state", storage.String("work"))},
		Sort:    []storage.Sort{{Field: "prio"}, {Field: "opened"}}}
	t07 := itsm.WithTenant(ctx, "t07")
	first, err := s.Query(t07, queue)
	require.NoError(t, err)
	require.NotEmpty(t, first.Next)
	next := queue
	next.Cursor = first.Next
	for name, tt := range map[string]struct {
		q     storage.Query
		index string
	}{
		"queue":      {queue, "pillars_doc_ticket__i_queue (_tenant=? AND grp=? AND state=?)"},
		"queue next": {next, "pillars_doc_ticket__i_queue (_tenant=? AND grp=? AND state=?"},
		"by id":      {storage.Query{Kind: "ticket"}, "sqlite_autoindex_pillars_doc_ticket_1 (_tenant=?)"},
		"one field":  {storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("prio", storage.Int(2))}}, "pillars_doc_ticket__f_prio (_tenant=? AND prio=?)"},
	} {
		t.Run(name, func(t *testing.T) {
			plan, err := k.schema.CheckQueryFor("t07", tt.q)
			require.NoError(t, err)
			text, args := buildQuery(k, "t07", plan)
			p := explainSQL(t, s, text, args)
			assert.Contains(t, p, "SEARCH pillars_doc_ticket USING INDEX "+tt.index)
			assert.NotContains(t, p, "TEMP B-TREE", "the index gives the order")
		})
	}
	page, err := s.Query(t07, next)
	require.NoError(t, err)
	for _, d := range append(first.Docs, page.Docs...) {
		assert.Contains(t, d.ID, "t07-")
	}
}

// explainSQL returns SQLite's query plan for text, one line per step.
func explainSQL(t testing.TB, s *Store, text string, args []any) string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+text, args...)
	require.NoError(t, err)
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	require.NoError(t, rows.Err())
	return fmt.Sprint(lines)
}
