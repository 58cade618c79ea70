package improvement_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// history generates the event log of a busy service desk: incidents with
// acknowledgements, reassignments, holds, reopenings, cancellations, links
// to changes, and their SLA clocks; changes of every type with outcomes;
// service requests. Events carry the Changes storage.Records would write.
// Records are hash-chained when seal is set.
type history struct {
	rng    *rand.Rand
	seal   bool
	events []itsm.Event
	heads  map[string]string
	vers   map[string]int64
	n      map[string]int64
}

func newHistory(seed uint64, seal bool) *history {
	return &history{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seal: seal,
		heads: map[string]string{}, vers: map[string]int64{}, n: map[string]int64{}}
}

var (
	genServices = []string{"email", "vpn", "erp", "crm", "wiki", "print", "hr", "payroll", "web", "dns"}
	genGroups   = []string{"desk", "network", "apps", "db", "infra", "security"}
)

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

func ch(field, to string) itsm.FieldChange { return itsm.FieldChange{Field: field, To: to} }

type rec struct {
	kind, id, number, state string
}

func (h *history) newRec(kind, prefix string) *rec {
	h.n[kind]++
	return &rec{kind: kind, id: itsm.NewID(), number: itsm.FormatNumber(prefix, h.n[kind])}
}

// emit adds one event of r at t; event "create" or "update" or a lifecycle
// event moving r to state to.
func (h *history) emit(r *rec, name, to string, t time.Time, changes ...itsm.FieldChange) {
	from := r.state
	if name == itsm.EventUpdate {
		to = from
	} else if to != from {
		changes = append(changes, itsm.FieldChange{Field: "state", From: q(from), To: q(to)})
	}
	slices.SortFunc(changes, func(a, b itsm.FieldChange) int {
		switch {
		case a.Field < b.Field:
			return -1
		case a.Field > b.Field:
			return 1
		}
		return 0
	})
	key := r.kind + "/" + r.id
	h.vers[key]++
	ev := itsm.Event{ID: r.id, Kind: r.kind, RecordID: r.id, Number: r.number, RecordVersion: h.vers[key],
		Name: name, From: from, To: to, Actor: "gen", At: t, RecordedAt: t, Changes: changes}
	if name == itsm.EventCreate {
		ev.From = ""
	}
	if h.seal {
		ev.ID = itsm.NewID()
		itsm.Seal(&ev, h.heads[key])
		h.heads[key] = ev.Hash
	}
	r.state = to
	h.events = append(h.events, ev)
}

func (h *history) minutes(lo, hi int) time.Duration {
	return time.Duration(lo+h.rng.IntN(hi-lo+1)) * time.Minute
}

func (h *history) chance(p float64) bool { return h.rng.Float64() < p }

// generate writes n incidents (with their SLA clocks), n/10 changes and n/5
// requests opened over the days after start, and returns the events in
// occurrence order.
func (h *history) generate(n int, start time.Time) []itsm.Event {
	var changeIDs []string
	for i := 0; i < n/10; i++ {
		c := h.newRec("change", "CHG")
		t := start.Add(time.Duration(i*10) * 3 * time.Minute)
		typ := []string{"standard", "normal", "normal", "emergency"}[h.rng.IntN(4)]
		h.emit(c, itsm.EventCreate, "new", t, ch("type", q(typ)), ch("service_id", q(genServices[h.rng.IntN(len(genServices))])),
			ch("assignment_group", q(genGroups[h.rng.IntN(len(genGroups))])), ch("risk", q("moderate")))
		changeIDs = append(changeIDs, c.id)
		if h.chance(0.05) {
			h.emit(c, "cancel", "canceled", t.Add(h.minutes(10, 600)))
			continue
		}
		for _, st := range []string{"assess", "authorize", "scheduled", "implement"} {
			t = t.Add(h.minutes(30, 600))
			h.emit(c, st, st, t)
		}
		t = t.Add(h.minutes(30, 240))
		outcome := []string{"successful", "successful", "successful", "failed", "backed_out"}[h.rng.IntN(5)]
		h.emit(c, "review", "review", t, ch("review_outcome", q(outcome)))
		h.emit(c, "close", "closed", t.Add(h.minutes(10, 600)))
	}
	for i := 0; i < n/5; i++ {
		r := h.newRec("request", "REQ")
		t := start.Add(time.Duration(i*5) * 3 * time.Minute)
		h.emit(r, itsm.EventCreate, "submitted", t, ch("catalog_item_id", q("laptop")),
			ch("service_id", q(genServices[h.rng.IntN(len(genServices))])), ch("priority", strconv.Itoa(1+h.rng.IntN(5))))
		t = t.Add(h.minutes(5, 600))
		h.emit(r, "work", "work_in_progress", t, ch("assignment_group", q(genGroups[h.rng.IntN(len(genGroups))])))
		end := []string{"closed_complete", "closed_complete", "closed_complete", "closed_incomplete", "closed_rejected"}[h.rng.IntN(5)]
		h.emit(r, "close", end, t.Add(h.minutes(30, 5000)))
	}
	for i := 0; i < n; i++ {
		h.incident(start.Add(time.Duration(i)*3*time.Minute), changeIDs)
	}
	slices.SortStableFunc(h.events, func(a, b itsm.Event) int { return a.At.Compare(b.At) })
	for i := range h.events {
		packChanges(&h.events[i])
	}
	return h.events
}

