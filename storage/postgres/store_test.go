package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestSmoke(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sc := ticketSchema("ticket")
	require.NoError(t, s.Register(ctx, sc))
	require.NoError(t, s.Register(ctx, sc))
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d := ticket("ticket", "a", 1, "g", "new", 2, at)
	ev := sealedEvent("ticket", "a", 1, "")
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, d, 0); err != nil {
			return err
		}
		got, err := tx.Get(ctx, "ticket", "a")
		require.NoError(t, err)
		require.Equal(t, d, got)
		n, err := tx.NextSequence(ctx, "ticket")
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
		return tx.Append(ctx, ev)
	}))
	got, err := s.Get(ctx, "ticket", "a")
	require.NoError(t, err)
	require.Equal(t, d, got)
	page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String("g"))},
		Sort: []storage.Sort{{Field: "prio"}, {Field: "opened"}}})
	require.NoError(t, err)
	require.Len(t, page.Docs, 1)
	evs, err := s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	ev.Seq, ev.Tenant = evs[0].Seq, itsm.DefaultTenant
	require.Equal(t, ev, evs[0])
	h, err := s.History(ctx, "ticket", "a")
	require.NoError(t, err)
	require.NoError(t, itsm.Verify(h, ev.Hash))
	require.ErrorIs(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) }), itsm.ErrConflict)
}

func TestDocumentRoundTrip(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sc := storage.Schema{Kind: "doc", Fields: []storage.Field{
		{Name: "s", Type: storage.TypeString}, {Name: "n", Type: storage.TypeInt}, {Name: "at", Type: storage.TypeTime},
		// Field names that are PostgreSQL system columns or look like the
		// store's own columns still work.
		{Name: "xmin", Type: storage.TypeInt}, {Name: "ctid", Type: storage.TypeString}, {Name: "version", Type: storage.TypeInt},
		{Name: "data", Type: storage.TypeString}, {Name: "select", Type: storage.TypeString},
	}}
	require.NoError(t, s.Register(ctx, sc))
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	cases := []struct {
		name string
		data []byte
		str  string
		n    int64
		at   time.Time
	}{
		{"json", []byte(`{"b": 1,  "a":2}`), "plain", 42, time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)},
		{"every byte", all, "Ünïcødé ✓ 日本語 🎉", math.MinInt64, time.Time{}},
		{"empty", []byte{}, "", math.MaxInt64, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{"quotes", []byte(`'"\%_;--`), `'); DROP TABLE doc; --`, -1, time.Unix(-1, 999999000).UTC()},
	}
	for i, c := range cases {
		d := storage.Document{Kind: "doc", ID: fmt.Sprintf("d%d", i), Version: int64(i + 1), Data: c.data, Fields: []storage.Value{
			storage.String(c.str), storage.Int(c.n), storage.Time(c.at), storage.Int(c.n), storage.String(c.str), storage.Int(7),
			storage.String("x"), storage.String(c.str)}}
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) }), c.name)
		got, err := s.Get(ctx, "doc", d.ID)
		require.NoError(t, err, c.name)
		require.Equal(t, d, got, c.name)
		page, err := s.Query(ctx, storage.Query{Kind: "doc", Filters: []storage.Filter{storage.Eq("select", storage.String(c.str)), storage.Eq("xmin", storage.Int(c.n))}})
		require.NoError(t, err, c.name)
		require.Equal(t, []storage.Document{d}, page.Docs, c.name)
	}
}

