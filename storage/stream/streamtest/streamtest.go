// Package streamtest is the conformance suite of the stream consumer on a
// store: Run proves on one storage.Backend that a stream.Consumer hands
// every event in Seq order, at least once, with duplicates only across a
// takeover of its lease, that a TxHandler's writes happen exactly once,
// and that backoff, panics and Stop behave. memory, SQLite and PostgreSQL
// run it; so should any adapter a host writes.
package streamtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Features declares what the store under test supports, so the suite
// tightens by capability, never by the store's name.
type Features struct {
	// Tenants: the store stamps each event with the tenant of its unit
	// and ReadEvents honours storage.AllTenants.
	Tenants bool
}

// Run runs the suite; open returns a fresh, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) storage.Backend, f Features) {
	t.Helper()
	s := &suite{open: open, f: f}
	t.Run("Order", s.testOrder)
	t.Run("From", s.testFrom)
	t.Run("Tenants", s.testTenants)
	t.Run("Takeover", s.testTakeover)
	t.Run("Cancel", s.testCancel)
	t.Run("Instances", s.testInstances)
	t.Run("Backoff", s.testBackoff)
	t.Run("Panic", s.testPanic)
	t.Run("Stop", s.testStop)
	t.Run("Transactional", s.testTransactional)
}

type suite struct {
	open func(t *testing.T) storage.Backend
	f    Features
}

var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// write appends n events in units of up to per events, each unit under
// ctx's tenant, and returns their ids in the order written.
func write(t *testing.T, ctx context.Context, b storage.Backend, n, per int) []string {
	t.Helper()
	var ids []string
	for n > 0 {
		k := min(n, per)
		evs := make([]itsm.Event, k)
		for i := range evs {
			rec := itsm.NewID()
			evs[i] = itsm.Event{ID: itsm.NewID(), Kind: "thing", RecordID: rec, RecordVersion: 1, Name: itsm.EventCreate,
				To: "open", Actor: "streamtest", At: base, RecordedAt: base,
				Changes: []itsm.FieldChange{{Field: "n", To: fmt.Sprint(len(ids) + i)}}}
			itsm.Seal(&evs[i], "")
			ids = append(ids, evs[i].ID)
		}
		require.NoError(t, b.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, evs...) }))
		n -= k
	}
	return ids
}

// recorder keeps what handlers were handed.
type recorder struct {
	mu      sync.Mutex
	batches []batch
}

type batch struct {
	instance string
	ids      []string
	seqs     []int64
}

func (r *recorder) add(instance string, evs []itsm.Event) {
	b := batch{instance: instance}
	for _, e := range evs {
		b.ids, b.seqs = append(b.ids, e.ID), append(b.seqs, e.Seq)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, b)
}

func (r *recorder) handler(instance string) stream.Handler {
	return stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
		r.add(instance, evs)
		return nil
	})
}

// ids returns every id handed, in the order handed.
func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.batches {
		out = append(out, b.ids...)
	}
	return out
}

