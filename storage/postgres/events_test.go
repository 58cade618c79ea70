package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestEventRoundTrip(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	base := sealedEvent("ticket", "r1", 1, "")
	cases := []struct {
		name   string
		mutate func(e *itsm.Event)
	}{
		{"plain", func(*itsm.Event) {}},
		{"nil changes", func(e *itsm.Event) { e.Changes = nil }},
		{"empty changes", func(e *itsm.Event) { e.Changes = []itsm.FieldChange{} }},
		{"unicode and quotes", func(e *itsm.Event) {
			e.Reason = `Ünïcødé ✓ 日本語 🎉 '"\%_;--`
			e.Changes = []itsm.FieldChange{{Field: "title", From: `"a \"b\""`, To: `{"x":[1,2,{"y":null}]}`}, {Field: "n", From: "1", To: "2"}}
		}},
		{"zero times", func(e *itsm.Event) { e.At, e.RecordedAt = time.Time{}, time.Time{} }},
		{"far times", func(e *itsm.Event) {
			e.At = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
			e.RecordedAt = time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC)
		}},
		{"empty strings", func(e *itsm.Event) { e.Number, e.From, e.Reason, e.PrevHash = "", "", "", "" }},
	}
	var want []itsm.Event
	for i, c := range cases {
		e := base
		e.RecordID = fmt.Sprintf("r%d", i)
		e.Changes = slices.Clone(base.Changes)
		c.mutate(&e)
		itsm.Seal(&e, e.PrevHash)
		want = append(want, e)
	}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, want...) }))
	got, err := s.ReadEvents(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Greater(t, got[i].Seq, int64(0))
		if i > 0 {
			require.Greater(t, got[i].Seq, got[i-1].Seq, "Seq follows the order given")
		}
		w := want[i]
		w.Seq, w.Tenant = got[i].Seq, itsm.DefaultTenant
		require.Equal(t, w, got[i], cases[i].name)
		h, err := s.History(ctx, "ticket", w.RecordID)
		require.NoError(t, err)
		require.Equal(t, []itsm.Event{w}, h, cases[i].name)
		require.NoError(t, itsm.Verify(h, w.Hash), cases[i].name)
	}
}

func TestHistoryChain(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	prev := ""
	for v := int64(1); v <= 5; v++ {
		e := sealedEvent("ticket", "chain", v, prev)
		prev = e.Hash
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, e) }))
	}
	h, err := s.History(ctx, "ticket", "chain")
	require.NoError(t, err)
	require.Len(t, h, 5)
	require.NoError(t, itsm.Verify(h, prev))
	none, err := s.History(ctx, "ticket", "nobody")
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestEventOrderInLargeUnit(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const n = 3000
	events := make([]itsm.Event, n)
	for i := range events {
		events[i] = sealedEvent("ticket", fmt.Sprintf("r%05d", i), 1, "")
	}
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, events...) }))
	var got []itsm.Event
	for after := int64(0); ; {
		page, err := s.ReadEvents(ctx, after, 700)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Seq
	}
	require.Len(t, got, n)
	for i := range got {
		require.Equal(t, events[i].ID, got[i].ID, "event %d out of order", i)
	}
}