// TestUnstorableText checks that strings PostgreSQL's text type cannot hold
// are refused with ErrInvalid naming the record, and that the unit of work
// stays usable.
func TestUnstorableText(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	at := time.Unix(0, 0)
	cases := map[string]storage.Document{
		"NUL in field":         ticket("ticket", "a", 1, "g\x00", "new", 1, at),
		"invalid UTF-8 field":  ticket("ticket", "a", 1, "g\xff", "new", 1, at),
		"NUL in id":            ticket("ticket", "a\x00b", 1, "g", "new", 1, at),
		"indexed strings long": ticket("ticket", "a", 1, strings.Repeat("g", 1500), strings.Repeat("s", 1500), 1, at),
	}
	for what, d := range cases {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			err := tx.Put(ctx, d, 0)
			require.ErrorIs(t, err, itsm.ErrInvalid, what)
			require.Contains(t, err.Error(), "ticket", what)
			// The unit goes on.
			return tx.Put(ctx, ticket("ticket", "ok_"+strings.ReplaceAll(what, " ", "_"), 1, "g", "new", 1, at), 0)
		}))
	}
	ev := sealedEvent("ticket", "a", 1, "")
	ev.Reason = "bad \x00"
	err := s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, ev) })
	require.ErrorIs(t, err, itsm.ErrInvalid)
	require.Contains(t, err.Error(), ev.ID)
}

func TestRegisterAcrossStores(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	a, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	b, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	sc := ticketSchema("ticket")
	require.NoError(t, a.Register(ctx, sc))

	// Another instance with the same fields registers fine; new indexes are
	// created.
	more := ticketSchema("ticket")
	more.Indexes = append(more.Indexes, storage.Index{Name: "by_state", Fields: []string{"state", "opened"}})
	require.NoError(t, b.Register(ctx, more))
	var n int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'ticket'", ns).Scan(&n))
	require.Equal(t, 1+4+3, n, "primary key (tenant, id), one index per field, one per declared index")

	// An instance with a field of another type is refused (see
	// TestSchemaChanges for the changes accepted).
	c, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	other := ticketSchema("ticket")
	other.Fields[2].Type = storage.TypeString
	other.Indexes = nil
	require.ErrorIs(t, c.Register(ctx, other), itsm.ErrConflict)

	// An instance declaring grp and state CompositeOnly drops their own
	// indexes (writes stop maintaining them), and the index by_state it
	// does not declare; one declaring them plain again creates them again.
	compact := ticketSchema("ticket")
	compact.Fields[0].CompositeOnly, compact.Fields[1].CompositeOnly = true, true
	d, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	require.NoError(t, d.Register(ctx, compact))
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'ticket'", ns).Scan(&n))
	require.Equal(t, 1+2+2, n, "the own indexes of grp and state are gone, and by_state")
	e, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	require.NoError(t, e.Register(ctx, more))
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'ticket'", ns).Scan(&n))
	require.Equal(t, 1+4+3, n, "and back")

	// Long names stay within PostgreSQL's 63-byte identifiers without
	// colliding.
	long1 := strings.Repeat("k", 62) + "1"
	long2 := strings.Repeat("k", 62) + "2"
	for _, kind := range []string{long1, long2} {
		sc := storage.Schema{Kind: kind, Fields: []storage.Field{{Name: strings.Repeat("f", 63), Type: storage.TypeString}},
			Indexes: []storage.Index{{Name: strings.Repeat("i", 63), Fields: []string{strings.Repeat("f", 63)}}}}
		require.NoError(t, a.Register(ctx, sc))
		d := storage.Document{Kind: kind, ID: "x", Version: 1, Data: []byte(kind), Fields: []storage.Value{storage.String(kind)}}
		require.NoError(t, a.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, d, 0) }))
	}
	for _, kind := range []string{long1, long2} {
		got, err := a.Get(ctx, kind, "x")
		require.NoError(t, err)
		require.Equal(t, kind, string(got.Data))
	}
}