// blockWait waits until ctx is done: a lease renewer that never renews,
// like an instance that hangs.
func blockWait(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

func drain(t *testing.T, ctx context.Context, c *stream.Consumer) int {
	t.Helper()
	total := 0
	for range 100000 {
		n, err := c.RunOnce(ctx)
		require.NoError(t, err)
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("the consumer never reached the end of the log")
	return total
}

// eventually polls cond every millisecond until it holds, and fails the
// test when it still does not after 30 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (s *suite) testOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	want := write(t, ctx, b, 257, 10)
	var rec recorder
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "order", Handler: rec.handler("a"), Batch: 64, Wait: blockWait})
	require.NoError(t, err)
	lag, err := c.Lag(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 257, lag)

	assert.Equal(t, 257, drain(t, ctx, c))
	assert.Equal(t, want, rec.ids(), "every event once, in the order written")
	var prev int64
	for _, bt := range rec.batches {
		assert.LessOrEqual(t, len(bt.ids), 64, "a batch holds at most Batch events")
		for _, q := range bt.seqs {
			assert.Greater(t, q, prev, "Seq order")
			prev = q
		}
	}
	cp, err := c.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Equal(t, prev, cp)
	lag, err = c.Lag(ctx)
	require.NoError(t, err)
	assert.Zero(t, lag)
	st := c.Stats()
	assert.EqualValues(t, 257, st.Events)
	assert.EqualValues(t, 5, st.Batches)
	assert.Equal(t, cp, st.Checkpoint)

	// The checkpoint is in the store: a new consumer with the name goes on
	// from it, and sees only what is written next.
	more := write(t, ctx, b, 3, 3)
	var rec2 recorder
	c2, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "order", Handler: rec2.handler("b"), Wait: blockWait})
	require.NoError(t, err)
	_, err = c2.RunOnce(ctx)
	require.ErrorIs(t, err, stream.ErrLeased, "the first instance holds the lease")
	n, err := c.RunOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, more, rec.ids()[257:], "the holder goes on")
}

func (s *suite) testFrom(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	ids := write(t, ctx, b, 20, 5)
	all, err := b.ReadEvents(storage.AllTenants(ctx), 0, 100)
	require.NoError(t, err)
	require.Len(t, all, 20)
	var rec recorder
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "from", Handler: rec.handler("a"), From: all[11].Seq, Wait: blockWait})
	require.NoError(t, err)
	assert.Equal(t, 8, drain(t, ctx, c))
	assert.Equal(t, ids[12:], rec.ids(), "no checkpoint yet: the consumer starts after From")

	// Once it has a checkpoint, From is ignored.
	var rec2 recorder
	c2, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "from", Handler: rec2.handler("a"), From: 0, Instance: c.Stats().Instance, Wait: blockWait})
	require.NoError(t, err)
	more := write(t, ctx, b, 2, 2)
	assert.Equal(t, 2, drain(t, ctx, c2))
	assert.Equal(t, more, rec2.ids())
}

func (s *suite) testTenants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	a := write(t, itsm.WithTenant(ctx, "acme"), b, 5, 2)
	g := write(t, itsm.WithTenant(ctx, "globex"), b, 4, 4)
	d := write(t, ctx, b, 3, 3)
	tenants := map[string]string{}
	for _, id := range a {
		tenants[id] = "acme"
	}
	for _, id := range g {
		tenants[id] = "globex"
	}
	for _, id := range d {
		tenants[id] = itsm.DefaultTenant
	}
	got := map[string]string{}
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "every_tenant", Wait: blockWait,
		Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
			for _, e := range evs {
				got[e.ID] = e.Tenant
			}
			return nil
		})})
	require.NoError(t, err)
	assert.Equal(t, 12, drain(t, ctx, c), "a consumer of every tenant reads every tenant's events")
	if !s.f.Tenants {
		assert.Len(t, got, 12)
		return
	}
	assert.Equal(t, tenants, got, "each event carries its tenant")

	var acme recorder
	one, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "acme_only", Tenant: "acme", Handler: acme.handler("x"), Wait: blockWait})
	require.NoError(t, err)
	assert.Equal(t, 5, drain(t, ctx, one))
	assert.Equal(t, a, acme.ids(), "a consumer of one tenant reads that tenant's events")
}

