package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

type ticket struct {
	itsm.Record
	Title          string   `json:"title"`
	Priority       int64    `json:"priority"`
	ResolutionCode string   `json:"resolution_code,omitempty"`
	Counter        int64    `json:"counter,omitempty"`
	Comments       []string `json:"comments,omitempty"`
	ResolvedAt     time.Time
}

func (t *ticket) Validate() error {
	if t.Title == "" {
		return (&itsm.ValidationError{Kind: "ticket", ID: t.ID}).Add("title", "is required")
	}
	return nil
}

var (
	agent    = itsm.Actor{ID: "ann", Roles: []string{"agent"}}
	caller   = itsm.Actor{ID: "carl", Roles: []string{"caller"}}
	importer = itsm.Actor{ID: "migrator", Roles: []string{"importer"}}
	t0       = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
)

type fixture struct {
	store   *memory.Store
	records *storage.Records[ticket, *ticket]
	clock   *itsm.FakeClock
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	m, err := itsm.NewLifecycle[*ticket]("ticket").
		Initial("new").States("in_progress", "resolved").Final("closed").
		Event("start", "in_progress", "new").
		Event("resolve", "resolved", "new", "in_progress").
		Event("reopen", "in_progress", "resolved").
		Event("close", "closed", "resolved").
		Guard("resolve", "needs_resolution_code", func(_ context.Context, tk *ticket, _ itsm.Transition) error {
			if tk.ResolutionCode == "" {
				return errors.New("a resolution code is required")
			}
			return nil
		}).
		Effect("resolve", "stamp_resolved_at", itsm.StampAt(func(tk *ticket) *time.Time { return &tk.ResolvedAt })).
		Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[ticket]("ticket",
		storage.IntField("priority", func(tk *ticket) int64 { return tk.Priority }),
	).WithIndex("by_state_priority", "state", "priority")
	store := memory.New()
	require.NoError(t, coll.Register(ctx, store))
	clock := itsm.NewFakeClock(t0)
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Prefix: "TKT", Clock: clock})
	require.NoError(t, err)
	return fixture{store: store, records: recs, clock: clock}
}

func as(a itsm.Actor) context.Context { return itsm.WithActor(context.Background(), a) }

// snapshot is everything the store holds for the ticket kind.
func (f fixture) snapshot(t *testing.T) ([]storage.Document, []itsm.Event) {
	t.Helper()
	page, err := f.store.Query(context.Background(), storage.Query{Kind: "ticket", Limit: storage.MaxLimit})
	require.NoError(t, err)
	evs, err := f.store.ReadEvents(context.Background(), 0, 10000)
	require.NoError(t, err)
	return page.Docs, evs
}

func TestRecordsCreate(t *testing.T) {
	f := newFixture(t)
	tk := &ticket{Title: "printer on fire", Priority: 2}
	require.NoError(t, f.records.Create(as(agent), tk, storage.Command{}))
	assert.True(t, itsm.ValidID(tk.ID))
	assert.Equal(t, "TKT0000001", tk.Number)
	assert.Equal(t, "new", tk.State)
	assert.Equal(t, int64(1), tk.Version)
	assert.Equal(t, t0, tk.CreatedAt)

	got, err := f.records.Get(as(agent), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, tk, got)

	evs, err := f.records.History(as(agent), tk.ID)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, itsm.EventCreate, evs[0].Name)
	assert.Equal(t, "ann", evs[0].Actor)
	assert.Equal(t, "TKT0000001", evs[0].Number)
	assert.Contains(t, evs[0].Changes, itsm.FieldChange{Field: "title", From: "", To: `"printer on fire"`})
	require.NoError(t, f.records.Verify(as(agent), tk.ID))
}

