package design

import (
	"context"
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
// ids (task_id IN ...), never one per record, and writes nothing. It is
// the operation pillar's SLAProgress, which escalation by SLA percentage
// uses.
//
// A nil context, an empty kind, a kind no definition runs on, an empty id
// or more than MaxPercentageIDs ids are refused with itsm.ErrInvalid.
func (e *Engine) SLAPercentages(ctx context.Context, kind string, ids []string, now time.Time) (map[string]float64, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("sla engine: nil context")
	}
	verr := &itsm.ValidationError{Kind: ClockKind}
	switch {
	case kind == "":
		verr.Add("kind", "is required")
	case len(e.byKind[kind]) == 0:
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
		// the kind and stage are checked here.
		clocks, err := e.clocks.All(ctx, storage.Query{
			Filters: []storage.Filter{storage.In("task_id", vals...)},
			Limit:   storage.MaxLimit,
		})
		if err != nil {
			return nil, err
		}
		for _, c := range clocks {
			if c.TaskKind != kind || c.State != StageInProgress && c.State != StagePaused || c.Target <= 0 {
				continue
			}
			pct, err := e.percentageAt(c, now)
			if err != nil {
				return nil, err
			}
			if cur, ok := out[c.TaskID]; !ok || pct > cur {
				out[c.TaskID] = pct
			}
		}
	}
	return out, nil
}

// percentageAt evaluates a clock's percentage at now as Check would, on
// its definition's calendar.
func (e *Engine) percentageAt(c *Clock, now time.Time) (float64, error) {
	di := slices.IndexFunc(e.defs, func(d Definition) bool { return d.ID == c.DefinitionID })
	if di < 0 {
		return 0, itsm.Invalidf("sla engine: clock %s names unknown definition %q", c.ID, c.DefinitionID)
	}
	elapsed, err := c.elapsedAt(e.calendarOf(&e.defs[di]), now)
	if err != nil {
		return 0, fmt.Errorf("sla engine: clock %s: %w", c.ID, err)
	}
	return percentage(elapsed, c.Target), nil
}
