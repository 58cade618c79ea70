package improvement_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// The record kinds below stand in for the other pillars' records: they carry
// the cross-pillar field names the KPI engine reads, and go through
// storage.Records like the real ones, so the engine sees real events.

type incident struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	ServiceID        string `json:"service_id,omitempty"`
	AssignmentGroup  string `json:"assignment_group,omitempty"`
	AssignedTo       string `json:"assigned_to,omitempty"`
	Priority         int    `json:"priority"`
	HoldReason       string `json:"hold_reason,omitempty"`
	CausedByChangeID string `json:"caused_by_change_id,omitempty"`
}

type change struct {
	itsm.Record
	Type          string `json:"type"`
	ServiceID     string `json:"service_id,omitempty"`
	ReviewOutcome string `json:"review_outcome,omitempty"`
}

type request struct {
	itsm.Record
	CatalogItemID string `json:"catalog_item_id"`
	ServiceID     string `json:"service_id,omitempty"`
}

// taskSLA is an SLA clock whose lifecycle states are its stages.
type taskSLA struct {
	itsm.Record
	TaskID      string `json:"task_id"`
	HasBreached bool   `json:"has_breached"`
}

type kit struct {
	store     storage.Backend
	clock     *itsm.FakeClock
	incidents *storage.Records[incident, *incident]
	changes   *storage.Records[change, *change]
	requests  *storage.Records[request, *request]
	slas      *storage.Records[taskSLA, *taskSLA]
}