func TestReadEventsArguments(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, limit := range []int{0, -1} {
		_, err := s.ReadEvents(ctx, 0, limit)
		require.ErrorIs(t, err, itsm.ErrInvalid)
	}
	got, err := s.ReadEvents(ctx, -5, 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

// lateCommit holds one unit of work open after it drew its Seq (its events
// are inserted, its COMMIT not sent) while other units commit events with
// higher Seq and a reader reads. It returns the late unit's Seq, what the
// reader got before the late unit was released (nil if the reader was still
// waiting) and the events the reader read in total.
func lateCommit(t *testing.T, rctx context.Context, unsafeReads bool) (lateSeq int64, early []itsm.Event, all []itsm.Event) {
	t.Helper()
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	writer, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	late, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	writer.unsafeReads = unsafeReads

	drawn, release := make(chan struct{}), make(chan struct{})
	late.beforeCommit = func(context.Context) {
		close(drawn)
		<-release
	}
	lateDone := make(chan error, 1)
	go func() {
		lateDone <- late.Update(ctx, func(tx storage.Tx) error {
			return tx.Append(ctx, sealedEvent("ticket", "late", 1, ""))
		})
	}()
	<-drawn
	require.NoError(t, p.QueryRow(ctx, "SELECT last_value FROM "+quoteIdent(ns)+"._event_seq").Scan(&lateSeq))

	// Later units commit events with higher Seq while the late one waits.
	for i := range 5 {
		require.NoError(t, writer.Update(ctx, func(tx storage.Tx) error {
			return tx.Append(ctx, sealedEvent("ticket", fmt.Sprintf("early%d", i), 1, ""))
		}))
	}

	readDone := make(chan []itsm.Event, 1)
	go func() {
		evs, err := writer.ReadEvents(rctx, 0, 100)
		assert.NoError(t, err)
		readDone <- evs
	}()
	select {
	case early = <-readDone:
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-lateDone)
	if early == nil {
		early = <-readDone
		// The reader waited for the late unit, so it saw it.
		all = early
		early = nil
	} else {
		all = early
	}
	// A consumer continues from the last Seq it saw.
	rest, err := writer.ReadEvents(rctx, all[len(all)-1].Seq, 100)
	require.NoError(t, err)
	return lateSeq, early, append(all, rest...)
}

// TestLateCommitNeverSkipped is the event log's hard requirement: a unit that
// drew Seq 41 and commits after 42 was committed is still read, once.
func TestLateCommitNeverSkipped(t *testing.T) {
	for _, rc := range readContexts() {
		t.Run(rc.name, func(t *testing.T) { lateCommitNeverSkipped(t, rc.ctx) })
	}
}

func lateCommitNeverSkipped(t *testing.T, rctx context.Context) {
	lateSeq, early, all := lateCommit(t, rctx, false)
	require.Nil(t, early, "the reader must wait for the unit that holds a lower Seq")
	seqs := make([]int64, len(all))
	for i, e := range all {
		seqs[i] = e.Seq
	}
	require.Contains(t, seqs, lateSeq, "the late event was skipped")
	require.Len(t, all, 6, "every event once")
	require.True(t, slices.IsSorted(seqs))
	require.Len(t, slices.Compact(slices.Clone(seqs)), 6, "no event twice")
}

// TestLateCommitUnsafeReaderSkips shows that the scenario above is real: a
// reader that hands out every event it reads, ignoring holes, skips
// the late event.
func TestLateCommitUnsafeReaderSkips(t *testing.T) {
	lateSeq, early, all := lateCommit(t, context.Background(), true)
	require.NotNil(t, early, "the unsafe reader does not wait")
	require.Len(t, early, 5)
	for _, e := range early {
		require.Greater(t, e.Seq, lateSeq)
	}
	for _, e := range all {
		require.NotEqual(t, lateSeq, e.Seq, "a consumer continuing after the early read never sees the late event")
	}
}

// holdUnit starts a unit of work on its own Store value in schema ns that
// appends one event of record id and stops after drawing its Seq, before
// COMMIT. It returns the Seq drawn, a function that lets the unit commit,
// and the unit's result.
func holdUnit(t testing.TB, ns, id string) (seq int64, release func(), done <-chan error) {
	t.Helper()
	return holdTenantUnit(t, context.Background(), ns, id)
}

// holdTenantUnit is holdUnit for the tenant of ctx.
func holdTenantUnit(t testing.TB, ctx context.Context, ns, id string) (seq int64, release func(), done <-chan error) {
	t.Helper()
	p := testPool(t)
	late, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	drawn, free := make(chan struct{}), make(chan struct{})
	late.beforeCommit = func(context.Context) { close(drawn); <-free }
	result := make(chan error, 1)
	go func() {
		result <- late.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", id, 1, "")) })
	}()
	<-drawn
	require.NoError(t, p.QueryRow(ctx, "SELECT last_value FROM "+quoteIdent(ns)+"._event_seq").Scan(&seq))
	var once sync.Once
	release = func() { once.Do(func() { close(free) }) }
	t.Cleanup(release)
	return seq, release, result
}

// readContexts are the two kinds of reader: of the default tenant (a
// context without one), and of every tenant (storage.AllTenants). With one
// tenant writing, both must behave alike.
func readContexts() []struct {
	name string
	ctx  context.Context
} {
	ctx := context.Background()
	return []struct {
		name string
		ctx  context.Context
	}{{"tenant", ctx}, {"all tenants", storage.AllTenants(ctx)}}
}

// TestReadEventsAtHole holds a unit open with Seq 1 drawn while a later
// event commits: a reader that can hand out nothing yet waits up to its
// bound and then says it is busy, or with no bound returns nothing at once;
// a caller's deadline ends the wait as busy too. Writers are never held up.
func TestReadEventsAtHole(t *testing.T) {
	cases := []struct {
		name    string
		wait    time.Duration
		timeout time.Duration // the caller's deadline; 0: none
		busy    bool
	}{
		{"bound passes", 100 * time.Millisecond, 0, true},
		{"no wait", 0, 0, false},
		{"caller's deadline", time.Hour, 150 * time.Millisecond, true},
	}
	for _, c := range cases {
		for _, rc := range readContexts() {
			t.Run(c.name+"/"+rc.name, func(t *testing.T) { readEventsAtHole(t, rc.ctx, c.wait, c.timeout, c.busy) })
		}
	}
}

func readEventsAtHole(t *testing.T, readCtx context.Context, wait, timeout time.Duration, busy bool) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	reader, err := New(ctx, p, WithSchema(ns), WithEventReadWait(wait))
	require.NoError(t, err)
	_, release, lateDone := holdUnit(t, ns, "late")
	appendOne := func(v int64) {
		require.NoError(t, reader.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "w", v, "")) }))
	}
	appendOne(1)
	rctx := readCtx
	if timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(readCtx, timeout)
		defer cancel()
	}
	waits := reader.gapWaits.Load()
	got, err := reader.ReadEvents(rctx, 0, 10)
	if busy {
		require.ErrorIs(t, err, itsm.ErrBusy)
		require.ErrorContains(t, err, "retry")
		require.Equal(t, waits+1, reader.gapWaits.Load(), "the reader waited")
		if timeout > 0 {
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
	} else {
		require.NoError(t, err)
		require.Empty(t, got, "nothing is safe yet")
		require.Equal(t, waits, reader.gapWaits.Load(), "the reader did not wait")
	}
	// Writers are not held up by the reader.
	appendOne(2)
	release()
	require.NoError(t, <-lateDone)
	got, err = reader.ReadEvents(readCtx, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, "late", got[0].RecordID)
}

