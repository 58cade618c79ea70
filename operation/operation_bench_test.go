package operation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// lifecycleSteps is the number of writes in one full incident lifecycle:
// create, assign, start, hold, resume, resolve, close.
const lifecycleSteps = 7

// BenchmarkIncidentLifecycle runs a full incident lifecycle through the
// Desk on the memory store, each step writing its record and event.
// Compare with BenchmarkIncidentLifecycleRawBackend: the ratio is the cost
// of Records, the lifecycle, authorisation, validation and diffing.
func BenchmarkIncidentLifecycle(b *testing.B) {
	f := newFixture(b)
	ctx := as(ann)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
		if err := f.desk.OpenIncident(ctx, inc, storage.Command{}); err != nil {
			b.Fatal(err)
		}
		id := inc.ID
		must := func(_ *operation.Incident, err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
		must(f.desk.AssignIncident(ctx, id, "network", "ann", storage.Command{}))
		must(f.desk.StartIncident(ctx, id, storage.Command{}))
		must(f.desk.HoldIncident(ctx, id, operation.HoldAwaitingCaller, storage.Command{}))
		must(f.desk.ResumeIncident(ctx, id, storage.Command{}))
		must(f.desk.ResolveIncident(ctx, id, operation.ResolvedPermanently, "fixed", storage.Command{}))
		must(f.desk.CloseIncident(ctx, id, storage.Command{}))
	}
	perIncident := float64(b.Elapsed().Microseconds()) / float64(b.N)
	b.ReportMetric(perIncident, "µs/incident")
	b.ReportMetric(1e6/perIncident, "incidents/s")
}

