package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// in returns a copy of the env whose calls belong to tenant.
func (e *env) in(tenant string) *env {
	c := *e
	c.ctx = itsm.WithTenant(e.ctx, tenant)
	return &c
}

// tenantName returns a fresh valid tenant id.
func tenantName(base string) string { return name(base) }

// logOf returns every event ReadEvents hands ctx, checking Seq order.
func (e *env) logOf(ctx context.Context) []itsm.Event {
	e.t.Helper()
	c := *e
	c.ctx = ctx
	return c.wholeLog()
}

// eventsOf returns the events of the given kind in the log ctx reads.
func (e *env) eventsOf(ctx context.Context, kind string) []itsm.Event {
	e.t.Helper()
	var out []itsm.Event
	for _, ev := range e.logOf(ctx) {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (h *harness) testTenancy(t *testing.T) {
	t.Run("Documents", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("ten")
		a, b := e.in(tenantName("ta")), e.in(tenantName("tb"))
		da := sdoc(s.Kind, "same", 1, "a-data", "a", 1, time.Unix(1, 0))
		a.create(da)
		a.requireDoc(da)

		// Tenant b and the default tenant see nothing of a's document.
		for who, o := range map[string]*env{"tenant b": b, "default tenant": e} {
			o.requireMissing(s.Kind, "same")
			require.Empty(t, o.queryAll(storage.Query{Kind: s.Kind}, 10), "%s: Query", who)
			require.Empty(t, o.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("s", storage.String("a"))}}, 10), "%s: Query by field", who)
			err := o.b.Update(o.ctx, func(tx storage.Tx) error {
				_, err := tx.Get(o.ctx, s.Kind, "same")
				require.ErrorIs(t, err, itsm.ErrNotFound, "%s: Tx.Get", who)
				page, err := tx.Query(o.ctx, storage.Query{Kind: s.Kind})
				require.NoError(t, err, "%s: Tx.Query", who)
				require.Empty(t, page.Docs, "%s: Tx.Query", who)
				return nil
			})
			require.NoError(t, err)
			err = o.b.Update(o.ctx, func(tx storage.Tx) error { return tx.Delete(o.ctx, s.Kind, "same", 1) })
			require.ErrorIs(t, err, itsm.ErrNotFound, "%s: Delete of another tenant's document", who)
			err = o.putErr(sdoc(s.Kind, "same", 2, "overwrite", "x", 9, time.Unix(9, 0)), 1)
			requireErrorIsOneOf(t, err, []error{itsm.ErrConflict, itsm.ErrNotFound}, who+": Put over another tenant's version")
			hist, err := o.b.History(o.ctx, s.Kind, "same")
			require.NoError(t, err, "%s: History", who)
			require.Empty(t, hist, "%s: History", who)
		}
		a.requireDoc(da)

		// A Put of the same id under b creates b's own document or is
		// refused; a's is untouched either way.
		db := sdoc(s.Kind, "same", 1, "b-data", "b", 2, time.Unix(2, 0))
		if err := b.putErr(db, 0); err == nil {
			b.requireDoc(db)
			require.Equal(t, []string{"same"}, ids(b.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("s", storage.String("b"))}}, 10)))
			require.Empty(t, b.queryAll(storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("s", storage.String("a"))}}, 10), "b's query finds a's document")
			// Deleting b's copy leaves a's.
			require.NoError(t, b.b.Update(b.ctx, func(tx storage.Tx) error { return tx.Delete(b.ctx, s.Kind, "same", 1) }))
			b.requireMissing(s.Kind, "same")
		} else {
			require.ErrorIs(t, err, itsm.ErrConflict, "a Put of an id another tenant holds")
			b.requireMissing(s.Kind, "same")
		}
		a.requireDoc(da)
		require.Equal(t, []string{"same"}, ids(a.queryAll(storage.Query{Kind: s.Kind}, 10)))
	})

	t.Run("UnitBelongsToUpdateContext", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("ten")
		a, b := e.in(tenantName("ta")), e.in(tenantName("tb"))
		d := sdoc(s.Kind, "mine", 1, "x", "x", 1, time.Unix(1, 0))
		// The unit is a's; the context given to Put names b.
		require.NoError(t, a.b.Update(a.ctx, func(tx storage.Tx) error { return tx.Put(b.ctx, d, 0) }))
		a.requireDoc(d)
		b.requireMissing(s.Kind, "mine")
	})

	t.Run("SequencesAndNumbers", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(storage.Schema{Kind: name("tnum"), Fields: []storage.Field{fString(storage.NumberField)}})
		seq := name("seq")
		tenants := []*env{e.in(tenantName("ta")), e.in(tenantName("tb")), e}
		next := func(o *env) int64 {
			var n int64
			require.NoError(t, o.b.Update(o.ctx, func(tx storage.Tx) error {
				var err error
				n, err = tx.NextSequence(o.ctx, seq)
				return err
			}))
			return n
		}
		for i, o := range tenants {
			require.Equal(t, int64(1), next(o), "tenant %d: the first value of its own sequence", i)
		}
		require.Equal(t, int64(2), next(tenants[0]))
		require.NoError(t, tenants[1].b.Update(tenants[1].ctx, func(tx storage.Tx) error { return tx.AdvanceSequence(tenants[1].ctx, seq, 100) }))
		require.Equal(t, int64(101), next(tenants[1]))
		require.Equal(t, int64(3), next(tenants[0]), "another tenant's advance moves nothing here")
		require.Equal(t, int64(2), next(tenants[2]))

		// The same human number in every tenant; unique within each.
		for i, o := range tenants {
			num := storage.Document{Kind: s.Kind, ID: fmt.Sprintf("n%d", i), Version: 1, Fields: []storage.Value{storage.String("INC0000001")}}
			require.NoError(t, o.putErr(num, 0), "tenant %d: its own INC0000001", i)
		}
		for i, o := range tenants {
			dup := storage.Document{Kind: s.Kind, ID: fmt.Sprintf("dup%d", i), Version: 1, Fields: []storage.Value{storage.String("INC0000001")}}
			err := o.putErr(dup, 0)
			var de *storage.DuplicateNumberError
			require.ErrorAs(t, err, &de, "tenant %d: a second INC0000001 in one tenant", i)
			o.requireMissing(s.Kind, dup.ID)
		}
	})

	t.Run("Cursor", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("ten")
		a, b := e.in(tenantName("ta")), e.in(tenantName("tb"))
		for _, o := range []*env{a, b, e} {
			for i := range 3 {
				o.create(sdoc(s.Kind, fmt.Sprintf("d%d", i), 1, "x", "x", int64(i), time.Unix(int64(i), 0)))
			}
		}
		q := storage.Query{Kind: s.Kind, Sort: []storage.Sort{{Field: "n"}}, Limit: 1}
		page, err := a.b.Query(a.ctx, q)
		require.NoError(t, err)
		require.NotEmpty(t, page.Next)
		q.Cursor = page.Next
		for who, o := range map[string]*env{"tenant b": b, "default tenant": e} {
			_, err := o.b.Query(o.ctx, q)
			require.ErrorIs(t, err, itsm.ErrInvalid, "%s: a cursor issued to tenant a", who)
			err = o.b.Update(o.ctx, func(tx storage.Tx) error { _, err := tx.Query(o.ctx, q); return err })
			require.ErrorIs(t, err, itsm.ErrInvalid, "%s: Tx.Query with a cursor issued to tenant a", who)
		}
		next, err := a.b.Query(a.ctx, q)
		require.NoError(t, err, "the cursor still works for its tenant")
		require.Equal(t, []string{"d1"}, ids(next.Docs))
		// And the other way round: the default tenant's cursor is not a's.
		q.Cursor = ""
		page, err = e.b.Query(e.ctx, q)
		require.NoError(t, err)
		q.Cursor = page.Next
		_, err = a.b.Query(a.ctx, q)
		require.ErrorIs(t, err, itsm.ErrInvalid, "the default tenant's cursor under tenant a")
	})

	t.Run("Events", func(t *testing.T) {
		e := h.setup(t)
		kind := name("tev")
		ta, tb := tenantName("ta"), tenantName("tb")
		a, b := e.in(ta), e.in(tb)
		ea, eb, ed := chainOf(ta, kind, "ra", 3), chainOf(tb, kind, "rb", 2), chainOf("", kind, "rd", 1)
		// Interleaved units, so each tenant's log has gaps.
		a.appendEvents(ea[0])
		b.appendEvents(eb[0])
		e.appendEvents(ed[0])
		a.appendEvents(ea[1:]...)
		b.appendEvents(eb[1])

		for who, c := range map[string]struct {
			o      *env
			tenant string
			want   []itsm.Event
			id     string
		}{"a": {a, ta, ea, "ra"}, "b": {b, tb, eb, "rb"}, "default": {e, itsm.DefaultTenant, ed, "rd"}} {
			got := e.eventsOf(c.o.ctx, kind)
			requireStoredEvents(t, c.want, got, who+": ReadEvents")
			for _, ev := range got {
				require.Equal(t, c.tenant, ev.Tenant, "%s: the store sets Tenant", who)
			}
			var scanned []itsm.Event
			require.NoError(t, storage.ScanEvents(c.o.ctx, c.o.b, 0, 1<<20, func(evs []itsm.Event) error {
				for _, ev := range evs {
					if ev.Kind == kind {
						scanned = append(scanned, ev)
					}
				}
				return nil
			}))
			requireSameEvents(t, got, scanned, who+": ScanEvents")
			hist, err := c.o.b.History(c.o.ctx, kind, c.id)
			require.NoError(t, err)
			requireSameEvents(t, got, hist, who+": History")
			require.NoError(t, itsm.Verify(hist, hist[len(hist)-1].Hash), "%s: the chain verifies with its tenant", who)
			for _, other := range []string{"ra", "rb", "rd"} {
				if other == c.id {
					continue
				}
				hist, err := c.o.b.History(c.o.ctx, kind, other)
				require.NoError(t, err)
				require.Empty(t, hist, "%s: History of another tenant's record", who)
			}
		}

		// AllTenants sees every tenant's events in one Seq order.
		all := e.eventsOf(storage.AllTenants(e.ctx), kind)
		require.Len(t, all, len(ea)+len(eb)+len(ed))
		count := map[string]int{}
		for _, ev := range all {
			count[ev.Tenant]++
		}
		require.Equal(t, map[string]int{ta: 3, tb: 2, itsm.DefaultTenant: 1}, count)
		var scanned []itsm.Event
		require.NoError(t, storage.ScanEvents(storage.AllTenants(a.ctx), e.b, 0, 1<<20, func(evs []itsm.Event) error {
			for _, ev := range evs {
				if ev.Kind == kind {
					scanned = append(scanned, ev)
				}
			}
			return nil
		}))
		requireSameEvents(t, all, scanned, "ScanEvents under AllTenants")

		// Reading on from a position inside another tenant's stretch.
		got, err := a.b.ReadEvents(a.ctx, all[1].Seq, 1)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, ta, got[0].Tenant)
		require.Greater(t, got[0].Seq, all[1].Seq)
	})

	t.Run("EventOfAnotherTenant", func(t *testing.T) {
		e := h.setup(t)
		kind := name("tev")
		a := e.in(tenantName("ta"))
		ev := sealed(kind, "r", 1, "")
		ev.Tenant = tenantName("tb")
		itsm.Seal(&ev, "")
		err := a.b.Update(a.ctx, func(tx storage.Tx) error { return tx.Append(a.ctx, ev) })
		require.ErrorIs(t, err, itsm.ErrInvalid, "an event naming another tenant than the unit's")
		require.Empty(t, e.eventsOf(storage.AllTenants(e.ctx), kind), "nothing was written")
	})

	t.Run("TraverseAndImport", func(t *testing.T) {
		e := h.setup(t)
		s := e.register(edgeKind(name("tedge")))
		a, b := e.in(tenantName("ta")), e.in(tenantName("tb"))
		edgesA := []edge{{"e1", "a", "b", "depends"}, {"e2", "b", "c", "depends"}}
		edgesB := []edge{{"e1", "a", "x", "depends"}}
		a.writeEdges(s.Kind, edgesA)
		if err := b.b.Update(b.ctx, func(tx storage.Tx) error { return tx.Put(b.ctx, edgeDoc(s.Kind, edgesB[0]), 0) }); err != nil {
			// A store with global ids refuses e1 under b: use another id.
			edgesB[0].id = "f1"
			b.writeEdges(s.Kind, edgesB)
		}
		p := storage.TraverseParams{Edges: s, FromField: "src", ToField: "dst", TypeField: "rel", MaxDepth: 5, Direction: storage.Down, Start: []string{"a"}}
		for how, tb := range traversers(e.b) {
			for who, c := range map[string]struct {
				o     *env
				edges []edge
			}{"a": {a, edgesA}, "b": {b, edgesB}, "default": {e, nil}} {
				got, err := storage.Traverse(c.o.ctx, tb, p)
				require.NoError(t, err, "%s %s", how, who)
				if want := expectHops(c.edges, p); len(want) > 0 {
					require.Equal(t, want, got, "%s: tenant %s traverses its own edges only", how, who)
				} else {
					require.Empty(t, got, "%s: tenant %s has no edges", how, who)
				}
			}
		}

		for how, ib := range importers(e.b) {
			is := e.docSchema("timp")
			var docs []storage.Document
			var events []itsm.Event
			for i := range 5 {
				d, evs := history(is.Kind, fmt.Sprintf("imp%d", i), 1+i%3)
				docs = append(docs, d)
				events = append(events, evs...)
			}
			require.NoError(t, storage.Import(b.ctx, ib, docs, events), how)
			for _, d := range docs {
				b.requireDoc(d)
				a.requireMissing(d.Kind, d.ID)
				e.requireMissing(d.Kind, d.ID)
			}
			got := e.eventsOf(b.ctx, is.Kind)
			require.Len(t, got, len(events), how)
			for _, ev := range got {
				require.Equal(t, tenantOf(b.ctx), ev.Tenant, how)
			}
			require.Empty(t, e.eventsOf(a.ctx, is.Kind), "%s: tenant a reads none of b's imported events", how)
			require.Empty(t, a.queryAll(storage.Query{Kind: is.Kind}, 10), how)
		}
	})

	t.Run("MalformedTenant", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("ten")
		seq := name("seq")
		kind := s.Kind
		d := sdoc(kind, "x", 1, "x", "x", 1, time.Unix(1, 0))
		for _, bad := range []string{"", "Upper", "with space", "-lead", "a/b", "ä", string(make([]byte, itsm.MaxTenantLen+1))} {
			ctx := itsm.WithTenant(e.ctx, bad)
			calls := map[string]func() error{
				"Get":        func() error { _, err := e.b.Get(ctx, kind, "x"); return err },
				"Query":      func() error { _, err := e.b.Query(ctx, storage.Query{Kind: kind}); return err },
				"History":    func() error { _, err := e.b.History(ctx, kind, "x"); return err },
				"ReadEvents": func() error { _, err := e.b.ReadEvents(ctx, 0, 10); return err },
				"Update.Put": func() error {
					return e.b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) })
				},
				"Update.Append": func() error {
					return e.b.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealed(kind, "x", 1, "")) })
				},
				"Update.NextSequence": func() error {
					return e.b.Update(ctx, func(tx storage.Tx) error { _, err := tx.NextSequence(ctx, seq); return err })
				},
			}
			for what, call := range calls {
				err := noPanic(t, what, call)
				require.ErrorIs(t, err, itsm.ErrInvalid, "%s with tenant %q", what, bad)
			}
		}
		// Nothing was written anywhere.
		e.requireMissing(kind, "x")
		require.Empty(t, e.eventsOf(storage.AllTenants(e.ctx), kind))
		var n int64
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			var err error
			n, err = tx.NextSequence(e.ctx, seq)
			return err
		}))
		require.Equal(t, int64(1), n, "no sequence value was drawn for the default tenant")
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("tcon")
		kind, seq := s.Kind, name("tseq")
		const tenants = 4
		writers, perWriter := 4, h.scale(40, 10)
		envs := make([]*env, tenants)
		for i := range envs {
			envs[i] = e.in(tenantName(fmt.Sprintf("tc%d", i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, tenants*writers)
		for ti, o := range envs {
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						id := fmt.Sprintf("w%d_%d", w, i) // the same ids in every tenant
						err := o.b.Update(o.ctx, func(tx storage.Tx) error {
							n, err := tx.NextSequence(o.ctx, seq)
							if err != nil {
								return err
							}
							d := sdoc(kind, fmt.Sprintf("%s_%d", id, ti), 1, tenantOf(o.ctx), tenantOf(o.ctx), n, time.Unix(n, 0))
							if err := tx.Put(o.ctx, d, 0); err != nil {
								return err
							}
							return tx.Append(o.ctx, sealed(kind, d.ID, 1, ""))
						})
						if err != nil {
							errs <- fmt.Errorf("tenant %d writer %d: %w", ti, w, err)
							return
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		total := writers * perWriter
		for ti, o := range envs {
			tenant := tenantOf(o.ctx)
			docs := o.queryAll(storage.Query{Kind: kind, Limit: storage.MaxLimit}, total)
			require.Len(t, docs, total, "tenant %d: its own documents", ti)
			nums := map[int64]bool{}
			for _, d := range docs {
				require.Equal(t, tenant, string(d.Data), "tenant %d: a document of another tenant leaked in", ti)
				nums[d.Fields[1].Int64()] = true
			}
			require.Len(t, nums, total, "tenant %d: its sequence issued every value once", ti)
			evs := e.eventsOf(o.ctx, kind)
			require.Len(t, evs, total, "tenant %d: its own events", ti)
			for _, ev := range evs {
				assert.Equal(t, tenant, ev.Tenant)
			}
		}
		require.Empty(t, e.queryAll(storage.Query{Kind: kind}, 10), "nothing leaked into the default tenant")
		require.Len(t, e.eventsOf(storage.AllTenants(e.ctx), kind), tenants*total)
	})
}

// chainOf is chain for the events of a tenant's record: sealed with their
// Tenant set, as storage.Records seals them.
func chainOf(tenant, kind, id string, n int) []itsm.Event {
	evs := make([]itsm.Event, n)
	prev := ""
	for i := range evs {
		evs[i] = sealed(kind, id, int64(i+1), prev)
		evs[i].Tenant = tenant
		itsm.Seal(&evs[i], prev)
		prev = evs[i].Hash
	}
	return evs
}

// tenantOf returns the tenant ctx names.
func tenantOf(ctx context.Context) string {
	t, _ := itsm.TenantFrom(ctx)
	return t
}