// TestReadEventsServerTimeouts maps a read the server stops by lock_timeout
// or statement_timeout (here: a migration-like lock held on the log) to
// itsm.ErrBusy, and leaves other failures without it.
func TestReadEventsServerTimeouts(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, param, value string
		busy               bool
	}{
		{"lock_timeout", "lock_timeout", "1s", true},
		{"statement_timeout", "statement_timeout", "1s", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The schema is migrated and written through the shared pool
			// first, so the timeout only meets the read (a migration under
			// a loaded machine can outlast a short statement_timeout).
			ns := freshSchema(t, testPool(t))
			setup, err := New(ctx, testPool(t), WithSchema(ns))
			require.NoError(t, err)
			require.NoError(t, setup.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "a", 1, "")) }))
			cfg, err := pgxpool.ParseConfig(testDSN(t))
			require.NoError(t, err)
			cfg.ConnConfig.RuntimeParams[c.param] = c.value
			p, err := pgxpool.NewWithConfig(ctx, cfg)
			require.NoError(t, err)
			defer p.Close()
			s, err := New(ctx, p, WithSchema(ns))
			require.NoError(t, err)

			locker, err := testPool(t).Begin(ctx)
			require.NoError(t, err)
			_, err = locker.Exec(ctx, "LOCK TABLE "+s.eventsTable+" IN ACCESS EXCLUSIVE MODE")
			require.NoError(t, err)
			_, err = s.ReadEvents(ctx, 0, 10)
			require.NoError(t, locker.Rollback(ctx))
			require.ErrorIs(t, err, itsm.ErrBusy)
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr, "the driver's error is wrapped")
			got, err := s.ReadEvents(ctx, 0, 10)
			require.NoError(t, err)
			require.Len(t, got, 1)
		})
	}
	t.Run("cancelled by the caller", func(t *testing.T) {
		s := newTestStore(t)
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "a", 1, "")) }))
		locker, err := testPool(t).Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = locker.Rollback(ctx) }()
		_, err = locker.Exec(ctx, "LOCK TABLE "+s.eventsTable+" IN ACCESS EXCLUSIVE MODE")
		require.NoError(t, err)
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err = s.ReadEvents(rctx, 0, 10)
		require.Error(t, err)
		require.NotErrorIs(t, err, itsm.ErrBusy, "the caller gave up; the server did not refuse")
	})
	t.Run("database failure", func(t *testing.T) {
		s := newTestStore(t)
		_, err := testPool(t).Exec(ctx, "DROP TABLE "+s.eventsTable)
		require.NoError(t, err)
		_, err = s.ReadEvents(ctx, 0, 10)
		require.Error(t, err)
		require.NotErrorIs(t, err, itsm.ErrBusy)
	})
}

