package design

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// MaxPercentageIDs bounds the record ids one SLAPercentages call takes.
const MaxPercentageIDs = 10_000

// percentageChunk is how many record ids one clock query names: well
// inside storage.MaxInValues, and few enough that a page of their clocks
// stays small.
const percentageChunk = 250

// SLAPercentages returns, for each record of kind among ids that has a
// clock in progress or paused, the largest percentage of its target any of
// those clocks has used at now, evaluated as Check evaluates it: business
// time on the definition's calendar, rounded to hundredths, a paused clock
// counting the time it used before it paused, and over 100 once breached.
// Records whose clocks are all completed or canceled, and unknown ids, are
// absent from the map. It reads the clocks with one indexed query per 250
// ids (task_id IN ...), never one per record, decodes only the running
// ones' elapsed time and target, and writes nothing. It is the operation
// pillar's SLAProgress, which escalation by SLA percentage uses.
//
// A nil context, an empty kind, a kind no definition runs on, an empty id
// or more than MaxPercentageIDs ids are refused with itsm.ErrInvalid, as
// is a clock of a definition this engine does not run (Check refuses it
// too).
func (e *Engine) SLAPercentages(ctx context.Context, kind string, ids []string, now time.Time) (map[string]float64, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("sla engine: nil context")
	}
	verr := &itsm.ValidationError{Kind: ClockKind}
	switch {
	case kind == "":
		verr.Add("kind", "is required")
	case len(e.byKind[kind]) == 0 && !e.runsOn(ctx, kind):
		verr.Add("kind", fmt.Sprintf("no definition runs on %q", kind))
	}
	if len(ids) > MaxPercentageIDs {
		verr.Add("ids", fmt.Sprintf("%d ids, at most %d", len(ids), MaxPercentageIDs))
	} else if i := slices.Index(ids, ""); i >= 0 {
		verr.Add(fmt.Sprintf("ids[%d]", i), "is empty")
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(ids))
	uniq := slices.Clone(ids)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	for chunk := range slices.Chunk(uniq, percentageChunk) {
		vals := make([]storage.Value, len(chunk))
		for i, id := range chunk {
			vals[i] = storage.String(id)
		}
		// Only task_id is filtered in the store, so the query always runs
		// on its index; a record has one clock per definition at most, and
		// the kind and stage are checked here on the indexed fields, before
		// any clock is decoded.
		q := storage.Query{Kind: ClockKind, Filters: []storage.Filter{storage.In("task_id", vals...)}, Limit: storage.MaxLimit}
		for {
			page, err := e.backend.Query(ctx, q)
			if err != nil {
				return nil, err
			}
			for _, d := range page.Docs {
				if len(d.Fields) <= max(e.fState, e.fDefinition, e.fTaskKind, e.fTaskID) {
					return nil, itsm.Invalidf("sla engine: clock %s came back without its indexed fields", d.ID)
				}
				state := d.Fields[e.fState].Str()
				if d.Fields[e.fTaskKind].Str() != kind || state != StageInProgress && state != StagePaused {
					continue
				}
				pct, err := e.percentageOf(ctx, tenant, d, state, now)
				if err != nil {
					return nil, err
				}
				id := d.Fields[e.fTaskID].Str()
				if cur, ok := out[id]; !ok || pct > cur {
					out[id] = pct
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

// runsOn reports whether a definition kept in the tenant of ctx, as last
// loaded, runs on kind.
func (e *Engine) runsOn(ctx context.Context, kind string) bool {
	tenant, err := storage.TenantOf(ctx, false)
	if err != nil {
		return false
	}
	e.reg.mu.RLock()
	defer e.reg.mu.RUnlock()
	set := e.reg.sets[tenant]
	return set != nil && len(set.byKind[kind]) > 0
}

// clockProgress is the part of a stored clock its percentage needs
// besides the indexed fields: decoding only these skips the clock's other
// times and its warnings.
type clockProgress struct {
	Target        time.Duration `json:"target"`
	RunningSince  time.Time     `json:"running_since,omitzero"`
	ElapsedBefore time.Duration `json:"elapsed_before"`
	// the versions the clock runs under, and its calendar's name
	DefinitionVersion int64  `json:"definition_version,omitempty"`
	CalendarVersion   int64  `json:"calendar_version,omitempty"`
	Calendar          string `json:"calendar,omitempty"`
}

// percentageOf evaluates a stored clock in state at now as Check would, on
// its definition's calendar.
func (e *Engine) percentageOf(ctx context.Context, tenant string, d storage.Document, state string, now time.Time) (float64, error) {
	var p clockProgress
	if err := json.Unmarshal(d.Data, &p); err != nil {
		return 0, fmt.Errorf("%s %s: stored data is corrupt: %w: %v", ClockKind, d.ID, itsm.ErrInvalid, err)
	}
	if p.Target <= 0 {
		return 0, itsm.Invalidf("sla engine: clock %s has no target", d.ID)
	}
	c := SLAClock{Record: itsm.Record{State: state}, Target: p.Target, RunningSince: p.RunningSince, ElapsedBefore: p.ElapsedBefore,
		DefinitionID: d.Fields[e.fDefinition].Str(), DefinitionVersion: p.DefinitionVersion, CalendarVersion: p.CalendarVersion, Calendar: p.Calendar}
	_, cal, err := e.clockRules(ctx, e.backend, tenant, &c)
	if err != nil {
		return 0, err
	}
	elapsed, err := c.elapsedAt(cal, now)
	if err != nil {
		return 0, fmt.Errorf("sla engine: clock %s: %w", d.ID, err)
	}
	return percentage(elapsed, c.Target), nil
}
