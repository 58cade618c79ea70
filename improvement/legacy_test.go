package improvement

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// fixedLog is a small deterministic log (fixed ids and times) touching
// every kind of fact the engine keeps: incidents reassigned, held,
// reopened, canceled and linked to changes, their SLA clocks, changes and
// requests. testdata/checkpoint_v1.json holds the format 1 checkpoint the
// previous engine saved after its first half.
func fixedLog() []itsm.Event {
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var evs []itsm.Event
	add := func(min int, kind, id, name, to string, chs ...string) {
		ev := itsm.Event{Kind: kind, RecordID: id, Name: name, To: to, At: t0.Add(time.Duration(min) * time.Minute)}
		for i := 0; i+1 < len(chs); i += 2 {
			ev.Changes = append(ev.Changes, itsm.FieldChange{Field: chs[i], To: chs[i+1]})
		}
		evs = append(evs, ev)
	}
	q := strconv.Quote
	for c := 0; c < 4; c++ {
		id := fmt.Sprintf("chg-%d", c)
		typ := []string{"normal", "emergency"}[c%2]
		add(c*90, "change", id, itsm.EventCreate, "new", "type", q(typ), "service_id", q("svc"+strconv.Itoa(c%3)))
		if c == 3 {
			add(c*90+600, "change", id, "cancel", "canceled")
			continue
		}
		add(c*90+500, "change", id, itsm.EventUpdate, "", "review_outcome", q([]string{"successful", "failed"}[c%2]))
		add(c*90+700, "change", id, "close", "closed")
	}
	for i := 0; i < 40; i++ {
		inc, sla, m := fmt.Sprintf("inc-%d", i), fmt.Sprintf("sla-%d", i), i*37
		fields := []string{"service_id", q("svc" + strconv.Itoa(i%3)), "assignment_group", q("g" + strconv.Itoa(i%2)), "priority", strconv.Itoa(1 + i%4)}
		if i%7 == 0 {
			fields = append(fields, "caused_by_change_id", q(fmt.Sprintf("chg-%d", i%4)))
		}
		add(m, "incident", inc, itsm.EventCreate, "new", fields...)
		add(m, "task_sla", sla, itsm.EventCreate, "in_progress", "task_id", q(inc), "has_breached", "false")
		if i%11 == 5 {
			add(m+20, "incident", inc, "cancel", "canceled")
			add(m+20, "task_sla", sla, "cancel", "cancelled")
			continue
		}
		add(m+15, "incident", inc, "start", "in_progress", "assigned_to", q("ann"))
		if i%5 == 1 {
			add(m+30, "incident", inc, itsm.EventUpdate, "", "assignment_group", q("g9"))
		}
		if i%6 == 2 {
			add(m+40, "incident", inc, "hold", "on_hold")
			add(m+40, "task_sla", sla, "pause", "paused")
			add(m+200, "incident", inc, "resume", "in_progress")
			add(m+200, "task_sla", sla, "resume", "in_progress")
		}
		add(m+300, "incident", inc, "resolve", "resolved")
		add(m+300, "task_sla", sla, "complete", "completed", "has_breached", strconv.FormatBool(i%3 == 0))
		if i%8 == 3 {
			add(m+400, "incident", inc, "reopen", "in_progress")
			add(m+400, "task_sla", sla, "restart", "in_progress")
			add(m+500, "incident", inc, "resolve", "resolved")
			add(m+500, "task_sla", sla, "complete", "completed", "has_breached", "true")
		}
		if i%4 != 0 {
			add(m+900, "incident", inc, "close", "closed")
		}
	}
	for r := 0; r < 6; r++ {
		id := fmt.Sprintf("req-%d", r)
		add(r*100, "request", id, itsm.EventCreate, "submitted", "service_id", q("svc0"), "priority", "3")
		add(r*100+800, "request", id, "close", []string{"closed_complete", "closed_rejected"}[r%2])
	}
	// In log order: by time, creations first within a minute.
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].At.Before(evs[j-1].At); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	for i := range evs {
		evs[i].Seq = int64(i + 1)
	}
	return evs
}

// TestReadsCheckpointFormat1 resumes from a checkpoint the previous engine
// (format 1: records in maps) saved after the first half of fixedLog, then
// applies the second half: every KPI by every slice and period equals a
// fresh engine's over the whole log.
func TestReadsCheckpointFormat1(t *testing.T) {
	ctx := context.Background()
	evs := fixedLog()
	raw, err := os.ReadFile("testdata/checkpoint_v1.json")
	require.NoError(t, err)
	var docs []storage.Document
	require.NoError(t, json.Unmarshal(raw, &docs))
	store := memory.New()
	old, err := New(ctx, store, Config{Calendar: halfDay{}}) // declares the kind
	require.NoError(t, err)
	require.Zero(t, old.Seq())
	require.NoError(t, store.Update(ctx, func(tx storage.Tx) error {
		for _, d := range docs {
			d.Version = 1
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	resumed, err := New(ctx, store, Config{Calendar: halfDay{}})
	require.NoError(t, err)
	half := resumed.Seq()
	require.Equal(t, int64(len(evs)/2), half, "the checkpoint was saved after the first half")
	require.NoError(t, resumed.st.checkIndexes())
	resumed.Apply(evs)
	fresh, err := NewDetached(Config{Calendar: halfDay{}})
	require.NoError(t, err)
	fresh.Apply(evs)
	for _, k := range KPIs() {
		if k == MTTRFirst {
			continue // format 1 kept no first resolutions: they start with the upgrade
		}
		for _, by := range [][]Dimension{nil, {ByService}, {ByGroup}, {ByPriority}, {ByService, ByGroup, ByPriority}} {
			if k == MTBF && len(by) > 0 && (len(by) > 1 || by[0] != ByService) {
				continue
			}
			for _, p := range []Period{PeriodNone, PeriodDay} {
				q := Query{KPI: k, By: by, Period: p}
				a, err := fresh.Compute(q)
				require.NoError(t, err)
				b, err := resumed.Compute(q)
				require.NoError(t, err)
				require.Equal(t, a, b, q.String())
			}
		}
	}
	// The next checkpoint is written in the current format and reads back.
	require.NoError(t, resumed.Checkpoint(ctx))
	again, err := New(ctx, store, Config{Calendar: halfDay{}})
	require.NoError(t, err)
	require.Equal(t, resumed.Seq(), again.Seq())
}

// A format 1 counter beyond what format 2 holds is a corrupt checkpoint,
// not a silently wrapped count.
func TestFormat1CountBeyond32BitsIsRefused(t *testing.T) {
	v := &stateV1{Keys: []bucketKey{{}}, Counters: []countersV1{{AckN: 1 << 40}}}
	_, err := v.convert(nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "beyond the 32-bit counters")
}
