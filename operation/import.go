package operation

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// StateMap maps another tool's incident state names to Pillars states, for
// example {"Work in Progress": "in_progress", "Pending": "on_hold"}. A
// target "on_hold:<reason>" puts the incident on hold with that hold reason
// when the row gives none ("Awaiting User Info": "on_hold:awaiting_caller"),
// for tools whose states say why an incident waits. An empty target keeps
// the incident's state (for a foreign state that says nothing, such as a
// placeholder value of an export); the row's other changes still apply.
type StateMap map[string]string

// ImportRow is one step of an incident's history in another tool: at At,
// Actor changed what the row carries. Empty fields (and zero numbers) keep
// the record as it was, so a row of a tool that records every field on
// every update (ServiceNow's history) and a row that records one change
// (an audit trail) read alike. In one row the field changes come first
// (one "update" event), then the state change (one lifecycle event per step
// of the path to the state), then the comment and the work note (one event
// each, with the row's Actor as author and At as time).
type ImportRow struct {
	At              time.Time
	Actor           string
	State           string // foreign state name, mapped through the StateMap; "" keeps the state
	Reason          string
	AssignmentGroup string // when set, the assignment at this step (with AssignedTo)
	AssignedTo      string
	HoldReason      string
	ResolutionCode  string
	ResolutionNotes string
	Impact          int // 0: unchanged
	Urgency         int // 0: unchanged
	Priority        int // 0: the matrix's for impact and urgency (unless overridden before)
	Category        string
	Subcategory     string
	// Custom holds custom field values set at this step; a JSON null
	// removes the value. They are checked against the desk's Dictionary.
	Custom   itsm.Values
	Comment  string // a comment added at this step (visible to the caller)
	WorkNote string // a work note added at this step (internal)
}

// ImportIncident is one incident to import: its fields as first recorded,
// when and by whom it was opened, and its history in any order (rows are
// applied sorted by At; rows with equal times keep their order). Ref is
// the record's key in the other tool (its number or sys_id): it is
// required, names the record in errors and, behind ImportOptions.Source,
// is the source key that makes a second import of it recognised. When
// Incident.Number is set the number is kept.
type ImportIncident struct {
	Ref      string
	Incident Incident
	OpenedAt time.Time
	OpenedBy string
	History  []ImportRow
}

// importSource is where an imported incident came from (the Incident's
// Source fields): its source key, a digest of what was imported, and how
// many history rows have been applied with a running digest of them, so a
// later import of the same record is skipped or continues after those
// rows.
type importSource struct {
	Key        string
	Digest     string
	Rows       int
	RowsDigest string
}

func sourceOf(i *Incident) importSource {
	return importSource{i.SourceKey, i.SourceDigest, i.SourceRows, i.SourceRowsDigest}
}

func (s importSource) set(i *Incident) {
	i.SourceKey, i.SourceDigest, i.SourceRows, i.SourceRowsDigest = s.Key, s.Digest, s.Rows, s.RowsDigest
}

// ImportMode says what an import does with a record imported before from
// the same source key.
type ImportMode uint8

// The import modes. Either way an incident is never imported twice, and a
// record imported before with the same content is skipped.
const (
	// ImportSkip refuses a record imported before with different content:
	// a per-record error matching itsm.ErrConflict.
	ImportSkip ImportMode = iota
	// ImportUpdate applies the rows the stored record has not seen: the
	// rows after those imported before when the earlier ones are the same,
	// otherwise every row (a delta export), each no earlier than the
	// record's newest event. The opening fields stay as first imported.
	ImportUpdate
)

// ImportOptions configures Desk.Import.
type ImportOptions struct {
	// States maps the other tool's state names; a row naming a state it
	// lacks is refused.
	States StateMap
	// Source names the other tool; the source key of a record is
	// Source + ":" + Ref ("servicenow:INC0010001"), or Ref when empty.
	Source string
	// Mode decides what a second import of a record does.
	Mode ImportMode
	// DryRun validates everything, through the lifecycle, and returns the
	// full report without writing anything (no number is drawn either).
	DryRun bool
	// BatchSize is how many incidents are written in one unit of work
	// (default ImportBatchSize, at most MaxImportBatch).
	BatchSize int
	// Progress, when set, is called after each batch is written with how
	// many of the incidents given have been handled (written, skipped or
	// refused), for a host that logs where a long import stands.
	Progress func(done int)

	// fold, when set, replaces the storage.Fold an incident's history is
	// applied in (inc set: create it; doc set: continue it): the tests'
	// command-by-command path the fold is proven equal to.
	fold func(d *Desk, ctx context.Context, ftx *foldTx, inc *Incident, cmd storage.Command, doc *storage.Document) (incidentFold, error)
}