// TestWriterNotHeldByReaderAtHole is issue 20's scenario: a unit appended an
// event and has not committed; another unit commits after it, so a consumer
// polling the log waits at the hole the first one leaves; an unrelated
// writer commits. The writer completes while the first unit is
// still open, and once it commits the consumer reads every event once, in
// Seq order, the held one included.
func TestWriterNotHeldByReaderAtHole(t *testing.T) {
	for _, wait := range []time.Duration{DefaultEventReadWait, 0} {
		t.Run(fmt.Sprintf("wait=%s", wait), func(t *testing.T) {
			ctx := context.Background()
			p := testPool(t)
			ns := freshSchema(t, p)
			s, err := New(ctx, p, WithSchema(ns), WithEventReadWait(wait))
			require.NoError(t, err)
			require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "before", 1, "")) }))
			heldSeq, release, heldDone := holdUnit(t, ns, "held")

			// The consumer polls from the start until it has the held event
			// and the writer's.
			stop := make(chan struct{})
			var consumed []itsm.Event
			var polls atomic.Int64
			consumerDone := make(chan error, 1)
			go func() {
				after := int64(0)
				for {
					evs, err := s.ReadEvents(ctx, after, 10)
					polls.Add(1)
					if err != nil && !errors.Is(err, itsm.ErrBusy) {
						consumerDone <- err
						return
					}
					consumed = append(consumed, evs...)
					if len(evs) > 0 {
						after = evs[len(evs)-1].Seq
					} else {
						time.Sleep(time.Millisecond) // a poller's pause, not a measurement
					}
					if len(consumed) >= 4 {
						consumerDone <- nil
						return
					}
					select {
					case <-stop:
						consumerDone <- fmt.Errorf("stopped with %d events", len(consumed))
						return
					default:
					}
				}
			}()
			// A first writer commits after the hole: the consumer is at it,
			// waiting in ReadEvents or (with no wait) coming back from it
			// empty-handed.
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "after", 1, "")) }))
			seen := polls.Load()
			for (wait > 0 && s.gapWaits.Load() == 0) || (wait == 0 && polls.Load() < seen+2) {
				runtime.Gosched()
			}

			writerDone := make(chan error, 1)
			go func() {
				writerDone <- s.Update(ctx, func(tx storage.Tx) error {
					if err := tx.Put(ctx, ticket("ticket", "w", 1, "g", "new", 1, time.Unix(0, 0)), 0); err != nil {
						return err
					}
					return tx.Append(ctx, sealedEvent("ticket", "w", 1, ""))
				})
			}()
			select {
			case err := <-writerDone:
				require.NoError(t, err, "the writer committed while the held unit is open")
			case <-heldDone:
				t.Fatal("the held unit ended before it was released")
			case <-time.After(30 * time.Second):
				t.Fatal("the writer is held up by the reader at the hole")
			}
			select {
			case <-heldDone:
				t.Fatal("the held unit ended before it was released")
			default:
			}
			release()
			require.NoError(t, <-heldDone)
			select {
			case err := <-consumerDone:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				close(stop)
				require.NoError(t, <-consumerDone)
			}
			ids := make([]string, len(consumed))
			for i, e := range consumed {
				ids[i] = e.RecordID
				if i > 0 {
					require.Greater(t, e.Seq, consumed[i-1].Seq)
				}
			}
			require.Equal(t, []string{"before", "held", "after", "w"}, ids, "every event once, in Seq order")
			require.Equal(t, heldSeq, consumed[1].Seq)
		})
	}
}