// TestInjection sends SQL through every string the caller controls: values
// are parameters and names are validated, so nothing runs.
func TestInjection(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	evil := []string{
		`'; DROP TABLE ticket; --`, `" OR 1=1 --`, `\'; DELETE FROM ticket; --`, `$1`, `%s`, `') OR ('1'='1`, `ticket"; DROP SCHEMA x CASCADE; --`,
	}
	at := time.Unix(0, 0)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for i, v := range evil {
			if err := tx.Put(ctx, ticket("ticket", v, 1, v, v, int64(i), at), 0); err != nil {
				return err
			}
		}
		return tx.Put(ctx, ticket("ticket", "plain", 1, "g", "s", 99, at), 0)
	}))
	for _, v := range evil {
		got, err := s.Get(ctx, "ticket", v)
		require.NoError(t, err)
		require.Equal(t, v, got.ID)
		page, err := s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.Eq("grp", storage.String(v))}})
		require.NoError(t, err)
		require.Equal(t, []string{v}, docIDs(page.Docs))
		page, err = s.Query(ctx, storage.Query{Kind: "ticket", Filters: []storage.Filter{storage.In("state", storage.String(v), storage.String(v+"x"))},
			Sort: []storage.Sort{{Field: "grp", Desc: true}}, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []string{v}, docIDs(page.Docs))
		_, err = s.History(ctx, v, v)
		require.NoError(t, err)
		hops, err := s.Traverse(ctx, storage.TraverseParams{Edges: ticketSchema("ticket"), FromField: "grp", ToField: "state", TypeField: "grp",
			Start: []string{v}, Direction: storage.Down, Types: []string{v}, MaxDepth: 2})
		require.NoError(t, err)
		require.Len(t, hops, 0, "grp = state, so the edge leads back to its start")
	}
	bad := []string{`x"; drop table ticket; --`, "Ticket", "a b", ""}
	for _, name := range bad {
		require.ErrorIs(t, s.Register(ctx, storage.Schema{Kind: name}), itsm.ErrInvalid)
		require.ErrorIs(t, s.Register(ctx, storage.Schema{Kind: "k", Fields: []storage.Field{{Name: name, Type: storage.TypeString}}}), itsm.ErrInvalid)
		err := s.Update(ctx, func(tx storage.Tx) error { _, err := tx.NextSequence(ctx, name); return err })
		require.ErrorIs(t, err, itsm.ErrInvalid)
		_, err = s.Get(ctx, name, "x")
		require.ErrorIs(t, err, itsm.ErrInvalid)
	}
	_, err := New(ctx, testPool(t), WithSchema(`public"; DROP SCHEMA public; --`))
	require.ErrorIs(t, err, itsm.ErrInvalid)
	page, err := s.Query(ctx, storage.Query{Kind: "ticket", Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.Docs, len(evil)+1, "every row is still there")
}