func TestRecordsRefusalsWriteNothing(t *testing.T) {
	f := newFixture(t)
	tk := &ticket{Title: "vpn down", Priority: 1}
	require.NoError(t, f.records.Create(as(agent), tk, storage.Command{}))
	docsBefore, evsBefore := f.snapshot(t)

	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"create without actor", func() error {
			return f.records.Create(context.Background(), &ticket{Title: "x"}, storage.Command{})
		}, itsm.ErrForbidden},
		{"create invalid", func() error { return f.records.Create(as(agent), &ticket{}, storage.Command{}) }, itsm.ErrInvalid},
		{"create nil record", func() error { return f.records.Create(as(agent), nil, storage.Command{}) }, itsm.ErrInvalid},
		{"create nil context", func() error {
			//nolint:staticcheck // nil context is the bad input under test
			return f.records.Create(nil, &ticket{Title: "x"}, storage.Command{})
		}, itsm.ErrInvalid},
		{"create with bad id", func() error {
			return f.records.Create(as(agent), &ticket{Record: itsm.Record{ID: "nope"}, Title: "x"}, storage.Command{})
		}, itsm.ErrInvalid},
		{"fire by caller", func() error {
			_, err := f.records.Fire(as(caller), tk.ID, "start", storage.Command{}, nil)
			return err
		}, itsm.ErrForbidden},
		{"guard refuses", func() error {
			_, err := f.records.Fire(as(agent), tk.ID, "resolve", storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"event not allowed", func() error {
			_, err := f.records.Fire(as(agent), tk.ID, "close", storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"unknown event", func() error {
			_, err := f.records.Fire(as(agent), tk.ID, "explode", storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"unknown record", func() error {
			_, err := f.records.Fire(as(agent), itsm.NewID(), "start", storage.Command{}, nil)
			return err
		}, itsm.ErrNotFound},
		{"mutation changes state", func() error {
			_, err := f.records.Change(as(agent), tk.ID, storage.Command{}, func(x *ticket) error { x.State = "closed"; return nil })
			return err
		}, itsm.ErrInvalid},
		{"mutation breaks validation", func() error {
			_, err := f.records.Change(as(agent), tk.ID, storage.Command{}, func(x *ticket) error { x.Title = ""; return nil })
			return err
		}, itsm.ErrInvalid},
		{"mutation fails", func() error {
			_, err := f.records.Change(as(agent), tk.ID, storage.Command{}, func(*ticket) error { return itsm.Invalidf("no") })
			return err
		}, itsm.ErrInvalid},
		{"backdated by an agent", func() error {
			_, err := f.records.Fire(as(agent), tk.ID, "start", storage.Command{At: t0.Add(-time.Hour)}, nil)
			return err
		}, itsm.ErrForbidden},
		{"backdated before the newest event", func() error {
			_, err := f.records.Fire(as(importer), tk.ID, "start", storage.Command{At: t0.Add(-time.Hour)}, nil)
			return err
		}, itsm.ErrInvalid},
		{"occurrence in the future", func() error {
			_, err := f.records.Fire(as(importer), tk.ID, "start", storage.Command{At: t0.Add(time.Hour)}, nil)
			return err
		}, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), tt.is)
			docs, evs := f.snapshot(t)
			assert.Equal(t, docsBefore, docs, "documents unchanged")
			assert.Equal(t, evsBefore, evs, "event log unchanged")
		})
	}

	_, err := f.records.Fire(as(agent), tk.ID, "resolve", storage.Command{}, nil)
	var te *itsm.TransitionError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "needs_resolution_code", te.Guard)
	assert.Equal(t, tk.Number, te.Number)
	assert.Equal(t, "ticket TKT0000001: event \"resolve\" refused in state \"new\" by guard needs_resolution_code: a resolution code is required", te.Error())
}

