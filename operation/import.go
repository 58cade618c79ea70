package operation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// StateMap maps another tool's incident state names to Pillars states, for
// example {"Work in Progress": "in_progress", "Pending": "on_hold"}.
type StateMap map[string]string

// ImportRow is one step of an incident's history in another tool: at At,
// Actor moved it to State (a foreign name, mapped through the StateMap)
// and/or changed its assignment. The fields the target state needs come
// with the row (a hold reason, a resolution code and notes).
type ImportRow struct {
	At              time.Time
	Actor           string
	State           string // foreign state name; "" keeps the current state
	Reason          string
	AssignmentGroup string // when set, the assignment at this step
	AssignedTo      string
	HoldReason      string
	ResolutionCode  string
	ResolutionNotes string
}

// ImportIncident is one incident to import: its fields as first recorded,
// when and by whom it was opened, and its history, oldest first. Ref names
// the record in the other tool (its number) for error messages; when
// Incident.Number is set the number is kept.
type ImportIncident struct {
	Ref      string
	Incident Incident
	OpenedAt time.Time
	OpenedBy string
	History  []ImportRow
}

// ImportError says why one incident was not imported: the record (its
// Ref), the history row (1-based; 0 is the record itself) and the reason.
// It unwraps to the underlying error, so errors.Is matches the kernel's
// sentinels.
type ImportError struct {
	Record string
	Row    int
	Reason string
	Err    error
}

func (e *ImportError) Error() string {
	if e.Row == 0 {
		return fmt.Sprintf("import %s: %s", e.Record, e.Reason)
	}
	return fmt.Sprintf("import %s row %d: %s", e.Record, e.Row, e.Reason)
}

// Unwrap returns the underlying error.
func (e *ImportError) Unwrap() error { return e.Err }

// ImportResult reports an import: how many incidents were written and why
// the others were not.
type ImportResult struct {
	Imported int
	Errors   []*ImportError
}