// TestTwoStoresNoLostUpdate runs two Store values on one schema (two
// application instances) incrementing the same counters with read, version
// checked write and retry on conflict, and drawing numbers from the same
// sequences.
func TestTwoStoresNoLostUpdate(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	var stores [2]*Store
	sc := storage.Schema{Kind: "counter", Fields: []storage.Field{{Name: "n", Type: storage.TypeInt}}}
	for i := range stores {
		s, err := New(ctx, p, WithSchema(ns))
		require.NoError(t, err)
		require.NoError(t, s.Register(ctx, sc))
		stores[i] = s
	}
	const counters, workers, increments = 3, 8, 25
	require.NoError(t, stores[0].Update(ctx, func(tx storage.Tx) error {
		for c := range counters {
			if err := tx.Put(ctx, storage.Document{Kind: "counter", ID: fmt.Sprint(c), Version: 1, Data: []byte("0"),
				Fields: []storage.Value{storage.Int(0)}}, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	var mu sync.Mutex
	numbers := map[string][]int64{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := stores[w%2]
			for i := range increments {
				id := fmt.Sprint((w + i) % counters)
				for {
					var num int64
					err := s.Update(ctx, func(tx storage.Tx) error {
						d, err := tx.Get(ctx, "counter", id)
						if err != nil {
							return err
						}
						n := d.Fields[0].Int64() + 1
						next := storage.Document{Kind: "counter", ID: id, Version: d.Version + 1, Data: []byte(fmt.Sprint(n)),
							Fields: []storage.Value{storage.Int(n)}}
						if err := tx.Put(ctx, next, d.Version); err != nil {
							return err
						}
						num, err = tx.NextSequence(ctx, "counter_"+id)
						if err != nil {
							return err
						}
						return tx.Append(ctx, sealedEvent("counter", id, next.Version, ""))
					})
					if errors.Is(err, itsm.ErrConflict) {
						continue
					}
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					numbers[id] = append(numbers[id], num)
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	total := int64(0)
	for c := range counters {
		d, err := stores[1].Get(ctx, "counter", fmt.Sprint(c))
		require.NoError(t, err)
		total += d.Fields[0].Int64()
		require.Equal(t, d.Version, d.Fields[0].Int64()+1)
		h, err := stores[1].History(ctx, "counter", fmt.Sprint(c))
		require.NoError(t, err)
		require.Len(t, h, int(d.Version-1), "one event per committed increment")
		nums := numbers[fmt.Sprint(c)]
		slices.Sort(nums)
		require.Len(t, slices.Compact(slices.Clone(nums)), len(nums), "sequence values are unique")
	}
	require.Equal(t, int64(workers*increments), total, "no lost update")
}

func TestSequences(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	a, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	b, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	next := func(s *Store, name string) int64 {
		var n int64
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			var err error
			n, err = tx.NextSequence(ctx, name)
			return err
		}))
		return n
	}
	require.Equal(t, int64(1), next(a, "inc"), "a sequence starts at 1")
	require.Equal(t, int64(2), next(b, "inc"), "another store continues it")
	require.Equal(t, int64(1), next(a, "chg"), "sequences are independent")
	// A rolled back unit leaves a gap, never a duplicate.
	err = a.Update(ctx, func(tx storage.Tx) error {
		_, err := tx.NextSequence(ctx, "inc")
		require.NoError(t, err)
		return errors.New("roll back")
	})
	require.Error(t, err)
	require.Equal(t, int64(4), next(b, "inc"))
	// Long names map to distinct sequences.
	long := strings.Repeat("s", 62)
	require.Equal(t, int64(1), next(a, long+"1"))
	require.Equal(t, int64(1), next(a, long+"2"))
	require.Equal(t, int64(2), next(b, long+"1"))

	// Many units on both stores at once, on a name nobody used yet.
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			s := []*Store{a, b}[w%2]
			for range 20 {
				var n int64
				err := s.Update(ctx, func(tx storage.Tx) error {
					var err error
					n, err = tx.NextSequence(ctx, "fresh")
					return err
				})
				if assert.NoError(t, err) {
					mu.Lock()
					got = append(got, n)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	require.Len(t, slices.Compact(slices.Clone(got)), 160)
	require.Equal(t, int64(1), got[0])
}

// TestConflictFoundAtCommit lets another unit commit between a unit's Get
// and its commit: the unit's writes carry the version they expect to the
// commit, which refuses them all, names the document and writes nothing.
func TestConflictFoundAtCommit(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	at := time.Unix(0, 0)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, ticket("ticket", "hot", 1, "g", "new", 1, at), 0)
	}))
	err := s.Update(ctx, func(tx storage.Tx) error {
		d, err := tx.Get(ctx, "ticket", "hot")
		require.NoError(t, err)
		require.NoError(t, tx.Put(ctx, ticket("ticket", "another", 1, "g", "new", 1, at), 0), "sorts before hot, so the commit writes it first")
		// Another instance commits the next version meanwhile.
		require.NoError(t, s.Update(ctx, func(tx2 storage.Tx) error {
			return tx2.Put(ctx, ticket("ticket", "hot", 2, "g", "theirs", 1, at), 1)
		}))
		d.Version++
		require.NoError(t, tx.Put(ctx, d, 1), "checked against the version this unit read")
		return tx.Append(ctx, sealedEvent("ticket", "hot", 2, ""))
	})
	var conflict *itsm.ConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, itsm.ConflictError{Kind: "ticket", ID: "hot", Expected: 1}, *conflict)
	got, err := s.Get(ctx, "ticket", "hot")
	require.NoError(t, err)
	require.Equal(t, "theirs", got.Fields[1].Str())
	_, err = s.Get(ctx, "ticket", "another")
	require.ErrorIs(t, err, itsm.ErrNotFound, "the unit's other writes are gone too")
	evs, err := s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, evs)
}

// TestCrossedWritesNoDeadlock runs units that write the same two documents
// in opposite orders: the commit writes in one global order, so they only
// ever conflict, never deadlock.
func TestCrossedWritesNoDeadlock(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	at := time.Unix(0, 0)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, id := range []string{"x", "y"} {
			if err := tx.Put(ctx, ticket("ticket", id, 1, "g", "new", 0, at), 0); err != nil {
				return err
			}
		}
		return nil
	}))
	var committed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			ids := []string{"x", "y"}
			if w%2 == 1 {
				ids = []string{"y", "x"}
			}
			for range 20 {
				err := s.Update(ctx, func(tx storage.Tx) error {
					for _, id := range ids {
						d, err := tx.Get(ctx, "ticket", id)
						if err != nil {
							return err
						}
						d.Version++
						d.Fields[2] = storage.Int(d.Fields[2].Int64() + 1)
						if err := tx.Put(ctx, d, d.Version-1); err != nil {
							return err
						}
					}
					return nil
				})
				if err == nil {
					committed.Add(1)
					continue
				}
				var pgErr *pgconn.PgError
				require.False(t, errors.As(err, &pgErr) && pgErr.Code == "40P01", "deadlock: %v", err)
				require.ErrorIs(t, err, itsm.ErrConflict)
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"x", "y"} {
		d, err := s.Get(ctx, "ticket", id)
		require.NoError(t, err)
		require.Equal(t, committed.Load(), d.Fields[2].Int64(), "both documents moved together")
	}
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	_, err := New(ctx, p, WithSchema(ns), WithMigrate(false))
	require.ErrorContains(t, err, "version 0", "an unmigrated schema is refused without WithMigrate")

	// Instances starting together migrate once.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = New(ctx, p, WithSchema(ns)) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM "+quoteIdent(ns)+"._migrations").Scan(&n))
	require.Equal(t, SchemaVersion(), n)
	s, err := New(ctx, p, WithSchema(ns), WithMigrate(false))
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx), "migrating again is a no-op")

	// A schema migrated by a newer release is refused.
	_, err = p.Exec(ctx, "INSERT INTO "+quoteIdent(ns)+"._migrations (version, name) VALUES (99, 'future')")
	require.NoError(t, err)
	_, err = New(ctx, p, WithSchema(ns))
	require.ErrorContains(t, err, "newer")
	_, err = New(ctx, p, WithSchema(ns), WithMigrate(false))
	require.Error(t, err)
}