func TestRecordsFireAndChange(t *testing.T) {
	f := newFixture(t)
	ctx := as(agent)
	tk := &ticket{Title: "mail slow", Priority: 3}
	require.NoError(t, f.records.Create(ctx, tk, storage.Command{}))

	f.clock.Advance(time.Minute)
	got, err := f.records.Fire(ctx, tk.ID, "start", storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, "in_progress", got.State)
	assert.Equal(t, int64(2), got.Version)

	f.clock.Advance(time.Hour)
	got, err = f.records.Fire(ctx, tk.ID, "resolve", storage.Command{Reason: "queue drained"}, func(x *ticket) error {
		x.ResolutionCode = "solved"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "resolved", got.State)
	assert.Equal(t, t0.Add(61*time.Minute), got.ResolvedAt, "effect ran with the transition time")

	same, err := f.records.Change(ctx, tk.ID, storage.Command{}, func(x *ticket) error { x.Priority = 3; return nil })
	require.NoError(t, err)
	assert.Equal(t, int64(3), same.Version, "an unchanged record writes nothing")

	got, err = f.records.Change(ctx, tk.ID, storage.Command{Reason: "customer is VIP"}, func(x *ticket) error { x.Priority = 1; return nil })
	require.NoError(t, err)
	assert.Equal(t, int64(4), got.Version)

	evs, err := f.records.History(as(agent), tk.ID)
	require.NoError(t, err)
	require.Len(t, evs, 4)
	assert.Equal(t, []string{"create", "start", "resolve", "update"}, []string{evs[0].Name, evs[1].Name, evs[2].Name, evs[3].Name})
	assert.Equal(t, "in_progress", evs[2].From)
	assert.Equal(t, "resolved", evs[2].To)
	assert.Equal(t, "queue drained", evs[2].Reason)
	assert.Equal(t, []itsm.FieldChange{
		{Field: "ResolvedAt", From: `"0001-01-01T00:00:00Z"`, To: `"2026-11-02T10:01:00Z"`},
		{Field: "resolution_code", From: "", To: `"solved"`},
		{Field: "state", From: `"in_progress"`, To: `"resolved"`},
	}, evs[2].Changes)
	assert.Equal(t, []itsm.FieldChange{{Field: "priority", From: "3", To: "1"}}, evs[3].Changes)
	assert.Equal(t, "update", evs[3].Name)
	assert.Equal(t, "resolved", evs[3].From)
	assert.Equal(t, "resolved", evs[3].To)
	require.NoError(t, f.records.Verify(as(agent), tk.ID))

	// The record's indexed fields are queryable.
	page, _, err := f.records.Query(as(agent), storage.Query{Filters: []storage.Filter{
		storage.Eq("state", storage.String("resolved")), storage.Eq("priority", storage.Int(1)),
	}})
	require.NoError(t, err)
	require.Len(t, page, 1)
	assert.Equal(t, tk.ID, page[0].ID)
}

func TestRecordsImportBackdatedHistory(t *testing.T) {
	f := newFixture(t)
	ctx := as(importer)
	opened := t0.Add(-72 * time.Hour)
	tk := &ticket{Title: "imported from the old tool", Priority: 4}
	require.NoError(t, f.records.Create(ctx, tk, storage.Command{At: opened}))
	_, err := f.records.Fire(ctx, tk.ID, "start", storage.Command{At: opened.Add(10 * time.Minute)}, nil)
	require.NoError(t, err)
	_, err = f.records.Fire(ctx, tk.ID, "resolve", storage.Command{At: opened.Add(2 * time.Hour)}, func(x *ticket) error {
		x.ResolutionCode = "workaround"
		return nil
	})
	require.NoError(t, err)
	// The same lifecycle rules hold for imports.
	_, err = f.records.Fire(ctx, tk.ID, "start", storage.Command{At: opened.Add(3 * time.Hour)}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)

	evs, err := f.records.History(as(agent), tk.ID)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	assert.Equal(t, opened, evs[0].At)
	assert.Equal(t, opened.Add(2*time.Hour), evs[2].At)
	assert.Equal(t, t0, evs[2].RecordedAt, "recorded at the clock's now")
	got, err := f.records.Get(as(agent), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, opened.Add(2*time.Hour), got.ResolvedAt)
	assert.Equal(t, opened, got.CreatedAt)
	require.NoError(t, f.records.Verify(as(agent), tk.ID))
}

func TestRecordsConcurrentWritersLoseNothing(t *testing.T) {
	f := newFixture(t)
	ctx := as(agent)
	tk := &ticket{Title: "counter"}
	require.NoError(t, f.records.Create(ctx, tk, storage.Command{}))

	const writers, each = 8, 50
	numbers := make(chan string, writers*each)
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					_, err := f.records.Change(ctx, tk.ID, storage.Command{}, func(x *ticket) error { x.Counter++; return nil })
					if errors.Is(err, itsm.ErrConflict) {
						continue // retries exhausted under heavy contention: try again
					}
					if err != nil {
						errs <- err
					}
					break
				}
				n := &ticket{Title: fmt.Sprintf("t-%d", i)}
				if err := f.records.Create(ctx, n, storage.Command{}); err != nil {
					errs <- err
				}
				numbers <- n.Number
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(numbers)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := f.records.Get(as(agent), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(writers*each), got.Counter)
	assert.Equal(t, int64(writers*each+1), got.Version)
	seen := map[string]bool{}
	for n := range numbers {
		assert.False(t, seen[n], "number %s issued twice", n)
		seen[n] = true
	}
	assert.Len(t, seen, writers*each)
	require.NoError(t, f.records.Verify(as(agent), tk.ID))
}

