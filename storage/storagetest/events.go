package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

var eventBase = time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)

// sealed returns an event of record (kind, id) at version, chained to prev.
func sealed(kind, id string, version int64, prev string) itsm.Event {
	ev := itsm.Event{
		ID: itsm.NewID(), Kind: kind, RecordID: id, Number: fmt.Sprintf("TST%07d", version),
		RecordVersion: version, Name: itsm.EventUpdate, From: "open", To: "open", Actor: "tester",
		At:         eventBase.Add(time.Duration(version) * time.Microsecond),
		RecordedAt: eventBase.Add(time.Duration(version) * time.Second),
	}
	switch {
	case version == 1:
		ev.Name, ev.From = itsm.EventCreate, ""
		ev.Changes = []itsm.FieldChange{{Field: "n", To: "1"}, {Field: "notes", To: "[]"}}
	case version%3 == 0: // a journal entry: the round trip keeps the flag
		ev.Changes = []itsm.FieldChange{{Field: "notes", To: fmt.Sprintf(`[{"text":"note %d"}]`, version), Appended: true}}
	}
	itsm.Seal(&ev, prev)
	return ev
}

// chain returns n chained events of one record, versions 1..n.
func chain(kind, id string, n int) []itsm.Event {
	evs := make([]itsm.Event, n)
	prev := ""
	for i := range evs {
		evs[i] = sealed(kind, id, int64(i+1), prev)
		prev = evs[i].Hash
	}
	return evs
}

// wholeLog reads the whole log from the start in pages of 1,000, checking
// Seq order on the way.
func (e *env) wholeLog() []itsm.Event {
	e.t.Helper()
	var out []itsm.Event
	var after int64
	for {
		batch, err := e.b.ReadEvents(e.ctx, after, 1000)
		require.NoError(e.t, err)
		if len(batch) == 0 {
			return out
		}
		for _, ev := range batch {
			require.Greater(e.t, ev.Seq, after, "ReadEvents returns Seq ascending and after the position")
			after = ev.Seq
		}
		out = append(out, batch...)
	}
}

// events returns the events of the given kinds in the whole log.
func (e *env) events(kinds ...string) []itsm.Event {
	e.t.Helper()
	var out []itsm.Event
	for _, ev := range e.wholeLog() {
		if slices.Contains(kinds, ev.Kind) {
			out = append(out, ev)
		}
	}
	return out
}

// appendEvents commits events in one unit of work.
func (e *env) appendEvents(evs ...itsm.Event) {
	e.t.Helper()
	require.NoError(e.t, e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Append(e.ctx, evs...) }))
}

// normEvent returns e with an empty Changes slice as nil, since stores need
// not tell the two apart, and an empty Tenant as the default one (area
// Tenancy checks what stores set).
func normEvent(e itsm.Event) itsm.Event {
	if len(e.Changes) == 0 {
		e.Changes = nil
	}
	if e.Tenant == "" { // the area Tenancy checks that stores set it
		e.Tenant = itsm.DefaultTenant
	}
	return e
}

// requireSameEvents compares events field by field, Seq included.
func requireSameEvents(t testing.TB, want, got []itsm.Event, msg string) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: number of events", msg)
	for i := range want {
		require.Equal(t, normEvent(want[i]), normEvent(got[i]), "%s: event %d", msg, i)
	}
}

// requireStoredEvents compares events as appended (Seq not yet known) with
// events read back, and checks that the store assigned increasing Seqs and
// kept times in UTC.
func requireStoredEvents(t testing.TB, appended, got []itsm.Event, msg string) {
	t.Helper()
	require.Equal(t, len(appended), len(got), "%s: number of events", msg)
	for i := range appended {
		w, g := normEvent(appended[i]), normEvent(got[i])
		require.Positive(t, g.Seq, "%s: event %d has no Seq", msg, i)
		w.Seq = g.Seq
		require.Equal(t, w, g, "%s: event %d", msg, i)
		require.Equal(t, time.UTC, g.At.Location(), "%s: At is UTC", msg)
		require.Equal(t, time.UTC, g.RecordedAt.Location(), "%s: RecordedAt is UTC", msg)
	}
}

