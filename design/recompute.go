package design

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// recomputeBatch is how many clocks one unit of work of a recompute writes
// at most (a record's clocks are never split between two units).
const recomputeBatch = 500

// maxRecomputeWorkers bounds the units of work one recompute runs at once.
const maxRecomputeWorkers = 4

// Recompute brings every running or paused clock of the definition id in
// the tenant of ctx to the definition's current version and its calendar's
// current version: it replays each clock's record history under them, so
// the clock ends as one that ran under them from the start (paused time is
// never lost, and warnings and breach are those the new rules give). A
// clock the new rules would never have started is canceled. It returns how
// many clocks it wrote, in units of at most 500 clocks; a clock whose
// recomputed value is the one stored is not written, and completed and
// canceled clocks keep their version. An unknown id is ErrNotFound.
//
// Each changed clock is written with its own event ("sla definition …
// version … recomputed"), chained to the clock's history as any other
// write, so Verify and History of a clock show the recompute.
func (e *Engine) Recompute(ctx context.Context, id string) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("sla engine: nil context")
	}
	set, _, err := e.load(ctx)
	if err != nil {
		return 0, err
	}
	rd := set.find(id)
	if rd == nil {
		return 0, &itsm.NotFoundError{Kind: DefinitionKind, ID: id}
	}
	return e.recompute(ctx, set, []*runDef{rd}, true, false)
}

// recomputeTarget is a running clock a recompute brings to a new version,
// with the document the query read it in (its Data nil when not kept: the
// unit of work reads it).
type recomputeTarget struct {
	id, kind, task, def string
	doc                 storage.Document
}