func TestOpenOwnsPool(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	s, err := Open(ctx, testDSN(t), WithSchema(ns))
	require.NoError(t, err)
	require.Equal(t, ns, s.Schema())
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	require.NoError(t, s.Close())
	_, err = s.Get(ctx, "ticket", "a")
	require.Error(t, err, "Close closed the pool Open made")

	shared, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	require.NoError(t, shared.Close())
	require.NoError(t, p.Ping(ctx), "Close leaves a pool passed to New open")

	_, err = New(ctx, nil)
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = New(ctx, p, WithEventReadWait(-time.Second))
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestConcurrentRegisterAndSequenceAcrossStores starts instances that
// register the same kind and draw from the same new sequence at once: the
// DDL happens once, and nobody fails.
func TestConcurrentRegisterAndSequenceAcrossStores(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				s, err := New(ctx, p, WithSchema(ns))
				if err != nil {
					errs[i] = err
					return
				}
				sc := ticketSchema(fmt.Sprintf("kind%d", round))
				if err := s.Register(ctx, sc); err != nil {
					errs[i] = err
					return
				}
				errs[i] = s.Update(ctx, func(tx storage.Tx) error {
					_, err := tx.NextSequence(ctx, fmt.Sprintf("seq%d", round))
					return err
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "round %d instance %d", round, i)
		}
	}
}