func (h *harness) testEvents(t *testing.T) {
	t.Run("RoundTrip", func(t *testing.T) {
		e := h.setup(t)
		kind := name("evt")
		first := itsm.Event{
			ID: itsm.NewID(), Kind: kind, RecordID: itsm.NewID(), Number: "INC0001042", RecordVersion: 1,
			Name: itsm.EventCreate, To: "new", Actor: "alice",
			At:         time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), // backdated import, truncated by Seal
			RecordedAt: time.Date(2025, 1, 2, 3, 4, 5, 6789, time.FixedZone("CET", 3600)),
			Reason:     "imported from the old desk\nline two ✓",
			Changes: []itsm.FieldChange{
				{Field: "title", From: `""`, To: `"Drucker brennt — 日本語 🎉"`},
				{Field: "impact", From: `null`, To: `{"level":2,"tags":["a","b"]}`},
			},
		}
		itsm.Seal(&first, "")
		second := itsm.Event{
			ID: itsm.NewID(), Kind: kind, RecordID: first.RecordID, Number: first.Number, RecordVersion: 2,
			Name: "assign", From: "new", To: "assigned", Actor: "bob",
			At: time.Time{}, RecordedAt: time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
			Reason: `quotes ' " \ and %`,
		}
		itsm.Seal(&second, first.Hash)
		third := itsm.Event{
			ID: itsm.NewID(), Kind: kind, RecordID: first.RecordID, RecordVersion: 3,
			Name: "resolve", From: "assigned", To: "resolved", Actor: "",
			At: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), RecordedAt: time.Unix(0, 1000).UTC(),
			Changes: []itsm.FieldChange{{Field: "", From: "", To: ""}},
		}
		itsm.Seal(&third, second.Hash)
		e.appendEvents(first)
		e.appendEvents(second, third)
		appended := []itsm.Event{first, second, third}

		got := e.events(kind)
		requireStoredEvents(t, appended, got, "ReadEvents")
		history, err := e.b.History(e.ctx, kind, first.RecordID)
		require.NoError(t, err)
		requireStoredEvents(t, appended, history, "History")
		require.NoError(t, itsm.Verify(history, third.Hash), "the hash chain verifies after the round trip")
		require.NoError(t, itsm.Verify(got, third.Hash))
	})

	t.Run("ReadOrder", func(t *testing.T) {
		e := h.setup(t)
		kind := name("evt")
		for i := range 10 {
			e.appendEvents(chain(kind, fmt.Sprintf("r%02d", i), 3)...)
		}
		all := e.events(kind)
		require.Len(t, all, 30)
		log := e.wholeLog() // up to our newest event, whatever else it holds
		for i, ev := range all {
			for _, after := range []int64{ev.Seq - 1, ev.Seq} {
				for _, limit := range []int{1, 5, 1000} {
					batch, err := e.b.ReadEvents(e.ctx, after, limit)
					require.NoError(t, err)
					require.LessOrEqual(t, len(batch), limit)
					start := slices.IndexFunc(log, func(x itsm.Event) bool { return x.Seq > after })
					if start < 0 {
						start = len(log)
					}
					wantN := min(limit, len(log)-start)
					require.Len(t, batch, wantN, "event %d after %d limit %d", i, after, limit)
					for j := range batch {
						require.Equal(t, log[start+j].Seq, batch[j].Seq, "ReadEvents(%d, %d) returns the next events in Seq order", after, limit)
						require.Equal(t, log[start+j].ID, batch[j].ID)
					}
				}
			}
		}
		last := all[len(all)-1].Seq
		batch, err := e.b.ReadEvents(e.ctx, last+1_000_000, 10)
		require.NoError(t, err)
		require.Empty(t, batch, "nothing after the end")
	})

	t.Run("Scan", func(t *testing.T) {
		e := h.setup(t)
		kind := name("scan")
		for i := range h.scale(150, 120) { // over a thousand events: past a memory chunk
			e.appendEvents(chain(kind, fmt.Sprintf("s%03d", i), 9)...)
		}
		log := e.wholeLog()
		docs := e.docSchema("scanw") // for the writes of the scan's fn
		mine := slices.IndexFunc(log, func(x itsm.Event) bool { return x.Kind == kind })
		require.GreaterOrEqual(t, mine, 0)
		ways := map[string]storage.Backend{"ScanEvents": e.b}
		if _, ok := e.b.(storage.EventScanner); ok {
			ways["fallback"] = plainBackend{e.b}
		}
		for how, b := range ways {
			for _, after := range []int64{0, log[mine].Seq - 1, log[min(mine+500, len(log)-1)].Seq, log[len(log)-1].Seq} {
				for _, limit := range []int{1, 999, 1000, 1001, 1 << 30, math.MaxInt} {
					var got []itsm.Event
					empty, uncapped := 0, 0
					err := storage.ScanEvents(e.ctx, b, after, limit, func(evs []itsm.Event) error {
						if len(evs) == 0 {
							empty++
						}
						if cap(evs) != len(evs) {
							uncapped++
						}
						for _, ev := range evs {
							ev.Changes = slices.Clone(ev.Changes)
							got = append(got, ev)
						}
						return nil
					})
					require.NoError(t, err)
					require.Zero(t, empty, "%s after %d limit %d: fn was handed an empty run", how, after, limit)
					require.Zero(t, uncapped, "%s after %d limit %d: a run's capacity reaches past its end", how, after, limit)
					start := slices.IndexFunc(log, func(x itsm.Event) bool { return x.Seq > after })
					if start < 0 {
						start = len(log)
					}
					want := log[start:]
					if limit < len(want) {
						want = want[:limit]
					}
					require.Len(t, got, len(want), "%s after %d limit %d", how, after, limit)
					requireSameEvents(t, want, got, fmt.Sprintf("%s after %d limit %d", how, after, limit))
				}
			}

			// fn may use the backend, writes included: a scan holding a
			// lock while fn runs would deadlock here, so it runs under a
			// timeout.
			// fn writes a document and returns an error, which must end the
			// scan: a store whose first run holds fewer events than the log
			// (the memory store: a chunk of 1,024) must not call fn again.
			// A scan holding a lock while fn runs would deadlock on the
			// write, so it runs under a timeout.
			stop := errors.New("enough")
			calls := 0
			done := make(chan error, 1)
			go func() {
				done <- storage.ScanEvents(e.ctx, b, 0, 1<<30, func(evs []itsm.Event) error {
					calls++
					d := sdoc(docs.Kind, fmt.Sprintf("w%s-%d", how, calls), 1, "{}", "w", int64(calls), eventBase)
					if err := e.b.Update(e.ctx, func(tx storage.Tx) error { return tx.Put(e.ctx, d, 0) }); err != nil {
						return err
					}
					return stop
				})
			}()
			select {
			case err := <-done:
				require.ErrorIs(t, err, stop, how)
			case <-time.After(time.Minute):
				t.Fatalf("%s: ScanEvents with a writing fn did not return within a minute", how)
			}
			require.Equal(t, 1, calls, "%s: an error from fn ends the scan", how)
			e.requireDoc(sdoc(docs.Kind, fmt.Sprintf("w%s-1", how), 1, "{}", "w", 1, eventBase))

			// A done context ends the scan before the next run.
			canceled, cancel := context.WithCancel(e.ctx)
			cancel()
			calls = 0
			err := storage.ScanEvents(canceled, b, 0, 1<<30, func([]itsm.Event) error { calls++; return nil })
			require.ErrorIs(t, err, context.Canceled, how)
			require.Zero(t, calls, "%s: fn called under a done context", how)

			for _, limit := range []int{0, -1} {
				err := noPanic(t, "ScanEvents", func() error {
					return storage.ScanEvents(e.ctx, b, 0, limit, func([]itsm.Event) error { return nil })
				})
				require.ErrorIs(t, err, itsm.ErrInvalid, "%s limit %d", how, limit)
			}
			err = noPanic(t, "ScanEvents", func() error { return storage.ScanEvents(e.ctx, b, 0, 10, nil) })
			require.ErrorIs(t, err, itsm.ErrInvalid, "%s: nil fn", how)
		}
		if sc, ok := e.b.(storage.EventScanner); ok { // the capability's own checks
			for _, limit := range []int{0, -1} {
				err := noPanic(t, "EventScanner.ScanEvents", func() error {
					return sc.ScanEvents(e.ctx, 0, limit, func([]itsm.Event) error { return nil })
				})
				require.ErrorIs(t, err, itsm.ErrInvalid, "limit %d", limit)
			}
			err := noPanic(t, "EventScanner.ScanEvents", func() error { return sc.ScanEvents(e.ctx, 0, 10, nil) })
			require.ErrorIs(t, err, itsm.ErrInvalid, "nil fn")
		}
	})

	t.Run("Resumable", func(t *testing.T) {
		e := h.setup(t)
		kind := name("evt")
		var appended []itsm.Event
		units := h.scale(60, 20)
		for i := range units {
			evs := chain(kind, fmt.Sprintf("res%03d", i), 1+i%5)
			e.appendEvents(evs...)
			appended = append(appended, evs...)
		}
		var got []itsm.Event
		var after int64
		for rounds := 0; ; rounds++ {
			require.Less(t, rounds, 10_000, "reading does not end")
			batch, err := e.b.ReadEvents(e.ctx, after, 7)
			require.NoError(t, err)
			if len(batch) == 0 {
				break
			}
			require.LessOrEqual(t, len(batch), 7)
			for _, ev := range batch {
				require.Greater(t, ev.Seq, after)
				after = ev.Seq
				if ev.Kind == kind {
					got = append(got, ev)
				}
			}
		}
		requireStoredEvents(t, appended, got, "read in batches of 7")
	})

	t.Run("RolledBackNeverAppear", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("evt")
		e.create(sdoc(s.Kind, "a", 1, "a", "a", 1, time.Unix(1, 0)))
		keep := sealed(s.Kind, "keep", 1, "")
		e.appendEvents(keep)
		err := e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Append(e.ctx, sealed(s.Kind, "err", 1, "")))
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		err = noPanic(t, "Update", func() error {
			return e.b.Update(e.ctx, func(tx storage.Tx) error {
				require.NoError(t, tx.Append(e.ctx, sealed(s.Kind, "panic", 1, "")))
				panic("boom")
			})
		})
		require.Error(t, err)
		err = e.b.Update(e.ctx, func(tx storage.Tx) error {
			require.NoError(t, tx.Append(e.ctx, sealed(s.Kind, "stale", 1, "")))
			return tx.Put(e.ctx, sdoc(s.Kind, "a", 2, "x", "x", 1, time.Unix(1, 0)), 0)
		})
		require.ErrorIs(t, err, itsm.ErrConflict)
		after := sealed(s.Kind, "after", 1, "")
		e.appendEvents(after)
		requireStoredEvents(t, []itsm.Event{keep, after}, e.events(s.Kind), "only committed events")
		for _, id := range []string{"err", "panic", "stale"} {
			history, err := e.b.History(e.ctx, s.Kind, id)
			require.NoError(t, err)
			require.Empty(t, history, id)
		}
	})

	t.Run("History", func(t *testing.T) {
		e := h.setup(t)
		kind, other := name("evt"), name("evt")
		r := chain(kind, "rec", 4)
		noise := chain(kind, "noise", 2)
		twin := chain(other, "rec", 2) // same id, another kind
		// Appended out of version order, interleaved with other records.
		e.appendEvents(r[2], noise[0], r[0], twin[0])
		e.appendEvents(r[3], twin[1], r[1], noise[1])
		history, err := e.b.History(e.ctx, kind, "rec")
		require.NoError(t, err)
		requireStoredEvents(t, r, history, "History in RecordVersion order")
		require.NoError(t, itsm.Verify(history, r[3].Hash))
		history, err = e.b.History(e.ctx, other, "rec")
		require.NoError(t, err)
		requireStoredEvents(t, twin, history, "same id in another kind")
		history, err = e.b.History(e.ctx, kind, "nobody")
		require.NoError(t, err)
		require.Empty(t, history, "a record without events has an empty history")
	})

	t.Run("SeqAssignedByStore", func(t *testing.T) {
		e := h.setup(t)
		kind := name("evt")
		evs := chain(kind, "seq", 4)
		for i, seq := range []int64{1 << 60, -5, 0, 3} {
			evs[i].Seq = seq // ignored: the store assigns Seq on commit
		}
		e.appendEvents(evs[0], evs[1])
		e.appendEvents(evs[2])
		e.appendEvents(evs[3])
		got := e.events(kind)
		require.Len(t, got, 4)
		for i := range got {
			require.Equal(t, evs[i].ID, got[i].ID, "events keep the order they were appended in")
			require.Positive(t, got[i].Seq)
			if i > 0 {
				require.Greater(t, got[i].Seq, got[i-1].Seq)
			}
		}
	})

	t.Run("NoAliasing", func(t *testing.T) {
		e := h.setup(t)
		kind := name("evt")
		ev := sealed(kind, "a", 1, "")
		ev.Changes = []itsm.FieldChange{{Field: "f", From: "1", To: "2"}}
		itsm.Seal(&ev, "")
		want := ev
		want.Changes = slices.Clone(ev.Changes)
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.Append(e.ctx, ev); err != nil {
				return err
			}
			ev.Changes[0].To = "mutated"
			return nil
		}))
		got := e.events(kind)
		requireStoredEvents(t, []itsm.Event{want}, got, "after the caller mutated its slice")
		got[0].Changes[0].From = "mutated"
		history, err := e.b.History(e.ctx, kind, "a")
		require.NoError(t, err)
		history[0].Changes[0].Field = "mutated"
		requireStoredEvents(t, []itsm.Event{want}, e.events(kind), "after mutating what was read")
		history, err = e.b.History(e.ctx, kind, "a")
		require.NoError(t, err)
		require.NoError(t, itsm.Verify(history, want.Hash))
	})

	t.Run("ConcurrentReader", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("evt")
		writers, units := 8, h.scale(40, 10)
		var (
			mu        sync.Mutex
			committed = map[string]bool{}
			failed    = map[string]bool{}
		)
		done := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for u := range units {
					rec := fmt.Sprintf("w%02d_u%03d", w, u)
					evs := chain(s.Kind, rec, 1+u%3)
					fail := u%5 == 4
					err := e.b.Update(e.ctx, func(tx storage.Tx) error {
						if err := tx.Put(e.ctx, sdoc(s.Kind, rec, 1, rec, rec, int64(u), time.Unix(int64(u), 0)), 0); err != nil {
							return err
						}
						if err := tx.Append(e.ctx, evs...); err != nil {
							return err
						}
						if fail {
							return errBoom
						}
						return nil
					})
					mu.Lock()
					for _, ev := range evs {
						if err == nil {
							committed[ev.ID] = true
						} else {
							failed[ev.ID] = true
						}
					}
					mu.Unlock()
					if !fail && !assert.NoError(t, err) {
						return
					}
				}
			})
		}
		type readResult struct {
			seen []itsm.Event
			err  error
		}
		result := make(chan readResult, 1)
		go func() {
			var r readResult
			var after int64
			finished := false
			for {
				batch, err := e.b.ReadEvents(e.ctx, after, 10)
				if err != nil {
					r.err = err
					break
				}
				for _, ev := range batch {
					if ev.Seq <= after {
						r.err = fmt.Errorf("Seq %d after %d: not increasing", ev.Seq, after)
						break
					}
					after = ev.Seq
					if ev.Kind == s.Kind {
						r.seen = append(r.seen, ev)
					}
				}
				if r.err != nil || len(batch) == 0 && finished {
					break
				}
				if len(batch) == 0 {
					select {
					case <-done:
						finished = true // one more read after every writer has returned
					case <-time.After(time.Millisecond):
					}
				}
			}
			result <- r
		}()
		wg.Wait()
		close(done)
		r := <-result
		require.NoError(t, r.err)
		ids := map[string]bool{}
		for _, ev := range r.seen {
			require.False(t, ids[ev.ID], "event %s seen twice", ev.ID)
			require.False(t, failed[ev.ID], "event %s of a rolled-back unit seen", ev.ID)
			ids[ev.ID] = true
		}
		require.Equal(t, len(committed), len(ids), "the reader saw every committed event")
		for id := range committed {
			require.True(t, ids[id], "committed event %s missed by the reader", id)
		}
		require.NotEmpty(t, failed)
	})
}