func TestNewRecordsRejectsMismatch(t *testing.T) {
	m, err := itsm.NewLifecycle[*ticket]("other").Initial("a").Final("b").Event("go", "b", "a").Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[ticket]("ticket")
	_, err = storage.NewRecords(memory.New(), coll, m, storage.RecordsConfig{})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = storage.NewRecords[ticket](nil, coll, m, storage.RecordsConfig{})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestRecordsAuthoriseBeforeTheMutationAndByWhatChanges(t *testing.T) {
	f := newFixture(t)
	tk := &ticket{Title: "secret group"}
	require.NoError(t, f.records.Create(as(agent), tk, storage.Command{}))

	ran := false
	_, err := f.records.Change(as(caller), tk.ID, storage.Command{}, func(*ticket) error {
		ran = true
		return itsm.Invalidf("assignee is not a member of group secret_ops")
	})
	require.ErrorIs(t, err, itsm.ErrForbidden, "a refused actor gets forbidden, not the mutation's validation")
	assert.False(t, ran, "the mutation does not run for a refused actor")

	// A narrower action than update can be granted on its own; what a write
	// is authorised for follows from the fields it changes.
	az := itsm.NewRoleAuthorizer().Grant("caller", "ticket:comment", "ticket:read")
	coll := f.records.Collection().WithAction("comment", "comments")
	recs, err := storage.NewRecords(f.store, coll, f.records.Machine(), storage.RecordsConfig{Authorizer: az, Clock: f.clock})
	require.NoError(t, err)
	_, err = recs.Change(as(caller), tk.ID, storage.Command{}, func(x *ticket) error { x.Counter = 9; return nil })
	require.ErrorIs(t, err, itsm.ErrForbidden)
	_, err = recs.Change(as(caller), tk.ID, storage.Command{}, func(x *ticket) error {
		x.Comments = append(x.Comments, "me too")
		x.Title = "rewritten along with a comment"
		return nil
	})
	require.ErrorIs(t, err, itsm.ErrForbidden, "a comment does not carry an edit of another field")
	got, err := recs.Change(as(caller), tk.ID, storage.Command{}, func(x *ticket) error { x.Comments = append(x.Comments, "me too"); return nil })
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version)
	evs, err := recs.History(as(caller), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, itsm.EventUpdate, evs[1].Name, "the event is still an update")
	assert.Equal(t, "comments", evs[1].Changes[0].Field)
}