// testTakeover: instance a's handler hangs mid-batch and its lease is
// never renewed; once it runs out, b takes over and hands the same batch
// again. When a's handler returns at last, a cannot move the checkpoint.
func (s *suite) testTakeover(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	want := write(t, ctx, b, 30, 7)
	clock := itsm.NewFakeClock(base)
	var rec recorder
	entered, release := make(chan struct{}), make(chan struct{})
	hung := stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
		close(entered)
		<-release
		rec.add("a", evs)
		return nil
	})
	cfg := stream.ConsumerConfig{Name: "takeover", Batch: 10, Lease: 10 * time.Second, Clock: clock}
	ca := cfg
	ca.Instance, ca.Handler, ca.Wait = "a", hung, blockWait
	a, err := stream.NewConsumer(ctx, b, ca)
	require.NoError(t, err)
	cb := cfg
	cb.Instance, cb.Handler, cb.Wait = "b", rec.handler("b"), blockWait
	bb, err := stream.NewConsumer(ctx, b, cb)
	require.NoError(t, err)

	aDone := make(chan error, 1)
	go func() { _, err := a.RunOnce(ctx); aDone <- err }()
	<-entered
	_, err = bb.RunOnce(ctx)
	require.ErrorIs(t, err, stream.ErrLeased, "a holds the lease")
	require.ErrorIs(t, err, itsm.ErrConflict)

	clock.Advance(11 * time.Second) // a's lease runs out
	n, err := bb.RunOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 10, n, "b took over and handed a's batch again")
	close(release)
	require.ErrorIs(t, <-aDone, stream.ErrLeaseLost, "a lost its lease and did not move the checkpoint")
	cp, err := bb.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Equal(t, rec.batches[0].seqs[len(rec.batches[0].seqs)-1], cp)
	assert.Equal(t, 20, drain(t, ctx, bb))
	_, err = a.RunOnce(ctx)
	require.ErrorIs(t, err, stream.ErrLeased, "b holds the lease now")

	// Nothing lost; the one batch seen twice was seen by both instances.
	seen := map[string][]string{}
	for _, bt := range rec.batches {
		for _, id := range bt.ids {
			seen[id] = append(seen[id], bt.instance)
		}
	}
	for i, id := range want {
		switch {
		case i < 10:
			assert.ElementsMatch(t, []string{"a", "b"}, seen[id], "event %d: handed to both across the takeover", i)
		default:
			assert.Equal(t, []string{"b"}, seen[id], "event %d", i)
		}
	}
	assert.EqualValues(t, 1, a.Stats().Takeovers)
	assert.EqualValues(t, 1, bb.Stats().Takeovers)
}

// testCancel: an instance killed mid-batch (its context cancelled) moves
// nothing; the batch is handed again.
func (s *suite) testCancel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	want := write(t, ctx, b, 12, 12)
	entered := make(chan struct{})
	kill, cancel := context.WithCancel(ctx)
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "cancel", Batch: 5, Wait: blockWait,
		Handler: stream.HandlerFunc(func(ctx context.Context, _ []itsm.Event) error {
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		})})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := c.RunOnce(kill); done <- err }()
	<-entered
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	cp, err := c.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Zero(t, cp, "the killed batch moved nothing")

	var rec recorder
	again, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "cancel", Instance: c.Stats().Instance, Handler: rec.handler("a"), Wait: blockWait})
	require.NoError(t, err)
	assert.Equal(t, 12, drain(t, ctx, again))
	assert.Equal(t, want, rec.ids())
}

// testInstances: two instances run in the background while events are
// written; one is stopped midway. No event is lost, each batch comes in
// Seq order, and an event handed twice was handed to both instances.
func (s *suite) testInstances(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	var rec recorder
	mk := func(name string) *stream.Consumer {
		c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "instances", Instance: name, Batch: 16,
			Poll: time.Millisecond, Handler: rec.handler(name)})
		require.NoError(t, err)
		require.NoError(t, c.Start(ctx))
		return c
	}
	a, bb := mk("a"), mk("b")
	var want []string
	for i := range 20 {
		want = append(want, write(t, ctx, b, 10, 3)...)
		if i == 10 {
			require.NoError(t, a.Stop(ctx))
		}
	}
	eventually(t, "every event handled", func() bool {
		got := map[string]bool{}
		for _, id := range rec.ids() {
			got[id] = true
		}
		return len(got) == len(want)
	})
	require.NoError(t, bb.Stop(ctx))
	who := map[string][]string{}
	for _, bt := range rec.batches {
		assert.True(t, slices.IsSorted(bt.seqs), "Seq order within a batch")
		for _, id := range bt.ids {
			who[id] = append(who[id], bt.instance)
		}
	}
	for _, id := range want {
		require.NotEmpty(t, who[id], "event %s lost", id)
		if len(who[id]) > 1 {
			assert.ElementsMatch(t, []string{"a", "b"}, who[id], "a duplicate only across a takeover")
		}
	}
	assert.False(t, bb.Stats().Running)
}