// TestReadEventsUpToHole holds a unit open with Seq 3 drawn while 1, 2 and
// 4 are committed: a reader gets 1 and 2 at once, and waits at 3 for the
// late unit.
func TestReadEventsUpToHole(t *testing.T) {
	for _, rc := range readContexts() {
		t.Run(rc.name, func(t *testing.T) { readEventsUpToHole(t, rc.ctx) })
	}
}

func readEventsUpToHole(t *testing.T, rctx context.Context) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	s, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	late, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	appendOne := func(id string) {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", id, 1, "")) }))
	}
	appendOne("one")
	appendOne("two")
	drawn, release := make(chan struct{}), make(chan struct{})
	late.beforeCommit = func(context.Context) { close(drawn); <-release }
	lateDone := make(chan error, 1)
	go func() {
		lateDone <- late.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "three", 1, "")) })
	}()
	<-drawn
	appendOne("four")
	waits := s.gapWaits.Load()
	got, err := s.ReadEvents(rctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, []int64{got[0].Seq, got[1].Seq})
	require.Len(t, got, 2, "the reader stops before the hole")
	require.Equal(t, waits, s.gapWaits.Load(), "no wait: the reader hands out what is safe")

	next := make(chan []itsm.Event, 1)
	go func() {
		evs, err := s.ReadEvents(rctx, 2, 10)
		assert.NoError(t, err)
		next <- evs
	}()
	select {
	case evs := <-next:
		t.Fatalf("the reader went past the hole at 3: %d events", len(evs))
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-lateDone)
	evs := <-next
	require.Len(t, evs, 2)
	require.Equal(t, "three", evs[0].RecordID)
	require.Equal(t, "four", evs[1].RecordID)
}

// TestConsumerUnderLoad runs writers on two Store values (two "instances")
// whose units commit in random order, some dawdling between drawing their
// Seq and committing, while a consumer reads incrementally. The consumer
// must end with every committed event exactly once, in Seq order.
func TestConsumerUnderLoad(t *testing.T) {
	// With the hook, units commit through an explicit transaction held open
	// a little before COMMIT; without it, through the implicit transaction
	// of one pipeline, as in production.
	for _, dawdle := range []bool{true, false} {
		for _, rc := range readContexts() {
			t.Run(fmt.Sprintf("dawdle=%v/%s", dawdle, rc.name), func(t *testing.T) { consumerUnderLoad(t, rc.ctx, dawdle) })
		}
	}
}

