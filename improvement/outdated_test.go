package improvement

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
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
// requests. testdata/checkpoint_v1.json and checkpoint_v2.json hold the
// format 1 and format 2 checkpoints earlier engines saved after its first
// half.
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

// reopenAfterClose extends evs with the reopen, an hour after the log's
// last event, of the first incident closed in evs, and its second
// resolution: an engine that forgot the incident when it closed applies
// neither.
func reopenAfterClose(t *testing.T, evs []itsm.Event) []itsm.Event {
	t.Helper()
	last := evs[len(evs)-1]
	for _, ev := range evs {
		if ev.Kind == "incident" && ev.To == "closed" {
			more := []itsm.Event{
				{Kind: "incident", RecordID: ev.RecordID, Name: "reopen", To: "in_progress", At: last.At.Add(time.Hour)},
				{Kind: "incident", RecordID: ev.RecordID, Name: "resolve", To: "resolved", At: last.At.Add(3 * time.Hour)},
			}
			for i := range more {
				more[i].Seq = last.Seq + int64(i) + 1
			}
			return append(slices.Clone(evs), more...)
		}
	}
	t.Fatal("no incident closed")
	return nil
}

// TestOutdatedCheckpointIsRecomputed: the checkpoints the previous engines
// saved after the first half of fixedLog (format 1, records in maps;
// format 2, records in tables; both forgot closed incidents) are not
// resumed from, which would miss a reopen after close, the first
// resolutions and the percentiles' samples: New starts over at the start
// of the log, Sync recomputes every KPI as a fresh engine has them, and
// its checkpoint replaces the old one in the current format.
func TestOutdatedCheckpointIsRecomputed(t *testing.T) {
	tests := []struct {
		fixture string
		format  int
	}{
		{"testdata/checkpoint_v1.json", 1},
		{"testdata/checkpoint_v2.json", 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("format ", tt.format), func(t *testing.T) {
			ctx := context.Background()
			half := len(fixedLog()) / 2
			evs := reopenAfterClose(t, fixedLog())
			raw, err := os.ReadFile(tt.fixture)
			require.NoError(t, err)
			var docs []storage.Document
			require.NoError(t, json.Unmarshal(raw, &docs))
			store := memory.New()
			_, err = New(ctx, store, Config{Calendar: halfDay{}}) // declares the kind
			require.NoError(t, err)
			require.NoError(t, store.Update(ctx, func(tx storage.Tx) error {
				for _, d := range docs {
					d.Version = 1
					if err := tx.Put(ctx, d, 0); err != nil {
						return err
					}
				}
				return tx.Append(ctx, evs...)
			}))
			meta := func() snapshotMeta {
				d, err := store.Get(ctx, CheckpointKind, "kpi")
				require.NoError(t, err)
				var m snapshotMeta
				require.NoError(t, json.Unmarshal(d.Data, &m))
				return m
			}
			require.Equal(t, snapshotMeta{Format: tt.format, Seq: int64(half)}, snapshotMeta{Format: meta().Format, Seq: meta().Seq},
				"the fixture is the old engine's checkpoint after the first half")

			resumed, err := New(ctx, store, Config{Calendar: halfDay{}})
			require.NoError(t, err)
			require.Zero(t, resumed.Seq(), "an outdated checkpoint is not resumed from")
			n, err := resumed.Sync(ctx)
			require.NoError(t, err)
			require.Equal(t, len(evs), n, "every event is applied again")
			fresh, err := NewDetached(Config{Calendar: halfDay{}})
			require.NoError(t, err)
			fresh.Apply(evs)
			require.Equal(t, StateOf(fresh), StateOf(resumed))
			for _, k := range KPIs() {
				for _, by := range [][]Dimension{nil, {ByService}, {ByGroup}, {ByPriority}, {ByService, ByGroup, ByPriority}} {
					if k == MTBF && len(by) > 0 && (len(by) > 1 || by[0] != ByService) {
						continue
					}
					for _, p := range []Period{PeriodNone, PeriodDay} {
						q := Query{KPI: k, By: by, Period: p, Percentiles: k.HasPercentiles()}
						a, err := fresh.Compute(q)
						require.NoError(t, err)
						b, err := resumed.Compute(q)
						require.NoError(t, err)
						require.Equal(t, a, b, q.String())
					}
				}
			}

			// Sync replaced the old checkpoint (no conflict with it) by
			// one in the current format, which the next engine resumes.
			require.Equal(t, snapshotFormat, meta().Format)
			require.Equal(t, int64(len(evs)), meta().Seq)
			again, err := New(ctx, store, Config{Calendar: halfDay{}})
			require.NoError(t, err)
			require.Equal(t, StateOf(resumed), StateOf(again))
		})
	}
}

// TestOutdatedCheckpointWouldMissTheReopen shows what the recomputation
// avoids: an engine resumed from what the old engines kept (incidents
// forgotten once closed) misses the reopen after close that
// reopenAfterClose adds.
func TestOutdatedCheckpointWouldMissTheReopen(t *testing.T) {
	log := fixedLog()
	evs := reopenAfterClose(t, log)
	fresh, err := NewDetached(Config{Calendar: halfDay{}})
	require.NoError(t, err)
	fresh.Apply(evs)
	old, err := NewDetached(Config{Calendar: halfDay{}})
	require.NoError(t, err)
	old.Apply(log)
	// What the old engines kept: no closed incident.
	for s := range old.st.Incidents.Rows {
		if st := old.st.Incidents.Rows[s].State; st == stClosed || st == stCanceled {
			old.st.Incidents.remove(int32(s))
		}
	}
	old.Apply(evs[len(log):])
	q := Query{KPI: ReopenRate}
	a, err := fresh.Compute(q)
	require.NoError(t, err)
	b, err := old.Compute(q)
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "the reopen after close is lost with the closed incident")
}

// TestUnknownCheckpointFormatIsRefused: a format this version does not
// know (a newer engine's) is not taken for an outdated one and recomputed
// over, which would overwrite the newer engine's checkpoint with the older
// layout.
func TestUnknownCheckpointFormatIsRefused(t *testing.T) {
	ctx := context.Background()
	for _, format := range []int{0, 4, 99} {
		t.Run(fmt.Sprint(format), func(t *testing.T) {
			store := memory.New()
			_, err := New(ctx, store, Config{})
			require.NoError(t, err)
			data, err := json.Marshal(snapshotMeta{Format: format, Seq: 5})
			require.NoError(t, err)
			require.NoError(t, store.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(ctx, storage.Document{Kind: CheckpointKind, ID: "kpi", Version: 1, Data: data}, 0)
			}))
			_, err = New(ctx, store, Config{})
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
}