// testBackoff: a failing handler is retried after waits that double from
// Backoff up to MaxBackoff, each less up to half (jitter); success resets.
func (s *suite) testBackoff(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	want := write(t, ctx, b, 4, 4)
	var mu sync.Mutex
	var waits []time.Duration
	fails := 5
	var rec recorder
	wait := func(ctx context.Context, d time.Duration) error {
		if d == stream.DefaultLease/3 { // the lease renewer: no renewal needed
			return blockWait(ctx, d)
		}
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	boom := errors.New("downstream unavailable")
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "backoff", Backoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, Poll: 7 * time.Second, Wait: wait,
		Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
			mu.Lock()
			defer mu.Unlock()
			if fails > 0 {
				fails--
				return boom
			}
			rec.add("a", evs)
			return nil
		})})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	eventually(t, "the batch handled after the failures", func() bool { return len(rec.ids()) == 4 })
	eventually(t, "a poll after the success", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(waits) > 5
	})
	require.NoError(t, c.Stop(ctx))
	assert.Equal(t, want, rec.ids())
	mu.Lock()
	defer mu.Unlock()
	caps := []time.Duration{100, 200, 400, 500, 500}
	for i, cp := range caps {
		cp *= time.Millisecond
		assert.GreaterOrEqual(t, waits[i], cp/2, "failure %d", i+1)
		assert.LessOrEqual(t, waits[i], cp, "failure %d", i+1)
	}
	assert.Equal(t, 7*time.Second, waits[5], "after a success Start polls")
	st := c.Stats()
	assert.EqualValues(t, 5, st.Failures)
	assert.Zero(t, st.Consecutive)
	assert.NoError(t, st.LastError)
}

func (s *suite) testPanic(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	want := write(t, ctx, b, 3, 3)
	var rec recorder
	panicked := false
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "panic", Wait: blockWait,
		Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
			if !panicked {
				panicked = true
				panic("handler bug")
			}
			rec.add("a", evs)
			return nil
		})})
	require.NoError(t, err)
	n, err := c.RunOnce(ctx)
	var pe *stream.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "handler bug", pe.Value)
	assert.NotEmpty(t, pe.Stack)
	assert.Zero(t, n)
	cp, err := c.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Zero(t, cp, "a panic moves nothing")
	assert.EqualValues(t, 1, c.Stats().Consecutive)
	assert.Equal(t, 3, drain(t, ctx, c))
	assert.Equal(t, want, rec.ids())
}

// testStop: Stop abandons the batch in hand without moving the
// checkpoint, returns once the loop ended, and gives the lease up.
func (s *suite) testStop(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	want := write(t, ctx, b, 6, 6)
	clock := itsm.NewFakeClock(base)
	entered := make(chan struct{})
	c, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "stop", Clock: clock, Wait: blockWait,
		Handler: stream.HandlerFunc(func(ctx context.Context, _ []itsm.Event) error {
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		})})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	require.ErrorIs(t, c.Start(ctx), itsm.ErrConflict, "started already")
	<-entered
	assert.True(t, c.Stats().Running)
	require.NoError(t, c.Stop(ctx))
	assert.False(t, c.Stats().Running)
	require.NoError(t, c.Stop(ctx), "stopping twice does nothing")
	require.ErrorIs(t, c.Start(ctx), itsm.ErrInvalid, "a stopped consumer is not started again")
	cp, err := c.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Zero(t, cp)

	// The lease was given up: another instance takes over at once, with
	// the clock where it was.
	var rec recorder
	next, err := stream.NewConsumer(ctx, b, stream.ConsumerConfig{Name: "stop", Clock: clock, Handler: rec.handler("b"), Wait: blockWait})
	require.NoError(t, err)
	assert.Equal(t, 6, drain(t, ctx, next))
	assert.Equal(t, want, rec.ids())
}

