package design

import (
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
// write, so Verify and History of a clock show the recompute. Telemetry
// (EngineConfig.Telemetry) is told of each unit as one command on clocks
// (event "recompute"), where the live path reports a command per clock,
// and an SLAObserver of the warnings and breaches the recomputed clocks
// reach that they had not, once the unit is committed, as Sync does.
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

// sharedQuerier is a store that hands out its own documents instead of
// copies (memory.Store.QueryShared): the running clocks a recompute reads
// are only decoded, never changed.
type sharedQuerier interface {
	QueryShared(ctx context.Context, q storage.Query) (storage.Page, error)
}

// ownedWriter is a unit of work that takes the slices of the documents
// and events written as its own instead of copying them (the memory
// store's): a recompute builds each clock's encoding and event only to
// write them.
type ownedWriter interface {
	PutOwned(ctx context.Context, d storage.Document, expected int64) error
	AppendOwned(ctx context.Context, events ...itsm.Event) error
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
		shared, _ := e.backend.(sharedQuerier)
		for {
			var page storage.Page
			var err error
			if shared != nil && docs {
				page, err = shared.QueryShared(ctx, q) // only decoded: the store's own documents serve
			} else {
				page, err = e.backend.Query(ctx, q)
			}
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
// clock whose value changes is rewritten (rewrite). The unit's events are
// appended together once its clocks are written, and what it did is
// reported to Telemetry once the unit is committed (observeUnit).
func (e *Engine) recomputeUnit(ctx context.Context, tenant string, defs map[string]*runDef, reasons map[string]string, unit []recomputeTarget) (int, error) {
	var (
		events  []itsm.Event
		reached []slaReached
		attempt int
	)
	scratch := new(SLAClock)
	ctx, done := e.observeUnit(ctx, "recompute")
	wrote, err := e.retryUnit(ctx, func(tx storage.Tx, try int) (int, error) {
		attempt = try
		owned, _ := tx.(ownedWriter)
		events, reached = make([]itsm.Event, 0, len(unit)), reached[:0] // a store may keep the last attempt's
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
				if doc.Data == nil || try > 0 {
					var err error
					doc, err = tx.Get(ctx, ClockKind, t.id)
					if errors.Is(err, itsm.ErrNotFound) {
						continue
					}
					if err != nil {
						return 0, err
					}
				}
				rw := clockRewrite{rd: defs[t.def], hist: hist, reason: reasons[t.def], tenant: tenant, now: now, want: scratch}
				ev, ok, err := e.rewrite(ctx, tx, doc, &rw)
				if err != nil {
					return 0, err
				}
				if ok {
					events = append(events, ev)
					reached = rw.raised(reached)
					wrote++
				}
			}
		}
		switch {
		case len(events) == 0:
			return wrote, nil
		case owned != nil:
			return wrote, owned.AppendOwned(ctx, events...)
		}
		return wrote, tx.Append(ctx, events...)
	})
	done(attempt+1, err)
	if err == nil && e.sla != nil {
		for _, r := range reached {
			e.sla.SLAReached(ctx, r.def, r.threshold)
		}
	}
	return wrote, err
}

// clockRewrite is what rewrite needs besides the stored clock: the
// definition and the record's history to replay, the event's reason,
// tenant and time, and want, the unit's scratch clock the new value is
// computed in (encoded at once, so one serves the whole unit). rewrite
// keeps in it what the stored and the new clock hold that Telemetry is
// told of.
type clockRewrite struct {
	rd          *runDef
	hist        []itsm.Event
	reason      string
	tenant      string
	now         time.Time
	want        *SLAClock
	def         string // the clock's definition
	had         []int  // the stored clock's warnings
	wasBreached bool
	warnings    []int // the rewritten clock's warnings
	breachedNow bool
}

// raised appends to out the warnings and the breach the rewritten clock
// has that the stored one had not, as Sync notes a replay's (raised).
func (rw *clockRewrite) raised(out []slaReached) []slaReached {
	for _, w := range rw.warnings {
		if !slices.Contains(rw.had, w) {
			out = append(out, slaReached{rw.def, w})
		}
	}
	if rw.breachedNow && !rw.wasBreached {
		out = append(out, slaReached{rw.def, 0})
	}
	return out
}

// headPlaceholder stands in for the hash of a rewritten clock's event
// while the clock is encoded: as long as a hex SHA-256, which needs no
// escaping, so the hash is written over it once the event is sealed.
var headPlaceholder = strings.Repeat("0", 64)

// rewrite writes a running or paused clock as the replay of its record's
// history under rw.rd gives it: the lighter write path of a recompute. A
// clock is an engine-owned record whose value follows from its record's
// history, so this path skips what a command of Records does for a
// person's edit (a second decode of the stored clock, the edit function,
// the lifecycle's guards, which clocks have none): it authorises the
// engine's actor for the event on the clock, computes the clock, encodes
// it once, lists the changed fields as Records does
// (storage.Collection.Rewrite, on the members the decode and the encode
// split) and buffers the clock in tx, returning its hash-chained event for
// the unit to append. A clock whose value is unchanged, or that is no
// longer running or paused, is not written (false).
func (e *Engine) rewrite(ctx context.Context, tx storage.Tx, before storage.Document, rw *clockRewrite) (itsm.Event, bool, error) {
	rd, last := rw.rd, rw.hist[len(rw.hist)-1]
	var stored *SLAClock // the clock as stored: decoded for this call, never changed
	doc, changes, head, err := e.clocks.Collection().Rewrite(before, func(s *SLAClock) (*SLAClock, error) {
		if s.State != StageInProgress && s.State != StagePaused {
			return nil, nil // stopped meanwhile
		}
		stored = s
		tl, err := replay(rd.def, rd.cal, rw.hist)
		if err != nil {
			return nil, fmt.Errorf("sla %s on %s %s: %w", rd.id, last.Kind, last.RecordID, err)
		}
		want := rw.want
		*want = *s // s is this call's own: want may share its slices
		if !tl.started {
			// Under the new rules the record never had this clock: it is
			// canceled where it stands, its history kept.
			want.State, want.StopTime = StageCanceled, tl.lastAt.UTC()
			want.RunningSince, want.PausedAt, want.DueAt, want.NextCheckAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		} else {
			at := tl.lastAt
			if tl.stage == StageInProgress && s.EvaluatedAt.After(at) && s.ResetCount == tl.resets {
				at = s.EvaluatedAt // do not take back warnings Check already raised
			}
			want.Warnings = nil
			fill(want, rd.def, last, tl)
			if err := settle(want, rd.def, rd.cal, at); err != nil {
				return nil, fmt.Errorf("sla %s on %s %s: %w", rd.id, last.Kind, last.RecordID, err)
			}
		}
		want.DefinitionVersion, want.CalendarVersion = rd.version, rd.calVersion
		at := rw.now
		if at.Before(s.UpdatedAt) {
			at = s.UpdatedAt // never write time backwards
		}
		want.Version, want.Head, want.UpdatedAt = s.Version+1, headPlaceholder, at
		return want, want.Validate()
	})
	if err != nil {
		return itsm.Event{}, false, err
	}
	if len(changes) == 0 {
		return itsm.Event{}, false, nil
	}
	want := rw.want
	path := clockPath(stored.State, want.State)
	action, name := itsm.ActionUpdate, itsm.EventUpdate
	switch len(path) {
	case 0:
	case 1:
		action, name = path[0], path[0]
	default: // a running or paused clock reaches every stage in one event
		return itsm.Event{}, false, itsm.Invalidf("sla engine: clock %s cannot go from %s to %s in one event", stored.ID, stored.State, want.State)
	}
	if err := itsm.Authorize(ctx, e.reg.auth, ClockKind, action, stored); err != nil {
		return itsm.Event{}, false, err
	}
	actor, _ := itsm.ActorFrom(ctx)
	ev := itsm.Event{Name: name, From: stored.State, To: want.State, Tenant: rw.tenant, ID: itsm.NewID(),
		Kind: ClockKind, RecordID: stored.ID, Number: stored.Number, RecordVersion: want.Version,
		Actor: actor.ID, At: want.UpdatedAt, RecordedAt: rw.now, Reason: rw.reason, Changes: changes}
	itsm.Seal(&ev, stored.Head)
	if len(head) != len(ev.Hash)+2 {
		return itsm.Event{}, false, itsm.Invalidf("sla engine: clock %s: the encoded clock has no head member of its own", stored.ID)
	}
	copy(head[1:], ev.Hash)
	put := tx.Put
	if owned, ok := tx.(ownedWriter); ok {
		put = owned.PutOwned // doc is this call's own, never read again
	}
	if err := put(ctx, doc, stored.Version); err != nil {
		return itsm.Event{}, false, err
	}
	rw.def, rw.had, rw.wasBreached = want.DefinitionID, stored.Warnings, stored.Breached
	rw.warnings, rw.breachedNow = want.Warnings, want.Breached
	return ev, true, nil
}

// observeUnit tells Telemetry (EngineConfig.Telemetry) of one unit of
// work of a recompute as one command on clocks whose event is event: the
// live path's clock writes are each a command of Records, which reports
// them; a bulk unit, which writes up to recomputeBatch clocks without
// Records, is reported once, with the attempts it took and its outcome,
// and its store calls run under the context Telemetry returns (nested in
// the command's span). The warnings and breaches its clocks reach are
// told to an SLAObserver once the unit is committed, as Sync's are.
func (e *Engine) observeUnit(ctx context.Context, event string) (context.Context, func(attempts int, err error)) {
	if e.observer == nil {
		return ctx, func(int, error) {}
	}
	ctx, done := e.observer.Command(ctx, storage.CommandInfo{Kind: ClockKind, Event: event})
	return ctx, func(attempts int, err error) { done(storage.CommandResult{Attempts: attempts, Err: err}) }
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
