package improvement

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// How FuzzApplySplit's events reach the engines, bits of its mode.
const (
	// splitIntern gives every event of a record one shared id string, as a
	// memory store's log does, so both engines find records by the address
	// of their id (seenIDs) as well as by content.
	splitIntern uint8 = 1 << iota
	// splitClone gives the second half fed to the restarted engine fresh
	// copies of its ids and change values: none is at an address the
	// engine saw before, so records are found through the content index.
	splitClone
	// splitOneByOne feeds the split engine one event per Apply.
	splitOneByOne
)

// splitSeeds are logs where records created before a split point are
// changed after it: reassignment, resolution, reopening, an SLA clock
// completing and restarting, a change linked by an incident and closed,
// canceled or relinked, a request fulfilled with a clock on it, a slot
// freed and taken by another id.
var splitSeeds = []string{
	strings.Join([]string{
		`incident|create|new|service_id="svc";assignment_group="g1";priority=2`,
		`task_sla|create|in_progress|task_id="r-incident";metric="resolution"`,
		`incident|start|in_progress|assigned_to="x"`,
		`incident|update||assignment_group="g2"`,
		`incident|resolve|resolved|`,
		`task_sla|complete|completed|`,
		`incident|reopen|in_progress|`,
		`task_sla|restart|in_progress|`,
		`incident|update||priority=1;assignment_group="g3"`,
		`incident|resolve|resolved|`,
		`task_sla|complete|completed|has_breached=true`,
		`incident|close|closed|`,
		`task_sla|update||stage="completed"`,
	}, "\n"),
	strings.Join([]string{
		`change|create|new|type="emergency";service_id="svc"`,
		`incident|create|new|service_id="svc";caused_by_change_id="r-change"`,
		`request|create|submitted|service_id="svc";assignment_group="desk"`,
		`task_sla|create|in_progress|task_id="r-request"`,
		`change|update||review_outcome="successful"`,
		`change|close|closed|`,
		`incident|update||caused_by_change_id="other"`,
		`incident|update||caused_by_change_id="r-change"`,
		`task_sla|complete|completed|`,
		`request|fulfil|closed_complete|`,
		`incident|cancel|canceled|`,
		`change|create|new|`,
		`change|cancel|canceled|`,
	}, "\n"),
	// The canceled change's slot goes to the id an incident links, and the
	// change is created again: its id string, seen before the cancel, must
	// not find the slot's new id.
	strings.Join([]string{
		`change|create|new|`,
		`change|cancel|canceled|`,
		`incident|create|new|caused_by_change_id="xxxxxxxx"`,
		`change|create|new|type="emergency"`,
		`change|close|closed|`,
	}, "\n"),
}

// FuzzApplySplit checks that applying a log in one go and applying it in
// two halves across a checkpoint and a restart (Checkpoint, then New on
// the same store) give identical states. After the restart the engine's
// ids are decoded strings, so the records the second half names come back
// through strings at other addresses; the mode varies whether the events
// share one id string per record, whether the second half carries fresh
// copies of its strings, and how many events each Apply gets. The split
// engine is checkpointed and reopened once more at the end, so what the
// last events changed must survive a checkpoint too.
func FuzzApplySplit(f *testing.F) {
	for i, in := range append(slices.Clone(applySeeds), splitSeeds...) {
		n := uint16(len(parseEvents(in)))
		for j, k := range []uint16{0, 1, n / 2, n - 1, n} {
			f.Add(in, k, uint8(i+j)%8)
		}
	}
	f.Fuzz(checkSplit)
}

// checkSplit applies the log in to one engine in one go and to another in
// two halves, split after split%(events+1) events, across a checkpoint and
// a restart, fed as mode says; both must end in the same state.
func checkSplit(t *testing.T, in string, split uint16, mode uint8) {
	ctx := context.Background()
	cfg := Config{Calendar: halfDay{}}
	evs := parseEvents(in)
	if mode&splitIntern != 0 {
		internIDs(evs)
	}
	k := int(split) % (len(evs) + 1)
	show := func(what string) string {
		return fmt.Sprintf("%s: input %q, split after %d of %d events, mode %d", what, in, k, len(evs), mode)
	}

	whole, err := NewDetached(cfg)
	require.NoError(t, err)
	whole.Apply(evs)

	store := memory.New()
	first, err := New(ctx, store, cfg)
	require.NoError(t, err)
	feed(first, evs[:k], mode)
	require.NoError(t, first.Checkpoint(ctx), show("checkpoint"))
	split2, err := New(ctx, store, cfg)
	require.NoError(t, err, show("reopen"))
	require.Equal(t, first.Seq(), split2.Seq(), show("seq after reopening"))
	require.Equal(t, StateOf(first), StateOf(split2), show("state after reopening"))
	rest := evs[k:]
	if mode&splitClone != 0 {
		rest = cloneEvents(rest)
	}
	feed(split2, rest, mode)

	require.Equal(t, whole.Seq(), split2.Seq(), show("seq"))
	require.Equal(t, StateOf(whole), StateOf(split2), show("state"))

	require.NoError(t, split2.Checkpoint(ctx), show("final checkpoint"))
	again, err := New(ctx, store, cfg)
	require.NoError(t, err, show("final reopen"))
	require.Equal(t, StateOf(whole), StateOf(again), show("state after the final reopen"))
}

// feed applies evs to e in one Apply, or one event per Apply when mode
// says so.
func feed(e *Engine, evs []itsm.Event, mode uint8) {
	if mode&splitOneByOne == 0 {
		e.Apply(evs)
		return
	}
	for i := range evs {
		e.Apply(evs[i : i+1])
	}
}

// internIDs gives every event of a record the id string of its first
// event.
func internIDs(evs []itsm.Event) {
	ids := map[string]string{}
	for i := range evs {
		id, ok := ids[evs[i].RecordID]
		if !ok {
			id = evs[i].RecordID
			ids[id] = id
		}
		evs[i].RecordID = id
	}
}

// cloneEvents copies evs with fresh copies of every string the engine
// reads, so none is at an address it saw before.
func cloneEvents(evs []itsm.Event) []itsm.Event {
	out := make([]itsm.Event, len(evs))
	for i, ev := range evs {
		ev.Kind, ev.RecordID, ev.Name, ev.To = strings.Clone(ev.Kind), strings.Clone(ev.RecordID), strings.Clone(ev.Name), strings.Clone(ev.To)
		cs := make([]itsm.FieldChange, len(ev.Changes))
		for j, c := range ev.Changes {
			c.Field, c.From, c.To = strings.Clone(c.Field), strings.Clone(c.From), strings.Clone(c.To)
			cs[j] = c
		}
		ev.Changes = cs
		out[i] = ev
	}
	return out
}