// ImportError says why one incident was not imported: the record (its
// Ref), the history row (1-based, in the order given; 0 is the record
// itself), the rule that refused it and the reason. Rule is a lifecycle
// guard's name (resolution_code_and_notes, known_hold_reason...), "path"
// when no event leads to the row's state, "state_map" for an unknown foreign
// state, "time" and "order" for times, "source_key" for a key imported
// before with other content, or "record" for the record's own fields. It
// unwraps to the underlying error, so errors.Is matches the kernel's
// sentinels.
type ImportError struct {
	Record string
	Row    int
	Rule   string
	Reason string
	Err    error
}

func (e *ImportError) Error() string {
	rule := ""
	if e.Rule != "" {
		rule = " [" + e.Rule + "]"
	}
	if e.Row == 0 {
		return fmt.Sprintf("import %s%s: %s", e.Record, rule, e.Reason)
	}
	return fmt.Sprintf("import %s row %d%s: %s", e.Record, e.Row, rule, e.Reason)
}

// Unwrap returns the underlying error.
func (e *ImportError) Unwrap() error { return e.Err }

// ImportErrors is every refusal of an import, as one error: errors.As
// finds each *ImportError, errors.Is matches their sentinels.
type ImportErrors []*ImportError

func (e ImportErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%s (and %d more)", e[0].Error(), len(e)-1)
}

// Unwrap returns the refusals.
func (e ImportErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, x := range e {
		out[i] = x
	}
	return out
}

// ImportReport reports an import: how many incidents were created, updated
// and skipped (imported before with the same content, or nothing new), how
// many events were written (or would be, in a dry run), and every refusal,
// ordered by record and row.
type ImportReport struct {
	Imported int
	Updated  int
	Skipped  int
	Events   int
	Errors   []*ImportError
}

// Err returns the refusals as an ImportErrors, or nil when there are none.
func (r *ImportReport) Err() error {
	if r == nil || len(r.Errors) == 0 {
		return nil
	}
	return ImportErrors(slices.Clone(r.Errors))
}

// ImportResult is the report of ImportIncidents.
//
// Deprecated: use ImportReport.
type ImportResult = ImportReport

// ImportBatchSize is how many incidents Import writes in one unit of work
// by default; MaxImportBatch bounds ImportOptions.BatchSize.
const (
	ImportBatchSize = 500
	MaxImportBatch  = 10_000
)

// ImportIncidents is Import with ImportOptions{States: states}.
func (d *Desk) ImportIncidents(ctx context.Context, incs []ImportIncident, states StateMap) (ImportResult, error) {
	return d.Import(ctx, incs, ImportOptions{States: states})
}

// Import loads incidents from another tool with their full history. Each
// incident's rows are sorted by time (stable: equal times keep their
// order) and folded in memory through the desk's lifecycle, guards
// included, as backdated events; each incident is then written with its
// events once, many incidents to a unit of work (storage.Import for new
// ones), so the log reads as if Pillars had run the desk.
//
// History is fact: a reopen of a resolved, closed or canceled incident is
// imported whatever the reopen window (the import lifecycle adds reopen
// from the final states the desk's lifecycle lacks it from), a row whose
// state the record is in already changes nothing (no event), and a state
// the lifecycle reaches only through several events is reached through the
// shortest such path at the row's time (resolved to on_hold: reopen, hold).
//
// Every incident carries its source key (Incident.SourceKey), so an import run
// again, or resumed after it stopped midway, skips what it wrote already
// and writes nothing twice (ImportOptions.Mode). Every bad row of every
// incident is reported (ImportReport.Errors, or Err for one error); a
// refused incident leaves nothing behind and the others are imported. The
// actor in ctx must hold the importer role; each row is recorded under its
// own Actor with the importer's roles. Assignments are not checked against
// the Directory (people move on).
//
// Numbers for new incidents that keep none are drawn per batch before the
// fold (they are part of the events' hashes), so a refused incident leaves
// a gap in the numbering, as a refused command does; kept numbers move the
// sequence past them. A dry run draws none and cannot see a kept number
// another record holds (the real import reports it).
//
// The error is for the import as a whole (no actor, a bad state map, the
// store failing, ctx done): the report then counts what was written before.
func (d *Desk) Import(ctx context.Context, incs []ImportIncident, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	if ctx == nil {
		return rep, itsm.Invalidf("import: nil context")
	}
	importer, ok := itsm.ActorFrom(ctx)
	if !ok {
		return rep, &itsm.ForbiddenError{Kind: KindIncident, Action: itsm.ActionImport, Reason: "no actor in context"}
	}
	if err := itsm.Authorize(ctx, d.cfg.Authorizer, KindIncident, itsm.ActionImport, nil); err != nil {
		return rep, err
	}
	states, err := d.importStates(opts.States)
	if err != nil {
		return rep, err
	}
	switch {
	case opts.Mode > ImportUpdate:
		return rep, itsm.Invalidf("import: unknown mode %d", opts.Mode)
	case opts.BatchSize < 0 || opts.BatchSize > MaxImportBatch:
		return rep, itsm.Invalidf("import: batch size %d outside 0..%d", opts.BatchSize, MaxImportBatch)
	case !validRef(opts.Source) || strings.Contains(opts.Source, ":"):
		return rep, itsm.Invalidf("import: source %q must be a short name without a colon", opts.Source)
	}
	batch := opts.BatchSize
	if batch == 0 {
		batch = ImportBatchSize
	}
	im := &importer_{d: d, ctx: ctx, importer: importer, states: states, opts: opts, paths: map[[2]string][]string{}}
	seen := map[string]string{}
	for start := 0; start < len(incs); start += batch {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		chunk := incs[start:min(start+batch, len(incs))]
		if err := im.batch(chunk, seen, &rep); err != nil {
			return rep, err
		}
		if opts.Progress != nil {
			opts.Progress(start + len(chunk))
		}
	}
	slices.SortStableFunc(rep.Errors, func(a, b *ImportError) int {
		if c := strings.Compare(a.Record, b.Record); c != 0 {
			return c
		}
		return a.Row - b.Row
	})
	return rep, nil
}