func TestRecordsAllReadsEveryPage(t *testing.T) {
	f := newFixture(t)
	for i := range 7 {
		require.NoError(t, f.records.Create(as(agent), &ticket{Title: fmt.Sprint("t", i), Priority: int64(i % 3)}, storage.Command{}))
	}
	all, err := f.records.All(as(agent), storage.Query{
		Filters: []storage.Filter{storage.Eq("state", storage.String("new"))},
		Sort:    []storage.Sort{{Field: "priority"}}, Limit: 2})
	require.NoError(t, err)
	require.Len(t, all, 7)
	for i := 1; i < len(all); i++ {
		assert.LessOrEqual(t, all[i-1].Priority, all[i].Priority)
	}
	_, err = f.records.All(as(agent), storage.Query{Filters: []storage.Filter{storage.Eq("nope", storage.Int(1))}})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// headless encodes itself without the record's head, which Records needs to
// write the new event's hash into.
type headless struct {
	itsm.Record
	Title string `json:"title"`
}

func (h *headless) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"id":%q,"state":%q,"title":%q}`, h.ID, h.State, h.Title)), nil
}

func TestRecordsWriteFailuresLeaveRecordAndStoreAsTheyWere(t *testing.T) {
	ctx := as(agent)
	m, err := itsm.NewLifecycle[*headless]("headless").Initial("new").Final("done").Event("finish", "done", "new").Compile()
	require.NoError(t, err)
	store := memory.New()
	coll := storage.NewCollection[headless]("headless")
	require.NoError(t, coll.Register(ctx, store))
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{})
	require.NoError(t, err)
	h := &headless{Title: "no head"}
	err = recs.Create(ctx, h, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Contains(t, err.Error(), "no head field of its own")
	assert.Equal(t, int64(0), h.Version, "version restored")
	assert.Empty(t, h.Head, "head restored")
	events, err := store.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, events)

	// A document the store refuses (an indexed string over the bound).
	f := newFixture(t)
	long := storage.NewCollection[ticket]("long_ticket", storage.StringField("title", func(tk *ticket) string { return tk.Title }))
	require.NoError(t, long.Register(ctx, f.store))
	lm, err := itsm.NewLifecycle[*ticket]("long_ticket").Initial("new").Final("closed").Event("close", "closed", "new").Compile()
	require.NoError(t, err)
	longRecs, err := storage.NewRecords(f.store, long, lm, storage.RecordsConfig{Clock: f.clock})
	require.NoError(t, err)
	tk := &ticket{Title: "short"}
	require.NoError(t, longRecs.Create(ctx, tk, storage.Command{}))
	stored, err := f.store.Get(ctx, "long_ticket", tk.ID)
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	_, err = longRecs.Change(ctx, tk.ID, storage.Command{}, func(x *ticket) error {
		x.Title = strings.Repeat("x", storage.MaxStringValue+1)
		return nil
	})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	after, err := f.store.Get(ctx, "long_ticket", tk.ID)
	require.NoError(t, err)
	assert.Equal(t, stored, after, "the stored record is unchanged")
	history, err := longRecs.History(ctx, tk.ID)
	require.NoError(t, err)
	assert.Len(t, history, 1, "no event for the refused write")
	require.NoError(t, longRecs.Verify(ctx, tk.ID))
}

func TestRecordsRefusedCreateTakesNoNumber(t *testing.T) {
	f := newFixture(t)
	ctx := as(agent)
	require.ErrorIs(t, f.records.Create(ctx, &ticket{}, storage.Command{}), itsm.ErrInvalid, "a ticket needs a title")
	tk := &ticket{Title: "first real one"}
	require.NoError(t, f.records.Create(ctx, tk, storage.Command{}))
	assert.Equal(t, "TKT0000001", tk.Number, "the refused create left no gap")
}

// jsonTicket is a ticket that encoding/json alone encodes and decodes: its
// own MarshalJSON and UnmarshalJSON keep Collection's codec out, so Records
// takes its slow path (json.Marshal, json.Unmarshal, splitting both
// encodings) for the same JSON.
type jsonTicket struct{ ticket }

func (j *jsonTicket) MarshalJSON() ([]byte, error)    { return json.Marshal(&j.ticket) }
func (j *jsonTicket) UnmarshalJSON(data []byte) error { return json.Unmarshal(data, &j.ticket) }

// ticketRecords builds a ticket lifecycle and records for T on a new store.
func ticketRecords[T any, P interface {
	*T
	itsm.Entity
}](t *testing.T, clock itsm.Clock, tk func(P) *ticket) *storage.Records[T, P] {
	m, err := itsm.NewLifecycle[P]("ticket").
		Initial("new").States("in_progress", "resolved").Final("closed").
		Event("start", "in_progress", "new").
		Event("resolve", "resolved", "new", "in_progress").
		Event("close", "closed", "resolved").
		Effect("resolve", "stamp_resolved_at", func(_ context.Context, p P, tr itsm.Transition) error {
			tk(p).ResolvedAt = tr.At
			return nil
		}).
		Compile()
	require.NoError(t, err)
	store := memory.New()
	coll := storage.NewCollection[T, P]("ticket", storage.IntField("priority", func(x *T) int64 { return tk(P(x)).Priority }))
	require.NoError(t, coll.Register(context.Background(), store))
	recs, err := storage.NewRecords(store, coll, m, storage.RecordsConfig{Prefix: "TKT", Clock: clock})
	require.NoError(t, err)
	return recs
}

// TestRecordsWriteAlikeWithAndWithoutTheCodec runs the same commands on a
// ticket (Collection's codec encodes, decodes and reports the members
// diffed) and on a jsonTicket (encoding/json and the splitter do), and
// finds the same stored JSON and the same events.
func TestRecordsWriteAlikeWithAndWithoutTheCodec(t *testing.T) {
	clock := itsm.NewFakeClock(t0)
	fast := ticketRecords(t, clock, func(x *ticket) *ticket { return x })
	slow := ticketRecords(t, clock, func(x *jsonTicket) *ticket { return &x.ticket })
	ctx := as(agent)
	id := itsm.NewID()
	steps := []struct {
		event string
		edit  func(*ticket)
	}{
		{"", func(x *ticket) { x.Title, x.Priority = "VPN <drops> & \u2028 é \"again\"", 2 }},
		{"", func(x *ticket) {}}, // no change: nothing written
		{"start", nil},
		{"resolve", func(x *ticket) { x.ResolutionCode = "fixed" }},
		{"", func(x *ticket) { x.Counter, x.ResolutionCode = 7, "" }}, // a member dropped by omitempty
	}
	a := &ticket{Title: "first"}
	a.ID = id
	require.NoError(t, fast.Create(ctx, a, storage.Command{}))
	b := &jsonTicket{ticket{Title: "first"}}
	b.ID = id
	require.NoError(t, slow.Create(ctx, b, storage.Command{}))
	for i, s := range steps {
		clock.Advance(time.Minute)
		var err error
		if s.event == "" {
			_, err = fast.Change(ctx, id, storage.Command{}, func(x *ticket) error { s.edit(x); return nil })
			require.NoError(t, err, "step %d", i)
			_, err = slow.Change(ctx, id, storage.Command{}, func(x *jsonTicket) error { s.edit(&x.ticket); return nil })
		} else {
			var fm func(*ticket) error
			var sm func(*jsonTicket) error
			if s.edit != nil {
				fm = func(x *ticket) error { s.edit(x); return nil }
				sm = func(x *jsonTicket) error { s.edit(&x.ticket); return nil }
			}
			_, err = fast.Fire(ctx, id, s.event, storage.Command{}, fm)
			require.NoError(t, err, "step %d", i)
			_, err = slow.Fire(ctx, id, s.event, storage.Command{}, sm)
		}
		require.NoError(t, err, "step %d", i)
	}
	fd, err := fast.Backend().Get(ctx, "ticket", id)
	require.NoError(t, err)
	sd, err := slow.Backend().Get(ctx, "ticket", id)
	require.NoError(t, err)
	fe, err := fast.History(ctx, id)
	require.NoError(t, err)
	se, err := slow.History(ctx, id)
	require.NoError(t, err)
	require.Len(t, fe, 5, "create, change, start, resolve, change: the empty change wrote nothing")
	require.Len(t, se, len(fe))
	// Event ids are random, so the hashes and the record's head differ;
	// everything else is alike.
	fh, sh := fe[len(fe)-1].Hash, se[len(se)-1].Hash
	assert.Equal(t, string(sd.Data), strings.Replace(string(fd.Data), fh, sh, 1))
	assert.Equal(t, sd.Fields, fd.Fields)
	for i := range fe {
		assert.Equal(t, se[i].Changes, fe[i].Changes, "event %d", i)
		assert.Equal(t, [3]string{se[i].Name, se[i].From, se[i].To}, [3]string{fe[i].Name, fe[i].From, fe[i].To})
	}
	require.NoError(t, fast.Verify(ctx, id))
	require.NoError(t, slow.Verify(ctx, id))
}