func consumerUnderLoad(t *testing.T, rctx context.Context, dawdle bool) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	var stores [2]*Store
	for i := range stores {
		s, err := New(ctx, p, WithSchema(ns))
		require.NoError(t, err)
		var n atomic.Int64
		if dawdle {
			s.beforeCommit = func(context.Context) {
				if n.Add(1)%3 == 0 {
					time.Sleep(time.Duration(n.Load()%7) * time.Millisecond)
				}
			}
		}
		stores[i] = s
	}
	const writers, units = 6, 40
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Go(func() {
			s := stores[w%2]
			for u := range units {
				err := s.Update(ctx, func(tx storage.Tx) error {
					return tx.Append(ctx,
						sealedEvent("t", fmt.Sprintf("w%d_u%d", w, u), 1, ""),
						sealedEvent("t", fmt.Sprintf("w%d_u%d", w, u), 2, ""))
				})
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	stop := make(chan struct{})
	var consumed []itsm.Event
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		after := int64(0)
		for {
			evs, err := stores[0].ReadEvents(rctx, after, 7)
			if !assert.NoError(t, err) {
				return
			}
			consumed = append(consumed, evs...)
			if len(evs) > 0 {
				after = evs[len(evs)-1].Seq
				continue
			}
			select {
			case <-stop:
				evs, err := stores[0].ReadEvents(rctx, after, 1_000_000)
				assert.NoError(t, err)
				consumed = append(consumed, evs...)
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-consumerDone
	require.Zero(t, failed.Load())
	var total int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM "+quoteIdent(ns)+"._events").Scan(&total))
	require.Equal(t, writers*units*2, total)
	require.Equal(t, total, len(consumed), "the consumer saw every event exactly once")
	seen := map[int64]bool{}
	for i, e := range consumed {
		require.False(t, seen[e.Seq], "event %d read twice", e.Seq)
		seen[e.Seq] = true
		if i > 0 {
			require.Greater(t, e.Seq, consumed[i-1].Seq)
		}
	}
}

// TestLockKeyRoundTrip checks that the 32-bit key of an event lock, as
// pg_locks shows it, reads back as the Seq it was taken at, also across the
// 2^32 boundaries, given any reference within 2^31 of it; and that the SQL
// that takes the lock computes the same key as lockKey.
func TestLockKeyRoundTrip(t *testing.T) {
	cases := []struct{ seq, ref int64 }{
		{0, 0}, {1, 5}, {41, 42}, {1<<31 - 1, 1 << 31}, {1 << 31, 1<<31 + 7},
		{1<<32 - 1, 1 << 32}, {1 << 32, 1<<32 - 3}, {5<<32 + 12345, 5<<32 + 99999}, {1<<62 + 3, 1<<62 + 1<<30},
	}
	for _, c := range cases {
		objid := int64(uint32(lockKey(c.seq)))
		require.Equal(t, c.seq, lockSeq(objid, c.ref), "seq %d ref %d", c.seq, c.ref)
	}
	ctx := context.Background()
	for _, c := range cases[:6] {
		var key int32
		require.NoError(t, testPool(t).QueryRow(ctx, "SELECT ($1::int8 % 4294967296 - 2147483648)::int4", c.seq).Scan(&key))
		require.Equal(t, lockKey(c.seq), key, "seq %d", c.seq)
	}
}

// TestReadEventsPastDecidedHole: Seq 2 is drawn and never used (a unit that
// rolled back), 3 commits, a unit holds 4 open, 5 commits. A reader after 1
// gets 3 (every Seq up to it is decided) and stops before the held 4 even
// though 5 is there; it gets 4 and 5 once the held unit commits.
func TestReadEventsPastDecidedHole(t *testing.T) {
	for _, rc := range readContexts() {
		t.Run(rc.name, func(t *testing.T) { readEventsPastDecidedHole(t, rc.ctx) })
	}
}

func readEventsPastDecidedHole(t *testing.T, rctx context.Context) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	s, err := New(ctx, p, WithSchema(ns), WithEventReadWait(0))
	require.NoError(t, err)
	appendOne := func(id string) {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", id, 1, "")) }))
	}
	appendOne("one")
	_, err = p.Exec(ctx, "SELECT nextval('"+quoteIdent(ns)+"._event_seq')")
	require.NoError(t, err)
	appendOne("three")
	heldSeq, release, heldDone := holdUnit(t, ns, "four")
	require.Equal(t, int64(4), heldSeq)
	appendOne("five")

	got, err := s.ReadEvents(rctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "the reader stops before the held unit")
	require.Equal(t, "three", got[0].RecordID)
	require.Equal(t, int64(3), got[0].Seq)
	got, err = s.ReadEvents(rctx, 3, 10)
	require.NoError(t, err)
	require.Empty(t, got, "nothing is safe after 3 while 4 is open")

	release()
	require.NoError(t, <-heldDone)
	got, err = s.ReadEvents(rctx, 3, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, []string{"four", "five"}, []string{got[0].RecordID, got[1].RecordID})
}

// TestReadEventsTenantHoles: two tenants write interleaved, so each
// tenant's reader sees the other's Seqs as holes, and a unit of tenant acme
// is held open with Seq 5 drawn. A reader of beta hands out beta's events
// past acme's hole, at once and as beta goes on writing; a reader of acme
// stops before it, waits, says it is busy when the wait runs out, and hands
// out the held event once it commits, once; a reader of every tenant stops
// at it too, and then reads every event once.
func TestReadEventsTenantHoles(t *testing.T) {
	bg := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	s, err := New(bg, p, WithSchema(ns), WithEventReadWait(150*time.Millisecond))
	require.NoError(t, err)
	patient, err := New(bg, p, WithSchema(ns), WithEventReadWait(time.Minute))
	require.NoError(t, err)
	acme, beta := itsm.WithTenant(bg, "acme"), itsm.WithTenant(bg, "beta")
	all := storage.AllTenants(bg)
	write := func(ctx context.Context, id string) {
		t.Helper()
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", id, 1, "")) }))
	}
	// drain reads from after until a read returns nothing or fails.
	drain := func(ctx context.Context, after int64) ([]itsm.Event, error) {
		var got []itsm.Event
		for {
			evs, err := s.ReadEvents(ctx, after, 2)
			if err != nil || len(evs) == 0 {
				return got, err
			}
			got = append(got, evs...)
			after = evs[len(evs)-1].Seq
		}
	}
	type seen struct {
		ID     string
		Seq    int64
		Tenant string
	}
	seenOf := func(evs []itsm.Event) []seen {
		out := make([]seen, len(evs))
		for i, e := range evs {
			out[i] = seen{e.RecordID, e.Seq, e.Tenant}
		}
		return out
	}

	write(acme, "a1")
	write(beta, "b1")
	write(acme, "a2")
	write(beta, "b2")
	heldSeq, release, heldDone := holdTenantUnit(t, acme, ns, "a-held")
	require.Equal(t, int64(5), heldSeq)
	write(beta, "b3")
	write(acme, "a3")
	write(beta, "b4")

	waits, looks := s.gapWaits.Load(), s.holeReads.Load()
	got, err := drain(beta, 0)
	require.NoError(t, err)
	require.Equal(t, []seen{{"b1", 2, "beta"}, {"b2", 4, "beta"}, {"b3", 6, "beta"}, {"b4", 8, "beta"}}, seenOf(got),
		"beta's reader goes past acme's open unit")
	write(acme, "a4")
	write(beta, "b5")
	got, err = drain(beta, 8)
	require.NoError(t, err)
	require.Equal(t, []seen{{"b5", 10, "beta"}}, seenOf(got), "and keeps up with beta while acme's unit stays open")
	require.Equal(t, waits, s.gapWaits.Load(), "beta's reader never waited")
	require.Greater(t, s.holeReads.Load(), looks, "beta's reads looked at the locks where acme's Seqs leave holes")

	got, err = drain(acme, 0)
	require.ErrorIs(t, err, itsm.ErrBusy, "acme's reader waits at its own open unit, then gives up")
	require.ErrorContains(t, err, "retry")
	require.Equal(t, []seen{{"a1", 1, "acme"}, {"a2", 3, "acme"}}, seenOf(got), "acme's reader stops before its open unit")
	require.Equal(t, waits+1, s.gapWaits.Load())

	got, err = drain(all, 0)
	require.ErrorIs(t, err, itsm.ErrBusy, "a reader of every tenant waits at the open unit")
	require.Equal(t, []int64{1, 2, 3, 4}, seqsOf(got))

	acmeRead := make(chan []itsm.Event, 1)
	go func() {
		evs, err := patient.ReadEvents(acme, 3, 10)
		assert.NoError(t, err)
		acmeRead <- evs
	}()
	select {
	case evs := <-acmeRead:
		t.Fatalf("acme's reader went past its open unit: %v", seenOf(evs))
	case <-time.After(200 * time.Millisecond):
	}
	release()
	require.NoError(t, <-heldDone)
	got = <-acmeRead
	require.Equal(t, []seen{{"a-held", 5, "acme"}, {"a3", 7, "acme"}, {"a4", 9, "acme"}}, seenOf(got),
		"acme's reader gets the late event once it commits, then the rest")
	got, err = drain(acme, 9)
	require.NoError(t, err)
	require.Empty(t, got, "nothing twice")
	got, err = drain(beta, 10)
	require.NoError(t, err)
	require.Empty(t, got)

	got, err = drain(all, 4)
	require.NoError(t, err)
	require.Equal(t, []int64{5, 6, 7, 8, 9, 10}, seqsOf(got), "every tenant's events once, in Seq order")
}

func seqsOf(evs []itsm.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// TestTenantConsumersUnderLoad runs writers of three tenants on two Store
// values, some units dawdling between drawing their Seq and committing, while
// a consumer per tenant and one of every tenant read incrementally. Each
// must end with every committed event of its tenants exactly once, in Seq
// order.
func TestTenantConsumersUnderLoad(t *testing.T) {
	bg := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	var stores [2]*Store
	for i := range stores {
		s, err := New(bg, p, WithSchema(ns))
		require.NoError(t, err)
		var n atomic.Int64
		s.beforeCommit = func(context.Context) {
			if n.Add(1)%3 == 0 {
				time.Sleep(time.Duration(n.Load()%7) * time.Millisecond)
			}
		}
		stores[i] = s
	}
	tenants := []string{"acme", "beta", "gamma"}
	const writers, units = 6, 30
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Go(func() {
			s, ctx := stores[w%2], itsm.WithTenant(bg, tenants[w%3])
			for u := range units {
				err := s.Update(ctx, func(tx storage.Tx) error {
					id := fmt.Sprintf("w%d_u%d", w, u)
					return tx.Append(ctx, sealedEvent("t", id, 1, ""), sealedEvent("t", id, 2, ""))
				})
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	readers := map[string]context.Context{"*": storage.AllTenants(bg)}
	for _, tn := range tenants {
		readers[tn] = itsm.WithTenant(bg, tn)
	}
	stop := make(chan struct{})
	consumed := map[string][]itsm.Event{}
	var mu sync.Mutex
	var consumers sync.WaitGroup
	for name, rctx := range readers {
		consumers.Go(func() {
			var got []itsm.Event
			defer func() { mu.Lock(); consumed[name] = got; mu.Unlock() }()
			after, stopping := int64(0), false
			for {
				evs, err := stores[1].ReadEvents(rctx, after, 7)
				if err != nil && !errors.Is(err, itsm.ErrBusy) {
					assert.NoError(t, err)
					return
				}
				got = append(got, evs...)
				if len(evs) > 0 {
					after = evs[len(evs)-1].Seq
					continue
				}
				if stopping && err == nil {
					return
				}
				select {
				case <-stop:
					stopping = true
				default:
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	consumers.Wait()
	require.Zero(t, failed.Load())
	for name := range readers {
		var want int
		q := "SELECT count(*) FROM " + quoteIdent(ns) + "._events"
		if name != "*" {
			q += " WHERE tenant = '" + name + "'"
		}
		require.NoError(t, p.QueryRow(bg, q).Scan(&want))
		got := consumed[name]
		require.Len(t, got, want, "reader %s saw every event of its tenants exactly once", name)
		for i, e := range got {
			if name != "*" {
				require.Equal(t, name, e.Tenant)
			}
			if i > 0 {
				require.Greater(t, e.Seq, got[i-1].Seq, "reader %s: in Seq order, none twice", name)
			}
		}
	}
	require.Len(t, consumed["*"], writers*units*2)
}
