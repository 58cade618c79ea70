package operation

import (
	"context"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ImportPerEvent returns opts with each incident's history applied command
// by command through the import Records' CreateTx, FireTx and ChangeTx in
// a unit of work held in memory, which reads, decodes, encodes and diffs
// the record on every command: the path Import took before storage.Fold,
// kept as the reference the fold is proven equal to.
func ImportPerEvent(opts ImportOptions) ImportOptions {
	opts.fold = newPerEventFold
	return opts
}

// perEventTx is the unit of work of the per-event path: the incident being
// folded is read and written here, the rest as the import's foldTx does.
type perEventTx struct {
	*foldTx
	docs   map[string]storage.Document
	events []itsm.Event
}

func (t *perEventTx) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	if d, ok := t.docs[id]; ok && kind == KindIncident {
		return d, nil
	}
	return t.foldTx.Get(ctx, kind, id)
}

func (t *perEventTx) Put(_ context.Context, d storage.Document, expected int64) error {
	if cur, ok := t.docs[d.ID]; d.Kind != KindIncident || ok && cur.Version != expected || !ok && expected != 0 {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected}
	}
	t.docs[d.ID] = d
	return nil
}

func (t *perEventTx) Append(_ context.Context, events ...itsm.Event) error {
	t.events = append(t.events, events...)
	return nil
}

// perEventFold is an incidentFold on the per-event path.
type perEventFold struct {
	d   *Desk
	tx  *perEventTx
	id  string
	cur *Incident
}

func newPerEventFold(d *Desk, ctx context.Context, ftx *foldTx, inc *Incident, cmd storage.Command, doc *storage.Document) (incidentFold, error) {
	f := &perEventFold{d: d, tx: &perEventTx{foldTx: ftx, docs: map[string]storage.Document{}}}
	if doc != nil {
		cur, err := d.importing.Collection().Decode(*doc)
		if err != nil {
			return nil, err
		}
		f.tx.docs[doc.ID], f.id, f.cur = *doc, doc.ID, cur
		return f, nil
	}
	if err := d.importing.CreateTx(ctx, f.tx, inc, cmd); err != nil {
		return nil, err
	}
	f.id, f.cur = inc.ID, inc
	return f, nil
}

func (f *perEventFold) Record() *Incident { return f.cur }

func (f *perEventFold) Fire(ctx context.Context, event string, cmd storage.Command, mutate func(*Incident) error) (*Incident, error) {
	out, err := f.d.importing.FireTx(ctx, f.tx, f.id, event, cmd, mutate)
	if err == nil {
		f.cur = out
	}
	return out, err
}

func (f *perEventFold) Change(ctx context.Context, cmd storage.Command, mutate func(*Incident) error) (*Incident, error) {
	out, err := f.d.importing.ChangeTx(ctx, f.tx, f.id, cmd, mutate)
	if err == nil {
		f.cur = out
	}
	return out, err
}

func (f *perEventFold) Replace(mutate func(*Incident)) error {
	coll := f.d.importing.Collection()
	rec, err := coll.Decode(f.tx.docs[f.id])
	if err != nil {
		return err
	}
	mutate(rec)
	doc, err := coll.Encode(rec)
	if err != nil {
		return err
	}
	f.tx.docs[f.id], f.cur = doc, rec
	return nil
}

func (f *perEventFold) Document() storage.Document { return f.tx.docs[f.id] }

func (f *perEventFold) Events() []itsm.Event { return f.tx.events }