var (
	agent = itsm.WithActor(context.Background(), itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	day0  = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday
)

func at(hhmm string) time.Time {
	d, err := time.ParseDuration(hhmm)
	if err != nil {
		panic(err)
	}
	return day0.Add(d)
}

func records[T any, P interface {
	*T
	itsm.Entity
}](t *testing.T, b storage.Backend, clock itsm.Clock, kind, prefix string, l *itsm.Lifecycle[P]) *storage.Records[T, P] {
	t.Helper()
	m, err := l.Compile()
	require.NoError(t, err)
	coll := storage.NewCollection[T, P](kind)
	require.NoError(t, coll.Register(context.Background(), b))
	r, err := storage.NewRecords(b, coll, m, storage.RecordsConfig{Prefix: prefix, Clock: clock})
	require.NoError(t, err)
	return r
}

func newKit(t *testing.T) *kit {
	t.Helper()
	return newKitOn(t, memory.New())
}

// newKitOn declares the stand-in kinds on b.
func newKitOn(t *testing.T, b storage.Backend) *kit {
	t.Helper()
	k := &kit{store: b, clock: itsm.NewFakeClock(day0)}
	k.incidents = records[incident](t, k.store, k.clock, "incident", "INC",
		itsm.NewLifecycle[*incident]("incident").Initial("new").States("in_progress", "on_hold", "resolved").
			Final("closed", "canceled").
			Event("start", "in_progress", "new").
			Event("hold", "on_hold", "new", "in_progress").
			Event("resume", "in_progress", "on_hold").
			Event("resolve", "resolved", "new", "in_progress", "on_hold").
			Event("reopen", "in_progress", "resolved").
			Event("close", "closed", "resolved").
			Event("cancel", "canceled", "new", "in_progress", "on_hold"))
	k.changes = records[change](t, k.store, k.clock, "change", "CHG",
		itsm.NewLifecycle[*change]("change").Initial("new").
			States("assess", "authorize", "scheduled", "implement", "review").Final("closed", "canceled").
			Event("assess", "assess", "new").Event("authorize", "authorize", "assess").
			Event("schedule", "scheduled", "authorize").Event("implement", "implement", "scheduled").
			Event("review", "review", "implement").Event("close", "closed", "review").
			Event("cancel", "canceled", "new", "assess", "authorize", "scheduled"))
	k.requests = records[request](t, k.store, k.clock, "request", "REQ",
		itsm.NewLifecycle[*request]("request").Initial("submitted").States("work_in_progress").
			Final("closed_complete", "closed_incomplete", "closed_rejected").
			Event("work", "work_in_progress", "submitted").
			Event("complete", "closed_complete", "work_in_progress").
			Event("fail", "closed_incomplete", "work_in_progress").
			Event("reject", "closed_rejected", "submitted"))
	k.slas = records[taskSLA](t, k.store, k.clock, "task_sla", "",
		itsm.NewLifecycle[*taskSLA]("task_sla").Initial("in_progress").States("paused", "completed").
			Final("cancelled").
			Event("pause", "paused", "in_progress").
			Event("resume", "in_progress", "paused").
			Event("complete", "completed", "in_progress", "paused").
			Event("restart", "in_progress", "completed").
			Event("cancel", "cancelled", "in_progress", "paused"))
	return k
}

func (k *kit) at(t *testing.T, when string) {
	t.Helper()
	k.clock.Set(at(when))
}

func (k *kit) raise(t *testing.T, when string, inc *incident) *incident {
	t.Helper()
	k.at(t, when)
	require.NoError(t, k.incidents.Create(agent, inc, storage.Command{}))
	return inc
}

func (k *kit) fire(t *testing.T, when, id, event string, mutate func(*incident) error) {
	t.Helper()
	k.at(t, when)
	_, err := k.incidents.Fire(agent, id, event, storage.Command{}, mutate)
	require.NoError(t, err)
}

func (k *kit) update(t *testing.T, when, id string, mutate func(*incident) error) {
	t.Helper()
	k.at(t, when)
	_, err := k.incidents.Change(agent, id, storage.Command{}, mutate)
	require.NoError(t, err)
}

func (k *kit) sla(t *testing.T, when, id, event string, breached bool) {
	t.Helper()
	k.at(t, when)
	_, err := k.slas.Fire(agent, id, event, storage.Command{}, func(s *taskSLA) error { s.HasBreached = breached; return nil })
	require.NoError(t, err)
}

func (k *kit) changeTo(t *testing.T, when, id string, events ...string) {
	t.Helper()
	k.at(t, when)
	for _, ev := range events {
		_, err := k.changes.Fire(agent, id, ev, storage.Command{}, nil)
		require.NoError(t, err)
	}
}

// halfCalendar counts half of every interval as business time.
type halfCalendar struct{}

func (halfCalendar) Between(start, end time.Time) (time.Duration, error) {
	if end.Year() > 2100 {
		return 0, itsm.Invalidf("outside the horizon")
	}
	return end.Sub(start) / 2, nil
}

// scenario writes the small, hand-checked history the definition tests
// read (times are on Monday 2026-11-02 unless said):
//
//	09:00 INC1 email/desk/P2 raised, its SLA starts; CHG1 (normal, email) and CHG2 (emergency) raised; REQ1, REQ2 raised
//	09:30 INC1 started                      (acknowledged after 30m)
//	10:00 INC2 email/desk/P1 raised, its SLA starts
//	10:10 INC2 started                      (acknowledged after 10m, in group desk)
//	10:20 INC2 reassigned to network
//	11:00 INC2 on hold (awaiting caller)
//	11:30 INC1 resolved (2h30m), SLA met
//	12:00 INC2 resumed; REQ1 fulfilled (3h); REQ2 rejected
//	13:00 INC2 resolved (3h), SLA breached; INC3 vpn/network/P3 raised
//	13:05 INC3 canceled
//	14:00 INC2 reopened: its resolution and SLA measurement are withdrawn
//	15:00 INC2 resolved again (5h), SLA breached; INC1 closed
//	16:00 INC4 vpn/network/P3 raised, caused by CHG1; still open
//	17:00 CHG1 closed successful, CHG2 closed failed
//	Tue 09:00 INC5 vpn/network/P3 raised; still open
func scenario(t *testing.T, k *kit) {
	t.Helper()
	inc1 := k.raise(t, "9h", &incident{ShortDescription: "mail bounces", ServiceID: "email", AssignmentGroup: "desk", Priority: 2})
	sla1 := &taskSLA{TaskID: inc1.ID}
	require.NoError(t, k.slas.Create(agent, sla1, storage.Command{}))
	chg1 := &change{Type: "normal", ServiceID: "email"}
	require.NoError(t, k.changes.Create(agent, chg1, storage.Command{}))
	chg2 := &change{Type: "emergency", ServiceID: "email"}
	require.NoError(t, k.changes.Create(agent, chg2, storage.Command{}))
	req1 := &request{CatalogItemID: "laptop", ServiceID: "workplace"}
	require.NoError(t, k.requests.Create(agent, req1, storage.Command{}))
	req2 := &request{CatalogItemID: "phone", ServiceID: "workplace"}
	require.NoError(t, k.requests.Create(agent, req2, storage.Command{}))

	k.fire(t, "9h30m", inc1.ID, "start", func(i *incident) error { i.AssignedTo = "ann"; return nil })
	inc2 := k.raise(t, "10h", &incident{ShortDescription: "mail slow", ServiceID: "email", AssignmentGroup: "desk", Priority: 1})
	sla2 := &taskSLA{TaskID: inc2.ID}
	require.NoError(t, k.slas.Create(agent, sla2, storage.Command{}))
	k.fire(t, "10h10m", inc2.ID, "start", nil)
	k.update(t, "10h20m", inc2.ID, func(i *incident) error { i.AssignmentGroup = "network"; return nil })
	k.fire(t, "11h", inc2.ID, "hold", func(i *incident) error { i.HoldReason = "awaiting_caller"; return nil })
	k.fire(t, "11h30m", inc1.ID, "resolve", nil)
	k.sla(t, "11h30m", sla1.ID, "complete", false)
	k.fire(t, "12h", inc2.ID, "resume", func(i *incident) error { i.HoldReason = ""; return nil })
	k.at(t, "12h")
	for _, ev := range []string{"work", "complete"} {
		_, err := k.requests.Fire(agent, req1.ID, ev, storage.Command{}, nil)
		require.NoError(t, err)
	}
	_, err := k.requests.Fire(agent, req2.ID, "reject", storage.Command{}, nil)
	require.NoError(t, err)
	k.fire(t, "13h", inc2.ID, "resolve", nil)
	k.sla(t, "13h", sla2.ID, "complete", true)
	inc3 := k.raise(t, "13h", &incident{ShortDescription: "vpn flaps", ServiceID: "vpn", AssignmentGroup: "network", Priority: 3})
	k.fire(t, "13h5m", inc3.ID, "cancel", nil)
	k.fire(t, "14h", inc2.ID, "reopen", nil)
	k.sla(t, "14h", sla2.ID, "restart", true)
	k.fire(t, "15h", inc2.ID, "resolve", nil)
	k.sla(t, "15h", sla2.ID, "complete", true)
	k.fire(t, "15h", inc1.ID, "close", nil)
	k.raise(t, "16h", &incident{ShortDescription: "vpn down", ServiceID: "vpn", AssignmentGroup: "network", Priority: 3, CausedByChangeID: chg1.ID})
	k.changeTo(t, "16h30m", chg1.ID, "assess", "authorize", "schedule", "implement")
	k.changeTo(t, "16h30m", chg2.ID, "assess", "authorize", "schedule", "implement")
	k.at(t, "16h45m")
	_, err = k.changes.Change(agent, chg1.ID, storage.Command{}, func(c *change) error { c.ReviewOutcome = "successful"; return nil })
	require.NoError(t, err)
	_, err = k.changes.Change(agent, chg2.ID, storage.Command{}, func(c *change) error { c.ReviewOutcome = "failed"; return nil })
	require.NoError(t, err)
	k.changeTo(t, "17h", chg1.ID, "review", "close")
	k.changeTo(t, "17h", chg2.ID, "review", "close")
	k.raise(t, "33h", &incident{ShortDescription: "vpn down again", ServiceID: "vpn", AssignmentGroup: "network", Priority: 3})
}