// recompute brings the running and paused clocks of defs to the versions
// set holds (when running is set) and then, with start, starts the clocks
// of the records of their kinds that match an active one of them and have
// none (see startMissing). It returns how many clocks it wrote.
func (e *Engine) recompute(ctx context.Context, set *defSet, defs []*runDef, running, start bool) (int, error) {
	ctx = itsm.WithActor(ctx, e.actor)
	byID := make(map[string]*runDef, len(defs))
	for _, rd := range defs {
		byID[rd.id] = rd
	}
	reasons := make(map[string]string, len(defs))
	for _, rd := range defs {
		reasons[rd.id] = fmt.Sprintf("sla definition %s version %d recomputed", rd.id, rd.version)
	}
	has := map[string]bool{} // the clocks found running
	n := 0
	var err error
	switch {
	case !running:
	case len(defs) == 1:
		// One clock per record: each page of running clocks is recomputed
		// as it comes, on the documents the query read (a clock written
		// meanwhile fails its unit's version check, run again on fresh
		// reads), so no clock is read twice and none is held longer.
		err = e.runningClocks(ctx, defs[0].id, true, func(page []recomputeTarget) error {
			for _, t := range page {
				has[t.id] = true
			}
			units := slices.Collect(slices.Chunk(page, recomputeBatch))
			m, err := e.parallel(ctx, len(units), func(i int) (int, error) {
				return e.recomputeUnit(ctx, set.tenant, byID, reasons, units[i])
			})
			n += m
			return err
		})
	default:
		// A record's clocks are recomputed together, on one read of its
		// history: sorted by record, cut into units that never split one.
		var todo []recomputeTarget
		for _, rd := range defs {
			if err := e.runningClocks(ctx, rd.id, false, func(page []recomputeTarget) error { todo = append(todo, page...); return nil }); err != nil {
				return 0, err
			}
		}
		slices.SortFunc(todo, func(a, b recomputeTarget) int {
			return cmp.Or(strings.Compare(a.kind, b.kind), strings.Compare(a.task, b.task), strings.Compare(a.def, b.def))
		})
		var units [][]recomputeTarget
		for i, from := 0, 0; i < len(todo); {
			j := i + 1
			for j < len(todo) && todo[j].kind == todo[i].kind && todo[j].task == todo[i].task {
				j++
			}
			if j-from > recomputeBatch && i > from {
				units = append(units, todo[from:i]) // the record starts the next unit
				from = i
			}
			if i = j; i == len(todo) {
				units = append(units, todo[from:])
			}
		}
		for _, t := range todo {
			has[t.id] = true
		}
		n, err = e.parallel(ctx, len(units), func(i int) (int, error) {
			return e.recomputeUnit(ctx, set.tenant, byID, reasons, units[i])
		})
	}
	if err != nil || !start {
		return n, err
	}
	for _, rd := range defs {
		m, err := e.startMissing(ctx, rd, has)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// runningClocks hands each page of the running and paused clocks of the
// definition id to fn, read from the store's index; with docs the
// targets keep the documents read, else only their indexed fields.
func (e *Engine) runningClocks(ctx context.Context, id string, docs bool, fn func([]recomputeTarget) error) error {
	for _, state := range []string{StageInProgress, StagePaused} {
		q := storage.Query{Kind: ClockKind, Filters: []storage.Filter{
			storage.Eq("definition_id", storage.String(id)), storage.Eq("state", storage.String(state))},
			// In the order of the (definition_id, state, task_id) index,
			// so each page starts where the last ended instead of
			// sifting every clock of the definition again.
			Sort: []storage.Sort{{Field: "task_id"}}, Limit: storage.MaxLimit}
		for {
			page, err := e.backend.Query(ctx, q)
			if err != nil {
				return err
			}
			out := make([]recomputeTarget, len(page.Docs))
			for i, d := range page.Docs {
				if len(d.Fields) <= max(e.fTaskKind, e.fTaskID) {
					return itsm.Invalidf("sla engine: clock %s came back without its indexed fields", d.ID)
				}
				out[i] = recomputeTarget{id: d.ID, kind: d.Fields[e.fTaskKind].Str(), task: d.Fields[e.fTaskID].Str(), def: id}
				if docs {
					out[i].doc = d
				}
			}
			if err := fn(out); err != nil {
				return err
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	return nil
}

// parallel runs the units of work 0..n-1, a worker per processor (at most
// maxRecomputeWorkers) side by side, and returns the sum of what they
// wrote; the first error stops the units not yet begun.
func (e *Engine) parallel(ctx context.Context, n int, unit func(int) (int, error)) (int, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		first error
		next  int
	)
	work := func() {
		defer wg.Done()
		for {
			mu.Lock()
			if first != nil || next == n {
				mu.Unlock()
				return
			}
			i := next
			next++
			mu.Unlock()
			wrote, err := unit(i)
			if err == nil {
				err = ctx.Err()
			}
			mu.Lock()
			total += wrote
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}
	}
	for range min(runtime.GOMAXPROCS(0), n, maxRecomputeWorkers) {
		wg.Add(1)
		go work()
	}
	wg.Wait()
	return total, first
}

// retryUnit runs fn as one unit of work, run again on fresh reads when it
// loses a race (a Sync or Check that wrote one of its clocks, or a store
// that asks to retry).
func (e *Engine) retryUnit(ctx context.Context, fn func(tx storage.Tx, attempt int) (int, error)) (int, error) {
	for attempt := 0; ; attempt++ {
		wrote := 0
		err := e.backend.Update(ctx, func(tx storage.Tx) error {
			var err error
			wrote, err = fn(tx, attempt)
			return err
		})
		switch {
		case err == nil:
			return wrote, nil
		case (errors.Is(err, itsm.ErrConflict) || errors.Is(err, itsm.ErrBusy)) && attempt < 8:
			if err := pause(ctx, time.Duration(attempt+1)*busyWait); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

// recomputeUnit recomputes the clocks of one unit, record by record: each
// record's history is read and replayed once per definition, and each
// clock whose value changes is rewritten (rewrite).
func (e *Engine) recomputeUnit(ctx context.Context, tenant string, defs map[string]*runDef, reasons map[string]string, unit []recomputeTarget) (int, error) {
	return e.retryUnit(ctx, func(tx storage.Tx, attempt int) (int, error) {
		wrote := 0
		now := itsm.NormalizeTime(e.clock.Now())
		for i := 0; i < len(unit); {
			j := i + 1
			for j < len(unit) && unit[j].kind == unit[i].kind && unit[j].task == unit[i].task {
				j++
			}
			group := unit[i:j]
			i = j
			hist, err := e.backend.History(ctx, group[0].kind, group[0].task)
			if err != nil {
				return 0, err
			}
			if len(hist) == 0 {
				continue
			}
			for _, t := range group {
				doc := t.doc
				if doc.Data == nil || attempt > 0 {
					var err error
					doc, err = tx.Get(ctx, ClockKind, t.id)
					if errors.Is(err, itsm.ErrNotFound) {
						continue
					}
					if err != nil {
						return 0, err
					}
				}
				stored, err := e.clocks.Collection().Decode(doc)
				if err != nil {
					return 0, err
				}
				if stored.State != StageInProgress && stored.State != StagePaused {
					continue // stopped meanwhile
				}
				rd := defs[t.def]
				tl, err := replay(rd.def, rd.cal, hist)
				if err != nil {
					return 0, fmt.Errorf("sla %s on %s %s: %w", rd.id, t.kind, t.task, err)
				}
				ok, err := e.rewrite(ctx, tx, tenant, doc, stored, rd, tl, hist[len(hist)-1], reasons[t.def], now)
				if err != nil {
					return 0, err
				}
				if ok {
					wrote++
				}
			}
		}
		return wrote, nil
	})
}

// headMember is how a clock's encoding starts its head member while the
// event that names its hash is not sealed yet: a placeholder as long as
// a hex SHA-256. Inside a JSON string a quote is escaped, so the sequence
// can only be the member itself.
var headMember = []byte(`"head":"` + strings.Repeat("0", 64) + `"`)

// rewrite writes a running or paused clock as the replayed timeline tl
// under rd gives it: the lighter write path of a recompute. A clock is an
// engine-owned record whose value follows from its record's history, so
// this path skips what a command of Records does for a person's edit (a
// second decode of the stored clock, the edit function, the lifecycle's
// guards, which clocks have none): it authorises the engine's actor for
// the event on the clock, computes the clock, encodes it once, lists the
// changed fields as Records does (storage.FieldChanges) and writes the
// clock with its own hash-chained event. A clock whose value is unchanged
// is not written (false).
func (e *Engine) rewrite(ctx context.Context, tx storage.Tx, tenant string, before storage.Document, stored *SLAClock, rd *runDef, tl timeline, last itsm.Event, reason string, now time.Time) (bool, error) {
	want := *stored
	want.Warnings = slices.Clone(stored.Warnings)
	if !tl.started {
		// Under the new rules the record never had this clock: it is
		// canceled where it stands, its history kept.
		want.State, want.StopTime = StageCanceled, tl.lastAt.UTC()
		want.RunningSince, want.PausedAt, want.DueAt, want.NextCheckAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	} else {
		at := tl.lastAt
		if tl.stage == StageInProgress && stored.EvaluatedAt.After(at) && stored.ResetCount == tl.resets {
			at = stored.EvaluatedAt // do not take back warnings Check already raised
		}
		want.Warnings = nil
		fill(&want, rd.def, last, tl)
		if err := settle(&want, rd.def, rd.cal, at); err != nil {
			return false, fmt.Errorf("sla %s on %s %s: %w", rd.id, last.Kind, last.RecordID, err)
		}
	}
	want.DefinitionVersion, want.CalendarVersion = rd.version, rd.calVersion
	path := clockPath(stored.State, want.State)
	action, name := itsm.ActionUpdate, itsm.EventUpdate
	switch len(path) {
	case 0:
	case 1:
		action, name = path[0], path[0]
	default: // a running or paused clock reaches every stage in one event
		return false, itsm.Invalidf("sla engine: clock %s cannot go from %s to %s in one event", stored.ID, stored.State, want.State)
	}
	at := now
	if at.Before(stored.UpdatedAt) {
		at = stored.UpdatedAt // never write time backwards
	}
	want.Version, want.Head, want.UpdatedAt = stored.Version+1, string(headMember[len(`"head":"`):len(headMember)-1]), at
	if err := want.Validate(); err != nil {
		return false, err
	}
	doc, err := e.clocks.Collection().Encode(&want)
	if err != nil {
		return false, err
	}
	changes, err := storage.FieldChanges(before.Data, doc.Data)
	if err != nil {
		return false, fmt.Errorf("sla engine: clock %s: %w", stored.ID, err)
	}
	if len(changes) == 0 {
		return false, nil
	}
	if err := itsm.Authorize(ctx, e.reg.auth, ClockKind, action, stored); err != nil {
		return false, err
	}
	actor, _ := itsm.ActorFrom(ctx)
	ev := itsm.Event{Name: name, From: stored.State, To: want.State, Tenant: tenant, ID: itsm.NewID(),
		Kind: ClockKind, RecordID: stored.ID, Number: stored.Number, RecordVersion: want.Version,
		Actor: actor.ID, At: at, RecordedAt: now, Reason: reason, Changes: changes}
	itsm.Seal(&ev, stored.Head)
	i := bytes.Index(doc.Data, headMember)
	if i < 0 || len(ev.Hash) != len(headMember)-len(`"head":""`) {
		return false, itsm.Invalidf("sla engine: clock %s: the encoded clock has no head member of its own", stored.ID)
	}
	copy(doc.Data[i+len(`"head":"`):], ev.Hash)
	if err := tx.Put(ctx, doc, stored.Version); err != nil {
		return false, err
	}
	return true, tx.Append(ctx, ev)
}

// startMissing starts, from their histories, the clocks of rd on the
// records of its kind that have none (has holds the clocks already known
// to be running): records that match a new or changed definition get
// their clock now, as one that ran under it from the start, not at their
// next event. Only clocks that end running or paused are started; a
// record whose replay ends stopped gets none. It reads every record of
// the kind, a page at a time, and writes in units of at most 500 records.
func (e *Engine) startMissing(ctx context.Context, rd *runDef, has map[string]bool) (int, error) {
	if !rd.active {
		return 0, nil
	}
	reason := fmt.Sprintf("sla definition %s version %d started on an open record", rd.id, rd.version)
	q := storage.Query{Kind: rd.def.Kind, Limit: storage.MaxLimit}
	n := 0
	for {
		page, err := e.backend.Query(ctx, q)
		if err != nil {
			return n, err
		}
		var ids []string
		for _, d := range page.Docs {
			if !has[ClockID(rd.def.Kind, d.ID, rd.id)] {
				ids = append(ids, d.ID)
			}
		}
		chunks := slices.Collect(slices.Chunk(ids, recomputeBatch))
		m, err := e.parallel(ctx, len(chunks), func(i int) (int, error) {
			return e.retryUnit(ctx, func(tx storage.Tx, _ int) (int, error) { return e.startUnit(ctx, tx, rd, chunks[i], reason) })
		})
		n += m
		if err != nil || page.Next == "" {
			return n, err
		}
		q.Cursor = page.Next
	}
}

// startUnit starts the clocks of rd on the records ids that have none and
// whose replay under rd ends running or paused.
func (e *Engine) startUnit(ctx context.Context, tx storage.Tx, rd *runDef, ids []string, reason string) (int, error) {
	wrote := 0
	for _, id := range ids {
		if _, err := tx.Get(ctx, ClockKind, ClockID(rd.def.Kind, id, rd.id)); err == nil {
			continue // it has one, running or not
		} else if !errors.Is(err, itsm.ErrNotFound) {
			return 0, err
		}
		hist, err := e.backend.History(ctx, rd.def.Kind, id)
		if err != nil {
			return 0, err
		}
		if len(hist) == 0 {
			continue
		}
		tl, err := replay(rd.def, rd.cal, hist)
		if err != nil {
			return 0, fmt.Errorf("sla %s on %s %s: %w", rd.id, rd.def.Kind, id, err)
		}
		if !tl.started || tl.stage != StageInProgress && tl.stage != StagePaused {
			continue
		}
		if err := e.write(ctx, tx, hist[len(hist)-1], rd, tl, nil, storage.Command{Reason: reason}); err != nil {
			return 0, err
		}
		wrote++
	}
	return wrote, nil
}