// importTarget is a StateMap entry resolved: the state and the hold reason
// it implies.
type importTarget struct{ state, hold string }

func (d *Desk) importStates(states StateMap) (map[string]importTarget, error) {
	out := make(map[string]importTarget, len(states))
	for foreign, target := range states {
		state, hold, _ := strings.Cut(target, ":")
		if state != "" && !d.incidents.Machine().HasState(state) {
			return nil, itsm.Invalidf("import: state map sends %q to %q, which is not an incident state", foreign, state)
		}
		out[foreign] = importTarget{state, hold}
	}
	return out, nil
}

// importMachine is the desk's incident lifecycle with reopen added from
// each final state it does not leave by reopen: imported history may reopen
// a closed incident whatever the live lifecycle allows.
func importMachine(lc *itsm.Lifecycle[*Incident], live *itsm.Machine[*Incident]) (*itsm.Machine[*Incident], error) {
	if !live.HasState(StateInProgress) || !slices.Contains(live.Events(), EventReopen) {
		return live, nil
	}
	ext := lc.Clone()
	added := false
	for _, s := range live.States() {
		if !live.IsFinal(s) {
			continue
		}
		if _, ok := live.Target(s, EventReopen); !ok {
			ext.NotFinal(s).Event(EventReopen, StateInProgress, s)
			added = true
		}
	}
	if !added {
		return live, nil
	}
	return ext.Compile()
}

// importer_ holds one Import call's state.
type importer_ struct {
	d        *Desk
	ctx      context.Context
	importer itsm.Actor
	states   map[string]importTarget
	opts     ImportOptions
	paths    map[[2]string][]string
	actors   map[string]context.Context
}

// folded is one incident after its fold: the document and events to write.
type folded struct {
	i      int // index in the chunk
	doc    storage.Document
	events []itsm.Event
	update bool  // an existing record: write at expected version
	from   int64 // its stored version
	kept   string
}

func (im *importer_) sourceKey(ref string) string {
	if im.opts.Source == "" {
		return ref
	}
	return im.opts.Source + ":" + ref
}

