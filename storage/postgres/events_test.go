package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
func lateCommit(t *testing.T, noLock bool) (lateSeq int64, early []itsm.Event, all []itsm.Event) {
	t.Helper()
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	writer, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	late, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	writer.noEventLock, late.noEventLock = noLock, noLock

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
		evs, err := writer.ReadEvents(ctx, 0, 100)
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
	rest, err := writer.ReadEvents(ctx, all[len(all)-1].Seq, 100)
	require.NoError(t, err)
	return lateSeq, early, append(all, rest...)
}

// TestLateCommitNeverSkipped is the event log's hard requirement: a unit that
// drew Seq 41 and commits after 42 was committed is still read, once.
func TestLateCommitNeverSkipped(t *testing.T) {
	lateSeq, early, all := lateCommit(t, false)
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

// TestLateCommitWithoutLockSkips shows that the scenario above is real: with
// the event lock left out, the same reader skips the late event.
func TestLateCommitWithoutLockSkips(t *testing.T) {
	lateSeq, early, all := lateCommit(t, true)
	require.NotNil(t, early, "without the lock the reader does not wait")
	require.Len(t, early, 5)
	for _, e := range early {
		require.Greater(t, e.Seq, lateSeq)
	}
	for _, e := range all {
		require.NotEqual(t, lateSeq, e.Seq, "a consumer continuing after the early read never sees the late event")
	}
}

func TestReadEventsLockTimeout(t *testing.T) {
	ctx := context.Background()
	p := testPool(t)
	ns := freshSchema(t, p)
	reader, err := New(ctx, p, WithSchema(ns), WithEventReadLockTimeout(100*time.Millisecond))
	require.NoError(t, err)
	late, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	drawn, release := make(chan struct{}), make(chan struct{})
	late.beforeCommit = func(context.Context) { close(drawn); <-release }
	lateDone := make(chan error, 1)
	go func() {
		lateDone <- late.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "late", 1, "")) })
	}()
	<-drawn
	require.NoError(t, reader.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "w", 1, "")) }))
	_, err = reader.ReadEvents(ctx, 0, 10)
	require.Error(t, err, "the reader gives up instead of waiting without bound")
	// Writers are not held up by the reader that gave up.
	require.NoError(t, reader.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, sealedEvent("t", "w", 2, "")) }))
	close(release)
	require.NoError(t, <-lateDone)
	got, err := reader.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 3)
}

// TestReadEventsUpToHole holds a unit open with Seq 3 drawn while 1, 2 and
// 4 are committed: a reader gets 1 and 2 at once, without any lock, and
// waits at 3 for the late unit.
func TestReadEventsUpToHole(t *testing.T) {
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
	locked := s.lockedReads.Load()
	got, err := s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, []int64{got[0].Seq, got[1].Seq})
	require.Len(t, got, 2, "the reader stops before the hole")
	require.Equal(t, locked, s.lockedReads.Load(), "no lock taken")

	next := make(chan []itsm.Event, 1)
	go func() {
		evs, err := s.ReadEvents(ctx, 2, 10)
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
		t.Run(fmt.Sprintf("dawdle=%v", dawdle), func(t *testing.T) { consumerUnderLoad(t, dawdle) })
	}
}

func consumerUnderLoad(t *testing.T, dawdle bool) {
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
			evs, err := stores[0].ReadEvents(ctx, after, 7)
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
				evs, err := stores[0].ReadEvents(ctx, after, 1_000_000)
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