// ImportIncidents loads incidents from another tool with their full state
// history. Each incident is one unit of work: it is created at OpenedAt and
// every history row is applied through the lifecycle as a backdated event
// (guards included: a resolution needs its code and notes, a reopen must
// fall within the window), so the event log reads as if Pillars had run the
// desk. A row the lifecycle refuses rejects its whole incident, which is
// reported in ImportResult.Errors and leaves nothing behind; the other
// incidents are imported. The actor in ctx must hold the importer role;
// each row is recorded under its own Actor with the importer's roles.
// Assignments are not checked against the Directory (people move on).
func (d *Desk) ImportIncidents(ctx context.Context, incs []ImportIncident, states StateMap) (ImportResult, error) {
	var res ImportResult
	if ctx == nil {
		return res, itsm.Invalidf("import: nil context")
	}
	importer, ok := itsm.ActorFrom(ctx)
	if !ok {
		return res, &itsm.ForbiddenError{Kind: KindIncident, Action: itsm.ActionImport, Reason: "no actor in context"}
	}
	if err := itsm.Authorize(ctx, d.cfg.Authorizer, KindIncident, itsm.ActionImport, nil); err != nil {
		return res, err
	}
	m := d.incidents.Machine()
	for foreign, state := range states {
		if !m.HasState(state) {
			return res, itsm.Invalidf("import: state map sends %q to %q, which is not an incident state", foreign, state)
		}
	}
	errs := make([]*ImportError, len(incs))
	asError := func(i int, err error) *ImportError {
		var ie *ImportError
		if !errors.As(err, &ie) {
			ie = &ImportError{Record: incs[i].Ref, Reason: err.Error(), Err: err}
		}
		return ie
	}
	bases := make([]Incident, len(incs))
	var ready []int
	for i := range incs {
		base, err := d.importBase(importer, &incs[i])
		if err != nil {
			errs[i] = asError(i, err)
			continue
		}
		bases[i] = base
		ready = append(ready, i)
	}
	// Incidents are written ImportBatchSize to a unit of work, which spares
	// a SQL store a commit per incident. When one of a batch is refused the
	// batch is written again one incident per unit of work, so every good
	// incident is imported whole and every bad one not at all.
	one := func(tx storage.Tx, i int) error { return d.importTx(ctx, tx, importer, &incs[i], bases[i], states) }
	for len(ready) > 0 {
		chunk := ready[:min(ImportBatchSize, len(ready))]
		ready = ready[len(chunk):]
		err := d.backend.Update(ctx, func(tx storage.Tx) error {
			for _, i := range chunk {
				if err := one(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			res.Imported += len(chunk)
			continue
		}
		for _, i := range chunk {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if err := d.backend.Update(ctx, func(tx storage.Tx) error { return one(tx, i) }); err != nil {
				errs[i] = asError(i, err)
				continue
			}
			res.Imported++
		}
	}
	for _, e := range errs {
		if e != nil {
			res.Errors = append(res.Errors, e)
		}
	}
	return res, nil
}

// ImportBatchSize is how many incidents ImportIncidents writes in one unit of
// work when none of them is refused.
const ImportBatchSize = 100

// importBase checks what can be checked before writing and returns the
// incident as it is created.
const actorProblem = "must be NUL-free UTF-8 of at most 1024 bytes"

func (d *Desk) importBase(importer itsm.Actor, in *ImportIncident) (Incident, error) {
	rowErr := func(err error) error {
		return &ImportError{Record: in.Ref, Reason: err.Error(), Err: err}
	}
	if in.OpenedAt.IsZero() {
		return Incident{}, rowErr((&itsm.ValidationError{Kind: KindIncident}).Add("opened_at", "is required"))
	}
	// The people named become the events' actors: refuse what no store
	// indexes rather than write it into the log.
	if !validRef(in.OpenedBy) {
		return Incident{}, rowErr((&itsm.ValidationError{Kind: KindIncident}).Add("opened_by", actorProblem))
	}
	for n, row := range in.History {
		if !validRef(row.Actor) {
			err := (&itsm.ValidationError{Kind: KindIncident}).Add("actor", actorProblem)
			return Incident{}, &ImportError{Record: in.Ref, Row: n + 1, Reason: err.Error(), Err: err}
		}
	}
	base := in.Incident
	base.Record = itsm.Record{Number: in.Incident.Number}
	base.ReassignmentCount, base.ReopenCount, base.HoldReason, base.ResolutionCode, base.ResolutionNotes = 0, 0, "", "", ""
	base.FirstResponseAt, base.ResolvedAt, base.ClosedAt = time.Time{}, time.Time{}, time.Time{}
	base.Major, base.MajorState, base.MajorProposedBy, base.Escalations = false, "", "", nil
	if base.OpenedBy = in.OpenedBy; base.OpenedBy == "" {
		base.OpenedBy = importer.ID
	}
	if p, err := d.cfg.Incident.Matrix.Priority(base.Impact, base.Urgency); err != nil {
		return Incident{}, rowErr(err)
	} else if base.Priority != 0 && base.Priority != p && base.PriorityOverrideReason == "" {
		base.PriorityOverrideReason = "imported with priority " + fmt.Sprint(base.Priority)
	}
	if err := d.checkPriority(&base); err != nil {
		return Incident{}, rowErr(err)
	}
	return base, nil
}

// importTx writes one incident and its history inside tx.
func (d *Desk) importTx(ctx context.Context, tx storage.Tx, importer itsm.Actor, in *ImportIncident, base Incident, states StateMap) error {
	as := func(who string) context.Context {
		if who == "" {
			return ctx
		}
		a := importer
		a.ID, a.Name = who, ""
		return itsm.WithActor(ctx, a)
	}
	rowErr := func(row int, err error) error {
		return &ImportError{Record: in.Ref, Row: row, Reason: err.Error(), Err: err}
	}
	inc := base
	inc.owns = ownImport
	if err := d.incidents.CreateTx(as(in.OpenedBy), tx, &inc, storage.Command{At: in.OpenedAt, Reason: "imported " + in.Ref}); err != nil {
		return rowErr(0, err)
	}
	cur := &inc
	for n, row := range in.History {
		var err error
		if cur, err = d.importRow(as(row.Actor), tx, cur, row, states); err != nil {
			return rowErr(n+1, err)
		}
	}
	return nil
}

func (d *Desk) importRow(ctx context.Context, tx storage.Tx, cur *Incident, row ImportRow, states StateMap) (*Incident, error) {
	if row.At.IsZero() {
		return nil, (&itsm.ValidationError{Kind: KindIncident, ID: cur.ID}).Add("at", "is required")
	}
	cmd := storage.Command{At: row.At, Reason: row.Reason}
	if row.AssignmentGroup != "" && (row.AssignmentGroup != cur.AssignmentGroup || row.AssignedTo != cur.AssignedTo) {
		var err error
		cur, err = d.incidents.ChangeTx(ctx, tx, cur.ID, cmd, func(i *Incident) error {
			if i.AssignmentGroup != "" && row.AssignmentGroup != i.AssignmentGroup || i.AssignedTo != "" && row.AssignedTo != i.AssignedTo {
				i.ReassignmentCount++
			}
			i.AssignmentGroup, i.AssignedTo = row.AssignmentGroup, row.AssignedTo
			i.owns |= ownImport
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if row.State == "" {
		return cur, nil
	}
	target, ok := states[row.State]
	if !ok {
		return nil, itsm.Invalidf("foreign state %q is not in the state map", row.State)
	}
	event := ""
	if target == cur.State {
		if target != StateOnHold || row.HoldReason == cur.HoldReason {
			return cur, nil // no state change
		}
		event = EventHold
	} else {
		m := d.incidents.Machine()
		for _, ev := range m.Available(cur.State) {
			if to, _ := m.Target(cur.State, ev); to == target {
				event = ev
				break
			}
		}
		if event == "" {
			return nil, &itsm.TransitionError{Kind: KindIncident, ID: cur.ID, Number: cur.Number, From: cur.State, Event: "import",
				Reason: fmt.Sprintf("no event leads from %s to %s (foreign %q)", cur.State, target, row.State)}
		}
	}
	return d.incidents.FireTx(ctx, tx, cur.ID, event, cmd, func(i *Incident) error {
		i.owns |= ownImport
		switch event {
		case EventHold:
			i.HoldReason = row.HoldReason
		case EventResolve:
			i.ResolutionCode, i.ResolutionNotes = row.ResolutionCode, row.ResolutionNotes
		}
		return nil
	})
}