// batch folds and writes one chunk of incidents.
func (im *importer_) batch(chunk []ImportIncident, seen map[string]string, rep *ImportReport) error {
	ctx := im.ctx
	existing, err := im.lookup(chunk)
	if err != nil {
		return err
	}
	// Numbers for the new incidents that keep none are drawn before the
	// fold (they are part of the events' hashes); a refused incident leaves
	// a gap, as a refused command does.
	var need int
	for i := range chunk {
		if existing[im.sourceKey(chunk[i].Ref)] == nil && chunk[i].Incident.Number == "" {
			need++
		}
	}
	numbers := make([]int64, 0, need)
	if need > 0 && !im.opts.DryRun {
		err := im.d.backend.Update(ctx, func(tx storage.Tx) error {
			numbers = numbers[:0]
			for range need {
				n, err := tx.NextSequence(ctx, KindIncident)
				if err != nil {
					return err
				}
				numbers = append(numbers, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	ftx := &foldTx{b: im.d.backend, numbers: numbers}
	var out []folded
	for i := range chunk {
		in := &chunk[i]
		key := im.sourceKey(in.Ref)
		rows := rowsDigest("", in.History, nil)
		digest := importDigest(in, rows)
		if prev, dup := seen[key]; dup && in.Ref != "" {
			if prev == digest {
				rep.Skipped++
			} else {
				rep.Errors = append(rep.Errors, &ImportError{Record: in.Ref, Rule: "source_key",
					Reason: fmt.Sprintf("source key %q appears twice in this import with different content", key),
					Err:    &itsm.ConflictError{Kind: KindIncident}})
			}
			continue
		}
		seen[key] = digest
		f, skipped, errs := im.fold(ftx, in, key, digest, rows, existing[key])
		if len(errs) > 0 {
			rep.Errors = append(rep.Errors, errs...)
			continue
		}
		if skipped {
			rep.Skipped++
			continue
		}
		f.i = i
		out = append(out, f)
	}
	if im.opts.DryRun {
		for _, f := range out {
			rep.Events += len(f.events)
			if f.update {
				rep.Updated++
			} else {
				rep.Imported++
			}
		}
		return nil
	}
	return im.write(chunk, out, ftx, rep)
}

// write stores the folded incidents of a batch: the new ones with
// storage.Import, the updated ones with Put at their version, in one unit
// each; when the batch is refused (a number held already) each incident is
// written on its own and the refused ones reported.
func (im *importer_) write(chunk []ImportIncident, out []folded, ftx *foldTx, rep *ImportReport) error {
	ctx := im.ctx
	if len(out) == 0 {
		return nil
	}
	if err := im.keepNumbers(ftx.kept); err != nil {
		return err
	}
	writeAll := func(fs []folded) error {
		total := 0
		for _, f := range fs {
			total += len(f.events)
		}
		docs := make([]storage.Document, 0, len(fs))
		evs := make([]itsm.Event, 0, total)
		var upd []folded
		for _, f := range fs {
			if f.update {
				upd = append(upd, f)
				continue
			}
			docs = append(docs, f.doc)
			evs = append(evs, f.events...)
		}
		if len(upd) > 0 {
			err := im.d.backend.Update(ctx, func(tx storage.Tx) error {
				for _, f := range upd {
					if err := tx.Put(ctx, f.doc, f.from); err != nil {
						return err
					}
					if err := tx.Append(ctx, f.events...); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if len(docs) > 0 {
			return storage.Import(ctx, im.d.backend, docs, evs)
		}
		return nil
	}
	count := func(f folded) {
		rep.Events += len(f.events)
		if f.update {
			rep.Updated++
		} else {
			rep.Imported++
		}
	}
	if err := writeAll(out); err == nil {
		for _, f := range out {
			count(f)
		}
		return nil
	} else if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, f := range out {
		if err := writeAll([]folded{f}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, itsm.ErrConflict) && !errors.Is(err, itsm.ErrInvalid) {
				return err
			}
			rep.Errors = append(rep.Errors, &ImportError{Record: chunk[f.i].Ref, Rule: "record", Reason: err.Error(), Err: err})
			continue
		}
		count(f)
	}
	return nil
}

// keepNumbers moves the incident sequence past the numbers the batch keeps.
func (im *importer_) keepNumbers(kept []string) error {
	if len(kept) == 0 {
		return nil
	}
	prefix := PrefixIncident
	return im.d.backend.Update(im.ctx, func(tx storage.Tx) error {
		return storage.KeepNumbers(im.ctx, tx, KindIncident, prefix, kept...)
	})
}

// lookup reads the incidents imported before under the chunk's source
// keys, by the source_key index.
func (im *importer_) lookup(chunk []ImportIncident) (map[string]*Incident, error) {
	keys := make([]storage.Value, 0, len(chunk))
	for i := range chunk {
		if validRef(chunk[i].Ref) && chunk[i].Ref != "" {
			keys = append(keys, storage.String(im.sourceKey(chunk[i].Ref)))
		}
	}
	out := map[string]*Incident{}
	coll := im.d.incidents.Collection()
	for part := range slices.Chunk(keys, storage.MaxInValues) {
		q := storage.Query{Kind: KindIncident, Filters: []storage.Filter{storage.In("source_key", part...)}, Limit: storage.MaxLimit}
		for {
			page, err := im.d.backend.Query(im.ctx, q)
			if err != nil {
				return nil, err
			}
			for _, doc := range page.Docs {
				inc, err := coll.Decode(doc)
				if err != nil {
					return nil, err
				}
				if inc.SourceKey != "" {
					out[inc.SourceKey] = inc
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	return out, nil
}

// as returns the context a row's actor writes in.
func (im *importer_) as(who string) context.Context {
	if who == "" || who == im.importer.ID {
		return im.ctx
	}
	if c, ok := im.actors[who]; ok {
		return c
	}
	if im.actors == nil {
		im.actors = map[string]context.Context{}
	}
	a := im.importer
	a.ID, a.Name = who, ""
	c := itsm.WithActor(im.ctx, a)
	if len(im.actors) < 10_000 {
		im.actors[who] = c
	}
	return c
}

// fold runs one incident's history through the lifecycle in memory.
func (im *importer_) fold(ftx *foldTx, in *ImportIncident, key, digest, rows string, prev *Incident) (folded, bool, []*ImportError) {
	var errs []*ImportError
	fail := func(row int, rule string, err error) {
		if rule == "" {
			rule = "record"
			var te *itsm.TransitionError
			if errors.As(err, &te) {
				rule = te.Guard
				if rule == "" {
					rule = "path"
				}
			}
		}
		errs = append(errs, &ImportError{Record: in.Ref, Row: row, Rule: rule, Reason: err.Error(), Err: err})
	}
	if in.Ref == "" || !validRef(in.Ref) {
		fail(0, "source_key", (&itsm.ValidationError{Kind: KindIncident}).Add("ref", "is required: "+actorProblem))
		return folded{}, false, errs
	}
	// Rows sorted by time, stable; their numbers stay those given.
	order := make([]int, len(in.History))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return in.History[a].At.Compare(in.History[b].At) })
	bad := make([]bool, len(in.History))
	for n, row := range in.History {
		switch {
		case row.At.IsZero():
			fail(n+1, "time", (&itsm.ValidationError{Kind: KindIncident}).Add("at", "is required"))
		case !validRef(row.Actor):
			fail(n+1, "record", (&itsm.ValidationError{Kind: KindIncident}).Add("actor", actorProblem))
		case prev == nil && row.At.Before(in.OpenedAt):
			fail(n+1, "order", itsm.Invalidf("row at %s is before the incident was opened at %s", row.At.Format(time.RFC3339), in.OpenedAt.Format(time.RFC3339)))
		default:
			if _, ok := im.states[row.State]; row.State != "" && !ok {
				fail(n+1, "state_map", itsm.Invalidf("foreign state %q is not in the state map", row.State))
			} else {
				continue
			}
		}
		bad[n] = true
	}
	src := importSource{Key: key, Digest: digest}
	apply := order // the rows to apply, by index
	var fo incidentFold
	if prev != nil {
		if prev.SourceDigest == digest {
			return folded{}, true, errs
		}
		if im.opts.Mode != ImportUpdate {
			fail(0, "source_key", &itsm.ConflictError{Kind: KindIncident, ID: prev.ID})
			errs[len(errs)-1].Reason = fmt.Sprintf("source key %q was imported before (%s) with other content; ImportUpdate applies its new rows", key, prev.Number)
			return folded{}, false, errs
		}
		src.Rows, src.RowsDigest = prev.SourceRows, prev.SourceRowsDigest
		if k := prev.SourceRows; k <= len(order) && rowsDigest("", in.History, order[:k]) == prev.SourceRowsDigest {
			apply = order[k:]
		}
		for _, n := range apply {
			if !bad[n] && in.History[n].At.Before(prev.UpdatedAt) {
				bad[n] = true
				fail(n+1, "order", itsm.Invalidf("row at %s is earlier than the record's newest event at %s",
					in.History[n].At.Format(time.RFC3339), prev.UpdatedAt.Format(time.RFC3339)))
			}
		}
		if len(errs) > 0 {
			return folded{}, false, errs
		}
		if len(apply) == 0 {
			return folded{}, true, nil
		}
		src.Rows += len(apply)
		src.RowsDigest = rowsDigest(src.RowsDigest, in.History, apply)
		doc, err := im.d.backend.Get(im.ctx, KindIncident, prev.ID)
		if err == nil {
			fo, err = im.resume(im.ctx, ftx, doc)
		}
		if err != nil {
			fail(0, "record", err)
			return folded{}, false, errs
		}
	} else {
		src.Rows, src.RowsDigest = len(order), rows
		base, err := im.d.importBase(im.ctx, im.importer, in)
		if err != nil {
			var ie *ImportError
			if errors.As(err, &ie) {
				errs = append(errs, ie)
			} else {
				fail(0, "record", err)
			}
			return folded{}, false, errs
		}
		inc := base
		inc.owns = ownImport
		src.set(&inc)
		fo, err = im.create(im.as(in.OpenedBy), ftx, &inc, storage.Command{At: in.OpenedAt, Reason: "imported " + in.Ref})
		if err != nil {
			fail(0, "", err)
			return folded{}, false, errs
		}
	}
	cur := fo.Record()
	ed := newRowEdit(im, &src)
	for _, n := range apply {
		if bad[n] {
			continue
		}
		next, err := im.row(fo, cur, &in.History[n], ed)
		if err != nil {
			fail(n+1, "", err)
			// The incident will not be written; the later rows are
			// checked as if this one had reached its state, so each
			// refusal is the row's own and not a consequence of this one.
			if im.assume(fo, &in.History[n]) {
				cur = fo.Record()
			}
			continue
		}
		cur = next
	}
	if len(errs) > 0 {
		return folded{}, false, errs
	}
	f := folded{doc: fo.Document(), events: fo.Events(), update: prev != nil}
	if c, ok := fo.(interface{ Close() }); ok {
		c.Close() // its buffers go to the next incident's fold
	}
	if prev != nil {
		f.from = prev.Version
	} else if in.Incident.Number != "" {
		ftx.kept = append(ftx.kept, in.Incident.Number)
	}
	return f, false, nil
}

// assume puts the folded incident in the state of a refused row, for the
// checks of the rows after it; false when it cannot.
func (im *importer_) assume(fo incidentFold, row *ImportRow) bool {
	t, known := im.states[row.State]
	if row.State == "" || !known || t.state == "" {
		return false
	}
	err := fo.Replace(func(rec *Incident) {
		rec.State = t.state
		if t.state == StateOnHold && rec.HoldReason == "" {
			rec.HoldReason = cmp.Or(row.HoldReason, t.hold, HoldAwaitingCaller)
		}
	})
	return err == nil
}

// rowEdit holds what the edit functions of an incident's history rows
// need: they are bound once per incident, rather than made for every row.
type rowEdit struct {
	im       *importer_
	src      *importSource
	ctx      context.Context // the row's actor's
	row      *ImportRow
	assign   bool
	event    string // the event fire's edit goes with
	hold     string
	note     Note
	internal bool
	// The edit functions: the row's fields, a lifecycle event's, a note.
	change, fire, annotate func(*Incident) error
}

func newRowEdit(im *importer_, src *importSource) *rowEdit {
	e := &rowEdit{im: im, src: src}
	e.change, e.fire, e.annotate = e.changeFields, e.fireEdit, e.addNote
	return e
}

// mark gives the first write of an update the record's new source fields.
func (e *rowEdit) mark(i *Incident) { i.owns |= ownImport; e.src.set(i) }

func (e *rowEdit) changeFields(i *Incident) error {
	row := e.row
	e.mark(i)
	if e.assign {
		if i.AssignmentGroup != "" && row.AssignmentGroup != i.AssignmentGroup || i.AssignedTo != "" && row.AssignedTo != i.AssignedTo {
			i.ReassignmentCount++
		}
		i.AssignmentGroup, i.AssignedTo = row.AssignmentGroup, row.AssignedTo
	}
	if row.Category != "" {
		i.Category = row.Category
	}
	if row.Subcategory != "" {
		i.Subcategory = row.Subcategory
	}
	for k, v := range row.Custom {
		if len(v) == 0 || string(v) == "null" {
			i.Custom.Delete(k)
		} else {
			if i.Custom == nil {
				i.Custom = itsm.Values{}
			}
			i.Custom[k] = v
		}
	}
	if row.Impact != 0 || row.Urgency != 0 || row.Priority != 0 {
		return e.im.d.importPriority(e.ctx, i, row)
	}
	return nil
}

func (e *rowEdit) fireEdit(i *Incident) error {
	e.mark(i)
	switch e.event {
	case EventHold:
		i.HoldReason = e.hold
	case EventResolve:
		i.ResolutionCode, i.ResolutionNotes = e.row.ResolutionCode, e.row.ResolutionNotes
	}
	return nil
}

func (e *rowEdit) addNote(i *Incident) error {
	e.mark(i)
	i.owns |= ownJournal
	if e.internal {
		i.WorkNotes = append(i.WorkNotes, e.note)
	} else {
		i.Comments = append(i.Comments, e.note)
	}
	return nil
}

// row applies one history row to cur, with ed's edit functions.
func (im *importer_) row(fo incidentFold, cur *Incident, row *ImportRow, ed *rowEdit) (*Incident, error) {
	ctx := im.as(row.Actor)
	cmd := storage.Command{At: row.At, Reason: row.Reason}
	ed.ctx, ed.row = ctx, row
	ed.assign = row.AssignmentGroup != "" && (row.AssignmentGroup != cur.AssignmentGroup || row.AssignedTo != cur.AssignedTo)
	fields := ed.assign || row.Impact != 0 && row.Impact != cur.Impact || row.Urgency != 0 && row.Urgency != cur.Urgency ||
		row.Priority != 0 && row.Priority != cur.Priority || row.Category != "" && row.Category != cur.Category ||
		row.Subcategory != "" && row.Subcategory != cur.Subcategory || len(row.Custom) > 0
	if fields {
		var err error
		if cur, err = fo.Change(ctx, cmd, ed.change); err != nil {
			return nil, err
		}
	}
	if t := im.states[row.State]; row.State != "" && t.state != "" {
		hold := row.HoldReason
		if hold == "" {
			hold = t.hold
		}
		ed.hold = hold
		var path []string
		switch {
		case t.state == cur.State:
			if t.state == StateOnHold && hold != "" && hold != cur.HoldReason {
				path = []string{EventHold} // a new hold reason
			}
		default:
			var ok bool
			if path, ok = im.path(cur.State, t.state); !ok {
				return nil, &itsm.TransitionError{Kind: KindIncident, ID: cur.ID, Number: cur.Number, From: cur.State, Event: "import",
					Reason: fmt.Sprintf("no event leads from %s to %s (foreign %q)", cur.State, t.state, row.State)}
			}
		}
		for _, event := range path {
			ed.event = event
			var err error
			if cur, err = fo.Fire(ctx, event, cmd, ed.fire); err != nil {
				return nil, err
			}
		}
	}
	for _, note := range [2]struct {
		text     string
		internal bool
	}{{row.Comment, false}, {row.WorkNote, true}} {
		if note.text == "" {
			continue
		}
		author := row.Actor
		if author == "" {
			author = im.importer.ID
		}
		ed.note, ed.internal = Note{At: itsm.NormalizeTime(row.At), Author: author, Text: note.text}, note.internal
		var err error
		if cur, err = fo.Change(ctx, cmd, ed.annotate); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// importPriority applies a row's impact, urgency and priority: the
// priority is the matrix's unless the row gives another, which is kept as
// an override ("imported with priority N").
func (d *Desk) importPriority(ctx context.Context, i *Incident, row *ImportRow) error {
	if row.Impact != 0 {
		i.Impact = row.Impact
	}
	if row.Urgency != 0 {
		i.Urgency = row.Urgency
	}
	p, err := d.matrix(ctx).Priority(i.Impact, i.Urgency)
	if err != nil {
		return err
	}
	const imported = "imported with priority "
	switch {
	case row.Priority != 0:
		i.Priority = row.Priority
	case i.PriorityOverrideReason == "" || strings.HasPrefix(i.PriorityOverrideReason, imported):
		i.Priority = p
	}
	if i.Priority == p && strings.HasPrefix(i.PriorityOverrideReason, imported) {
		i.PriorityOverrideReason = ""
	} else if i.Priority != p && (i.PriorityOverrideReason == "" || strings.HasPrefix(i.PriorityOverrideReason, imported)) {
		i.PriorityOverrideReason = imported + fmt.Sprint(i.Priority)
	}
	return nil
}

// path returns the shortest sequence of lifecycle events from one state to
// another (breadth first over the import lifecycle, events in their
// declared order), leaving out events that keep the state.
func (im *importer_) path(from, to string) ([]string, bool) {
	k := [2]string{from, to}
	if p, ok := im.paths[k]; ok {
		return p, p != nil
	}
	m := im.d.importing.Machine()
	type step struct {
		state string
		path  []string
	}
	seen := map[string]bool{from: true}
	queue := []step{{from, nil}}
	var found []string
	for len(queue) > 0 && found == nil {
		s := queue[0]
		queue = queue[1:]
		for _, ev := range m.Available(s.state) {
			next, _ := m.Target(s.state, ev)
			if seen[next] {
				continue
			}
			seen[next] = true
			p := append(slices.Clone(s.path), ev)
			if next == to {
				found = p
				break
			}
			queue = append(queue, step{next, p})
		}
	}
	im.paths[k] = found
	return found, found != nil
}

// importBase checks what can be checked before writing and returns the
// incident as it is created.
const actorProblem = "must be NUL-free UTF-8 of at most 1024 bytes"

func (d *Desk) importBase(ctx context.Context, importer itsm.Actor, in *ImportIncident) (Incident, error) {
	rowErr := func(err error) error {
		return &ImportError{Record: in.Ref, Rule: "record", Reason: err.Error(), Err: err}
	}
	if in.OpenedAt.IsZero() {
		return Incident{}, &ImportError{Record: in.Ref, Rule: "time", Reason: "opened_at is required",
			Err: (&itsm.ValidationError{Kind: KindIncident}).Add("opened_at", "is required")}
	}
	// The people named become the events' actors: refuse what no store
	// indexes rather than write it into the log.
	if !validRef(in.OpenedBy) {
		return Incident{}, rowErr((&itsm.ValidationError{Kind: KindIncident}).Add("opened_by", actorProblem))
	}
	base := in.Incident
	base.Record = itsm.Record{Number: in.Incident.Number}
	base.Custom = in.Incident.Custom.Clone()
	base.ReassignmentCount, base.ReopenCount, base.HoldReason, base.ResolutionCode, base.ResolutionNotes = 0, 0, "", "", ""
	base.FirstResponseAt, base.ResolvedAt, base.ClosedAt = time.Time{}, time.Time{}, time.Time{}
	base.Major, base.MajorState, base.MajorProposedBy, base.Escalations = false, "", "", nil
	base.WorkNotes, base.Comments = nil, nil
	importSource{}.set(&base)
	if base.OpenedBy = in.OpenedBy; base.OpenedBy == "" {
		base.OpenedBy = importer.ID
	}
	if p, err := d.matrix(ctx).Priority(base.Impact, base.Urgency); err != nil {
		return Incident{}, rowErr(err)
	} else if base.Priority != 0 && base.Priority != p && base.PriorityOverrideReason == "" {
		base.PriorityOverrideReason = "imported with priority " + fmt.Sprint(base.Priority)
	}
	if err := d.checkPriority(ctx, &base); err != nil {
		return Incident{}, rowErr(err)
	}
	return base, nil
}

// importDigest is the digest of what an incident's import carries: a
// second import of the same content is recognised by it. rows is the
// digest of its history rows in time order (rowsDigest).
func importDigest(in *ImportIncident, rows string) string {
	h := sha256.New()
	base, _ := json.Marshal(in.Incident)
	h.Write(base)
	var buf []byte
	buf = appendStr(buf, in.Ref)
	buf = appendStr(buf, in.OpenedBy)
	buf = binary.AppendVarint(buf, in.OpenedAt.UnixNano())
	h.Write(buf)
	h.Write([]byte(rows))
	return hex.EncodeToString(h.Sum(nil))
}

// rowsDigest chains the digest of the rows at the given indexes (every row
// in order when idx is nil) onto prev.
func rowsDigest(prev string, rows []ImportRow, idx []int) string {
	if idx == nil {
		idx = make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return rows[a].At.Compare(rows[b].At) })
	}
	// The running digest and each row's input stay in these arrays: one
	// string at the end.
	var curArr [2 * sha256.Size]byte
	cur := append(curArr[:0], prev...)
	var stack [512]byte
	buf := stack[:0]
	var keys []string
	for _, n := range idx {
		r := &rows[n]
		buf = binary.AppendUvarint(buf[:0], uint64(len(cur)))
		buf = append(buf, cur...)
		buf = binary.AppendVarint(buf, r.At.UnixNano())
		for _, s := range [...]string{r.Actor, r.State, r.Reason, r.AssignmentGroup, r.AssignedTo, r.HoldReason, r.ResolutionCode,
			r.ResolutionNotes, r.Category, r.Subcategory, r.Comment, r.WorkNote} {
			buf = appendStr(buf, s)
		}
		buf = binary.AppendVarint(buf, int64(r.Impact))
		buf = binary.AppendVarint(buf, int64(r.Urgency))
		buf = binary.AppendVarint(buf, int64(r.Priority))
		keys = keys[:0]
		for k := range r.Custom {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			buf = appendStr(buf, k)
			buf = appendStr(buf, string(r.Custom[k]))
		}
		sum := sha256.Sum256(buf)
		cur = hex.AppendEncode(cur[:0], sum[:])
	}
	if len(idx) == 0 {
		return prev
	}
	return string(cur)
}

func appendStr(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// incidentFold is where an incident's history is applied, command by
// command, in memory: a storage.Fold under the import lifecycle.
type incidentFold interface {
	Record() *Incident
	Fire(ctx context.Context, event string, cmd storage.Command, mutate func(*Incident) error) (*Incident, error)
	Change(ctx context.Context, cmd storage.Command, mutate func(*Incident) error) (*Incident, error)
	Replace(mutate func(*Incident)) error
	Document() storage.Document
	Events() []itsm.Event
}

// create starts the fold of a new incident with its creation.
func (im *importer_) create(ctx context.Context, ftx *foldTx, inc *Incident, cmd storage.Command) (incidentFold, error) {
	if im.opts.fold != nil {
		return im.opts.fold(im.d, ctx, ftx, inc, cmd, nil)
	}
	return im.d.importing.FoldCreate(ctx, ftx, inc, cmd)
}

// resume starts the fold of an incident imported before, from its
// stored document.
func (im *importer_) resume(ctx context.Context, ftx *foldTx, doc storage.Document) (incidentFold, error) {
	if im.opts.fold != nil {
		return im.opts.fold(im.d, ctx, ftx, nil, storage.Command{}, &doc)
	}
	return im.d.importing.FoldFrom(ctx, ftx, doc)
}

// foldTx is the unit of work incidents are folded in: it reads from the
// store, hands out the numbers drawn for the batch and writes nothing (the
// folds hand their records and events over).
type foldTx struct {
	b       storage.Backend
	numbers []int64 // drawn for this batch
	fake    int64   // dry run: numbers that are never written
	kept    []string
}

func (t *foldTx) Get(ctx context.Context, kind, id string) (storage.Document, error) {
	return t.b.Get(ctx, kind, id)
}

func (t *foldTx) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	return t.b.Query(ctx, q)
}

func (t *foldTx) Put(context.Context, storage.Document, int64) error {
	return itsm.Invalidf("import: the fold writes, not its unit of work")
}

func (t *foldTx) Delete(context.Context, string, string, int64) error {
	return itsm.Invalidf("import: deletes nothing")
}

func (t *foldTx) NextSequence(_ context.Context, name string) (int64, error) {
	if len(t.numbers) > 0 {
		n := t.numbers[0]
		t.numbers = t.numbers[1:]
		return n, nil
	}
	t.fake++
	return t.fake, nil
}

func (t *foldTx) AdvanceSequence(context.Context, string, int64) error { return nil }

func (t *foldTx) Append(context.Context, ...itsm.Event) error {
	return itsm.Invalidf("import: the fold writes, not its unit of work")
}