// packChanges lays out an event's changes as storage.Records writes them:
// every name and value of the event copied into one string, allocated when
// the event is written. Done in log order, it leaves the generated log in
// memory as a store that recorded it would hold it, not grouped by the
// incident that generated it, with names that are not shared constants.
func packChanges(ev *itsm.Event) {
	if len(ev.Changes) == 0 {
		return
	}
	size := 0
	for _, c := range ev.Changes {
		size += len(c.Field) + len(c.From) + len(c.To)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, c := range ev.Changes {
		sb.WriteString(c.Field)
		sb.WriteString(c.From)
		sb.WriteString(c.To)
	}
	all := sb.String()
	out := make([]itsm.FieldChange, len(ev.Changes))
	cut := func(n int) string { s := all[:n]; all = all[n:]; return s }
	for i, c := range ev.Changes {
		out[i] = itsm.FieldChange{Field: cut(len(c.Field)), From: cut(len(c.From)), To: cut(len(c.To)), Appended: c.Appended}
	}
	ev.Changes = out
}

func (h *history) incident(t time.Time, changeIDs []string) {
	inc := h.newRec("incident", "INC")
	sla := h.newRec("task_sla", "SLA")
	group := genGroups[h.rng.IntN(len(genGroups))]
	prio := 1 + h.rng.IntN(5)
	fields := []itsm.FieldChange{ch("short_description", q("something broke")), ch("service_id", q(genServices[h.rng.IntN(len(genServices))])),
		ch("assignment_group", q(group)), ch("priority", strconv.Itoa(prio)), ch("impact", "2"), ch("urgency", "2")}
	if len(changeIDs) > 0 && h.chance(0.05) {
		fields = append(fields, ch("caused_by_change_id", q(changeIDs[h.rng.IntN(len(changeIDs))])))
	}
	h.emit(inc, itsm.EventCreate, "new", t, fields...)
	h.emit(sla, itsm.EventCreate, "in_progress", t, ch("task_id", q(inc.id)), ch("has_breached", "false"))
	opened := t
	if h.chance(0.04) {
		t = t.Add(h.minutes(1, 60))
		h.emit(inc, "cancel", "canceled", t)
		h.emit(sla, "cancel", "cancelled", t)
		return
	}
	t = t.Add(h.minutes(1, 120))
	h.emit(inc, "start", "in_progress", t, ch("assigned_to", q("agent"+strconv.Itoa(h.rng.IntN(50)))))
	if h.chance(0.2) {
		t = t.Add(h.minutes(5, 120))
		next := genGroups[h.rng.IntN(len(genGroups))]
		if next != group {
			h.emit(inc, itsm.EventUpdate, "", t, ch("assignment_group", q(next)), ch("assigned_to", ""))
			group = next
		}
	}
	if h.chance(0.1) {
		t = t.Add(h.minutes(5, 60))
		h.emit(inc, itsm.EventUpdate, "", t, ch("priority", strconv.Itoa(1+h.rng.IntN(5))))
	}
	if h.chance(0.15) {
		t = t.Add(h.minutes(5, 120))
		h.emit(inc, "hold", "on_hold", t, ch("hold_reason", q("awaiting_caller")))
		h.emit(sla, "pause", "paused", t)
		t = t.Add(h.minutes(30, 2000))
		h.emit(inc, "resume", "in_progress", t, ch("hold_reason", ""))
		h.emit(sla, "resume", "in_progress", t)
	}
	reopens := 0
	if h.chance(0.1) {
		reopens = 1 + h.rng.IntN(2)
	}
	for {
		t = t.Add(h.minutes(10, 3000))
		breached := t.Sub(opened) > time.Duration(6-prio)*8*time.Hour
		h.emit(inc, "resolve", "resolved", t, ch("resolution_code", q("solved")))
		h.emit(sla, "complete", "completed", t, ch("has_breached", strconv.FormatBool(breached)))
		if reopens == 0 {
			break
		}
		reopens--
		t = t.Add(h.minutes(10, 1000))
		h.emit(inc, "reopen", "in_progress", t)
		h.emit(sla, "restart", "in_progress", t)
	}
	if h.chance(0.03) && len(changeIDs) > 0 {
		t = t.Add(h.minutes(1, 60))
		h.emit(inc, itsm.EventUpdate, "", t, ch("caused_by_change_id", q(changeIDs[h.rng.IntN(len(changeIDs))])))
	}
	if h.chance(0.9) {
		h.emit(inc, "close", "closed", t.Add(h.minutes(60, 4000)))
	}
}

// appendEvents writes events to the store's log in units of work of at most
// size events.
func appendEvents(t testing.TB, b storage.Backend, events []itsm.Event, size int) {
	t.Helper()
	for len(events) > 0 {
		n := min(size, len(events))
		chunk := events[:n]
		require.NoError(t, b.Update(context.Background(), func(tx storage.Tx) error {
			return tx.Append(context.Background(), chunk...)
		}))
		events = events[n:]
	}
}

func describe(evs []itsm.Event) string {
	kinds := map[string]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	return fmt.Sprintf("%d events %v", len(evs), kinds)
}