type effect struct {
	itsm.Record
	Event string `json:"event"`
}

// testTransactional: a TxHandler's writes commit with the checkpoint; a
// failed handler writes nothing; an instance that lost its lease commits
// nothing, so each event's effect is written exactly once.
func (s *suite) testTransactional(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s.open(t)
	effects := storage.NewCollection[effect]("stream_effect")
	require.NoError(t, effects.Register(ctx, b))
	want := write(t, ctx, b, 25, 5)
	clock := itsm.NewFakeClock(base)
	write1 := func(ctx context.Context, tx storage.Tx, evs []itsm.Event) error {
		for _, e := range evs {
			if err := effects.Put(ctx, tx, &effect{Record: itsm.Record{ID: itsm.NewID()}, Event: e.ID}); err != nil {
				return err
			}
		}
		return nil
	}
	failing := true
	entered, release := make(chan struct{}), make(chan struct{})
	cfg := stream.ConsumerConfig{Name: "tx", Batch: 10, Lease: 10 * time.Second, Clock: clock, Wait: blockWait}
	ca := cfg
	ca.Instance = "a"
	ca.TxHandler = stream.TxHandlerFunc(func(ctx context.Context, tx storage.Tx, evs []itsm.Event) error {
		if err := write1(ctx, tx, evs); err != nil {
			return err
		}
		if failing {
			failing = false
			return errors.New("refused after writing")
		}
		close(entered)
		<-release
		return nil
	})
	a, err := stream.NewConsumer(ctx, b, ca)
	require.NoError(t, err)
	_, err = a.RunOnce(ctx)
	require.ErrorContains(t, err, "refused after writing")
	left, err := b.Query(ctx, storage.Query{Kind: "stream_effect", Limit: storage.MaxLimit})
	require.NoError(t, err)
	assert.Empty(t, left.Docs, "a failed TxHandler wrote nothing")

	aDone := make(chan error, 1)
	go func() { _, err := a.RunOnce(ctx); aDone <- err }()
	<-entered
	clock.Advance(11 * time.Second)
	cb := cfg
	cb.Instance, cb.TxHandler = "b", stream.TxHandlerFunc(write1)
	bb, err := stream.NewConsumer(ctx, b, cb)
	require.NoError(t, err)
	// b takes the lease; a's unit, still open, holds the document's old
	// version. Depending on the store, b's claim or a's commit waits for
	// the other; either way one of them loses, and the effects are
	// written once.
	bDone := make(chan error, 1)
	go func() {
		_, err := bb.RunOnce(ctx)
		bDone <- err
	}()
	close(release)
	aErr, bErr := <-aDone, <-bDone
	switch {
	case aErr == nil:
		require.ErrorIs(t, bErr, itsm.ErrConflict, "a committed first: b's claim or unit lost")
	default:
		require.ErrorIs(t, aErr, itsm.ErrConflict, "a lost its lease: its unit committed nothing")
		require.NoError(t, bErr)
	}
	for range 10 {
		if _, err := bb.RunOnce(ctx); err != nil {
			require.ErrorIs(t, err, itsm.ErrConflict)
			clock.Advance(11 * time.Second)
		}
	}
	assert.Zero(t, drain(t, ctx, bb))
	page, err := b.Query(ctx, storage.Query{Kind: "stream_effect", Limit: storage.MaxLimit})
	require.NoError(t, err)
	var got []string
	for _, d := range page.Docs {
		e, err := effects.Decode(d)
		require.NoError(t, err)
		got = append(got, e.Event)
	}
	assert.ElementsMatch(t, want, got, "one effect per event")
}