// BenchmarkIncidentLifecycleRawBackend is the baseline: the same number of
// units of work on the raw storage.Backend, each a get, a put of a
// pre-encoded document and an append of a pre-built event, with no
// lifecycle, authorisation, JSON diffing or hashing.
func BenchmarkIncidentLifecycleRawBackend(b *testing.B) {
	ctx := context.Background()
	store := memory.New()
	f := newFixture(b) // for the schema only
	schema := f.desk.Incidents().Collection().Schema()
	if err := store.Register(ctx, schema); err != nil {
		b.Fatal(err)
	}
	proto := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2, Priority: 3}
	proto.ID, proto.State, proto.Version = itsm.NewID(), "new", 1
	doc, err := f.desk.Incidents().Collection().Encode(proto)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		id := itsm.NewID()
		d := doc
		d.ID, d.Version = id, 1
		if err := store.Update(ctx, func(tx storage.Tx) error {
			if _, err := tx.Get(ctx, operation.KindIncident, id); err == nil {
				b.Fatal("exists")
			}
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
			return tx.Append(ctx, itsm.Event{ID: id, Kind: operation.KindIncident, RecordID: id, RecordVersion: 1, Name: "create"})
		}); err != nil {
			b.Fatal(err)
		}
		for v := int64(1); v < lifecycleSteps; v++ {
			if err := store.Update(ctx, func(tx storage.Tx) error {
				cur, err := tx.Get(ctx, operation.KindIncident, id)
				if err != nil {
					return err
				}
				cur.Version = v + 1
				if err := tx.Put(ctx, cur, v); err != nil {
					return err
				}
				return tx.Append(ctx, itsm.Event{ID: id, Kind: operation.KindIncident, RecordID: id, RecordVersion: v + 1, Name: "update"})
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	perIncident := float64(b.Elapsed().Microseconds()) / float64(b.N)
	b.ReportMetric(perIncident, "µs/incident")
	b.ReportMetric(1e6/perIncident, "incidents/s")
}

// importBatch builds n incidents with six history rows each.
func importBatch(n int, base time.Time) []operation.ImportIncident {
	out := make([]operation.ImportIncident, n)
	for i := range out {
		out[i] = history(fmt.Sprintf("JSM-%d", i), base.Add(time.Duration(i)*time.Second))
	}
	return out
}

// BenchmarkImportIncidents imports incidents with six history rows each
// (seven events per incident) on the memory store; compare with
// BenchmarkImportRawBulk.
func BenchmarkImportIncidents(b *testing.B) {
	f := newFixture(b)
	f.clock.Set(t0.Add(10 * 365 * 24 * time.Hour))
	ctx := as(migrate)
	const batch = 100
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		b.StopTimer()
		rows := importBatch(batch, t0)
		b.StartTimer()
		res, err := f.desk.ImportIncidents(ctx, rows, jiraStates)
		if err != nil || len(res.Errors) > 0 {
			b.Fatal(err, res.Errors)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "incidents/s")
}

// BenchmarkImportRawBulk is the baseline for imports: storage.Import of
// pre-built documents and seven pre-sealed events per incident, the store's
// raw bulk path with no lifecycle.
func BenchmarkImportRawBulk(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		b.StopTimer()
		docs, events := rawIncidents(b, f, 100)
		b.StartTimer()
		if err := storage.Import(ctx, f.store, docs, events); err != nil {
			b.Fatal(err)
		}
		n += len(docs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "incidents/s")
}

// rawIncidents builds n closed incident documents and seven events each.
func rawIncidents(tb testing.TB, f fixture, n int) ([]storage.Document, []itsm.Event) {
	tb.Helper()
	coll := f.desk.Incidents().Collection()
	docs := make([]storage.Document, 0, n)
	events := make([]itsm.Event, 0, n*lifecycleSteps)
	for i := range n {
		inc := &operation.Incident{ShortDescription: "raw", CallerID: "carl", Impact: 2, Urgency: 2, Priority: 3,
			AssignmentGroup: "network", AssignedTo: "ann", ResolutionCode: operation.ResolvedPermanently, ResolutionNotes: "fixed"}
		inc.ID, inc.State, inc.Version = itsm.NewID(), operation.StateClosed, lifecycleSteps
		inc.Number = itsm.FormatNumber("RAW", int64(i))
		at := t0.Add(time.Duration(i) * time.Second)
		inc.CreatedAt, inc.UpdatedAt = at, at.Add(time.Hour)
		prev := ""
		for v := 1; v <= lifecycleSteps; v++ {
			e := itsm.Event{ID: itsm.NewID(), Kind: operation.KindIncident, RecordID: inc.ID, Number: inc.Number, RecordVersion: int64(v),
				Name: "update", Actor: "migrator", At: at, RecordedAt: at,
				Changes: []itsm.FieldChange{{Field: "state", From: `"a"`, To: `"b"`}}}
			itsm.Seal(&e, prev)
			prev = e.Hash
			events = append(events, e)
		}
		inc.Head = prev
		d, err := coll.Encode(inc)
		if err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs, events
}

// BenchmarkIncidentLifecycleRecords runs the same seven steps through the
// generic storage.Records runner the Desk is built on (same lifecycle, no
// Desk checks: directory, priority, child query), to show what the Desk adds.
func BenchmarkIncidentLifecycleRecords(b *testing.B) {
	f := newFixture(b)
	ctx := as(ann)
	recs := f.desk.Incidents()
	set := func(fn func(*operation.Incident)) func(*operation.Incident) error {
		return func(i *operation.Incident) error { fn(i); return nil }
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2, Priority: 3}
		if err := recs.Create(ctx, inc, storage.Command{}); err != nil {
			b.Fatal(err)
		}
		id := inc.ID
		must := func(_ *operation.Incident, err error) {
			if err != nil {
				b.Fatal(err)
			}
		}
		must(recs.Change(ctx, id, storage.Command{}, set(func(i *operation.Incident) { i.AssignmentGroup, i.AssignedTo = "network", "ann" })))
		must(recs.Fire(ctx, id, operation.EventStart, storage.Command{}, nil))
		must(recs.Fire(ctx, id, operation.EventHold, storage.Command{}, set(func(i *operation.Incident) { i.HoldReason = operation.HoldAwaitingCaller })))
		must(recs.Fire(ctx, id, operation.EventResume, storage.Command{}, nil))
		must(recs.Fire(ctx, id, operation.EventResolve, storage.Command{}, set(func(i *operation.Incident) {
			i.ResolutionCode, i.ResolutionNotes = operation.ResolvedPermanently, "fixed"
		})))
		must(recs.Fire(ctx, id, operation.EventClose, storage.Command{}, nil))
	}
	perIncident := float64(b.Elapsed().Microseconds()) / float64(b.N)
	b.ReportMetric(perIncident, "µs/incident")
	b.ReportMetric(1e6/perIncident, "incidents/s")
}

// BenchmarkIncidentLifecycleRawDocuments is the store's own share of a
// Desk lifecycle: the same seven units of work on the raw memory backend,
// each a get, a put of the very document the Desk wrote at that step (so
// the indexed fields move as they do: state, assignee, priority queue
// keys, resolved_at) and an append of that step's sealed event, with no
// decoding, encoding, diffing, hashing, lifecycle or authorisation.
// BenchmarkIncidentLifecycleRawBackend puts one unchanged document seven
// times and so leaves out the index maintenance every real step pays.
func BenchmarkIncidentLifecycleRawDocuments(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	as := as(ann)
	inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
	if err := f.desk.OpenIncident(as, inc, storage.Command{}); err != nil {
		b.Fatal(err)
	}
	id := inc.ID
	steps := []func() error{
		func() error { _, err := f.desk.AssignIncident(as, id, "network", "ann", storage.Command{}); return err },
		func() error { _, err := f.desk.StartIncident(as, id, storage.Command{}); return err },
		func() error {
			_, err := f.desk.HoldIncident(as, id, operation.HoldAwaitingCaller, storage.Command{})
			return err
		},
		func() error { _, err := f.desk.ResumeIncident(as, id, storage.Command{}); return err },
		func() error {
			_, err := f.desk.ResolveIncident(as, id, operation.ResolvedPermanently, "fixed", storage.Command{})
			return err
		},
		func() error { _, err := f.desk.CloseIncident(as, id, storage.Command{}); return err },
	}
	docs := make([]storage.Document, 0, lifecycleSteps)
	capture := func() {
		d, err := f.store.Get(ctx, operation.KindIncident, id)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, d)
	}
	capture()
	for _, step := range steps {
		if err := step(); err != nil {
			b.Fatal(err)
		}
		capture()
	}
	events, err := f.desk.Incidents().History(ctx, id)
	if err != nil || len(events) != lifecycleSteps {
		b.Fatal(err, len(events))
	}
	store := memory.New()
	if err := store.Register(ctx, f.desk.Incidents().Collection().Schema()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		id := itsm.NewID()
		for v := range lifecycleSteps {
			if err := store.Update(ctx, func(tx storage.Tx) error {
				if v > 0 {
					if _, err := tx.Get(ctx, operation.KindIncident, id); err != nil {
						return err
					}
				}
				d := docs[v]
				d.ID = id
				if err := tx.Put(ctx, d, int64(v)); err != nil {
					return err
				}
				e := events[v]
				e.RecordID = id
				return tx.Append(ctx, e)
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	perIncident := float64(b.Elapsed().Microseconds()) / float64(b.N)
	b.ReportMetric(perIncident, "µs/incident")
	b.ReportMetric(1e6/perIncident, "incidents/s")
}
