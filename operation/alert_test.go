package operation_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

var monitor = itsm.Actor{ID: "monitoring", Roles: []string{itsm.RoleSystem}}

func alertFixture(t *testing.T, rule operation.AlertRule) fixture {
	return newFixture(t, func(c *operation.Config) { c.AlertRule = rule })
}

func TestAlertDedupAndIncident(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{MinSeverity: operation.SeverityMajor, AssignmentGroup: "network", ResolveOnClear: true})
	ctx := as(monitor)
	ev := operation.MonitorEvent{Source: "prometheus", Node: "db1", Type: "disk_full", Severity: operation.SeverityMinor, Message: "85% used"}
	r1, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	require.NotNil(t, r1.Alert)
	assert.Nil(t, r1.Incident, "minor is below the rule")
	assert.Equal(t, "ALR0000001", r1.Alert.Number)

	f.clock.Advance(time.Minute)
	ev.Severity, ev.Message = operation.SeverityCritical, "99% used"
	r2, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, r1.Alert.ID, r2.Alert.ID, "folded into the same alert")
	assert.Equal(t, 2, r2.Alert.Count)
	assert.Equal(t, t0, r2.Alert.FirstSeen)
	assert.Equal(t, t0.Add(time.Minute), r2.Alert.LastSeen)
	require.NotNil(t, r2.Incident)
	assert.Equal(t, 1, r2.Incident.Priority)
	assert.Equal(t, "network", r2.Incident.AssignmentGroup)
	assert.Equal(t, "monitoring", r2.Incident.ContactType)
	assert.Equal(t, r2.Incident.ID, r2.Alert.IncidentID)

	r3, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	assert.Nil(t, r3.Incident, "no second incident")
	assert.Equal(t, 3, r3.Alert.Count)

	f.clock.Advance(time.Minute)
	ev.Severity, ev.Message = operation.SeverityClear, "cleaned up"
	r4, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	assert.Equal(t, operation.AlertClosed, r4.Alert.State)
	require.NotNil(t, r4.Incident)
	assert.Equal(t, operation.StateResolved, r4.Incident.State)
	assert.Equal(t, operation.ResolvedRemotely, r4.Incident.ResolutionCode)

	// A new problem after the clear opens a new alert.
	ev.Severity = operation.SeverityWarning
	r5, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	assert.NotEqual(t, r1.Alert.ID, r5.Alert.ID)
	// A clear with no open alert does nothing.
	r6, err := f.desk.Ingest(ctx, operation.MonitorEvent{Source: "prometheus", Node: "db9", Type: "x", Severity: 0})
	require.NoError(t, err)
	assert.Nil(t, r6.Alert)
}

func TestAlertEventIDs(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{MinSeverity: 1})
	ctx := as(monitor)
	ev := operation.MonitorEvent{Source: "zabbix", EventID: "e-1", Node: "web1", Type: "down", Severity: 1, Message: "no ping", CIID: "web1"}
	r1, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	before := f.snapshot(t)
	again, err := f.desk.Ingest(ctx, ev)
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, r1.Alert.ID, again.Alert.ID)
	assert.Equal(t, before, f.snapshot(t), "a repeat writes nothing")

	changed := ev
	changed.Message = "ping ok?"
	_, err = f.desk.Ingest(ctx, changed)
	require.ErrorIs(t, err, itsm.ErrConflict)
	assert.Equal(t, before, f.snapshot(t), "a changed repeat is refused")
}

func TestAlertCorrelationThroughCMDB(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{MinSeverity: 2})
	ctx := as(monitor)
	a, err := f.desk.Ingest(ctx, operation.MonitorEvent{Source: "zabbix", Node: "web1", Type: "down", Severity: 1, CIID: "web1"})
	require.NoError(t, err)
	require.NotNil(t, a.Incident)
	b, err := f.desk.Ingest(ctx, operation.MonitorEvent{Source: "zabbix", Node: "web2", Type: "down", Severity: 1, CIID: "web2"})
	require.NoError(t, err)
	require.NotNil(t, b.Incident)
	assert.Equal(t, a.Incident.ID, b.Incident.ID, "web1 and web2 share switch sw1")
	assert.True(t, b.Alert.Correlated)
	// The switch itself is upstream of web1.
	s, err := f.desk.Ingest(ctx, operation.MonitorEvent{Source: "zabbix", Node: "sw1", Type: "port_errors", Severity: 2, CIID: "sw1"})
	require.NoError(t, err)
	assert.Equal(t, a.Incident.ID, s.Incident.ID)
	// db1 shares only the data centre dc1... which counts as a shared upstream too.
	// A CI with no upstream in common gets its own incident.
	o, err := f.desk.Ingest(ctx, operation.MonitorEvent{Source: "zabbix", Node: "printer", Type: "jam", Severity: 1, CIID: "printer7"})
	require.NoError(t, err)
	assert.NotEqual(t, a.Incident.ID, o.Incident.ID)
	assert.False(t, o.Alert.Correlated)
}

func TestAlertBadInput(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{MinSeverity: 1})
	bad := []operation.MonitorEvent{
		{Node: "n", Type: "t", Severity: 1},
		{Source: "s", Type: "t", Severity: 1},
		{Source: "s", Node: "n", Severity: 1},
		{Source: "s", Node: "n", Type: "t", Severity: 6},
		{Source: "s", Node: "n", Type: "t", Severity: -1},
		{Source: "s", Node: "n", Type: "t", Severity: 1, Message: string(make([]byte, operation.MaxText+1))},
	}
	before := f.snapshot(t)
	for i, ev := range bad {
		_, err := f.desk.Ingest(as(monitor), ev)
		require.ErrorIs(t, err, itsm.ErrInvalid, "event %d", i)
	}
	_, err := f.desk.Ingest(context.Background(), operation.MonitorEvent{Source: "s", Node: "n", Type: "t", Severity: 1})
	require.ErrorIs(t, err, itsm.ErrForbidden)
	assert.Equal(t, before, f.snapshot(t))
}

func TestAcknowledgeAlert(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{})
	r, err := f.desk.Ingest(as(monitor), operation.MonitorEvent{Source: "s", Node: "n", Type: "t", Severity: 3})
	require.NoError(t, err)
	got, err := f.desk.AcknowledgeAlert(as(ann), r.Alert.ID, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.AlertAcknowledged, got.State)
	_, err = f.desk.AcknowledgeAlert(as(ann), r.Alert.ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
}

func TestEscalation(t *testing.T) {
	rules := []operation.EscalationRule{
		{Name: "p1_30m", Priorities: []int{1}, After: 30 * time.Minute, Notify: []string{"duty_manager"}, RaisePriority: true},
		{Name: "p1_2h", Priorities: []int{1}, After: 2 * time.Hour, ReassignTo: "servers"},
		{Name: "any_3d", After: 72 * time.Hour, RaisePriority: true},
	}
	f := newFixture(t, func(c *operation.Config) { c.Escalation = rules })
	p1 := f.open(t, func(i *operation.Incident) {
		i.Impact, i.Urgency, i.AssignmentGroup, i.AssignedTo = 1, 1, "network", "ann"
	})
	p3 := f.open(t)
	sys := as(system)

	n, err := f.desk.Escalate(sys, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	f.clock.Advance(45 * time.Minute)
	n, err = f.desk.Escalate(sys, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = f.desk.Escalate(sys, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 0, n, "a rule applies once")
	got, err := f.desk.Incidents().Get(as(reader), p1.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"p1_30m"}, got.Escalations)
	assert.Equal(t, 1, got.Priority, "already at the top")

	f.clock.Advance(2 * time.Hour)
	n, err = f.desk.Escalate(sys, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got, err = f.desk.Incidents().Get(as(reader), p1.ID)
	require.NoError(t, err)
	assert.Equal(t, "servers", got.AssignmentGroup)
	assert.Empty(t, got.AssignedTo)
	assert.Equal(t, 1, got.ReassignmentCount)

	f.clock.Advance(72 * time.Hour)
	n, err = f.desk.Escalate(sys, f.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	got, err = f.desk.Incidents().Get(as(reader), p3.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Priority)
	assert.Equal(t, "escalation: any_3d", got.PriorityOverrideReason)
	evs, err := f.desk.Incidents().History(as(reader), p3.ID)
	require.NoError(t, err)
	assert.Equal(t, "escalation: any_3d", evs[len(evs)-1].Reason)

	assert.Equal(t, []string{"escalation:INC0000001", "escalation:INC0000001", "escalation:INC0000001", "escalation:INC0000002"}, f.note.topics())
	assert.Equal(t, []string{"duty_manager", "ann"}, f.note.sent[0].To)

	_, err = f.desk.Escalate(context.Background(), f.clock.Now().Add(100*time.Hour))
	require.ErrorIs(t, err, itsm.ErrForbidden, "no actor")
}

// Concurrent first events for one key open one alert, never two.
func TestConcurrentIngestOpensOneAlert(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{MinSeverity: 1})
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := f.desk.Ingest(as(monitor), operation.MonitorEvent{Source: "s", Node: "n", Type: "t", Severity: 1})
			errs <- err
		}()
	}
	ok := 0
	for range n {
		if err := <-errs; err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, itsm.ErrConflict)
		}
	}
	alerts, _, err := f.desk.Alerts().Query(as(reader), storage.Query{})
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	assert.Equal(t, ok, alerts[0].Count)
	incs, _, err := f.desk.Incidents().Query(as(reader), storage.Query{})
	require.NoError(t, err)
	assert.Len(t, incs, 1, "one incident")
}

// An alert whose incident was closed raises a new incident when it fires
// again at a qualifying severity.
func TestAlertRaisesAgainAfterIncidentClosed(t *testing.T) {
	f := alertFixture(t, operation.AlertRule{MinSeverity: 1})
	ev := operation.MonitorEvent{Source: "s", Node: "n", Type: "t", Severity: 1}
	r1, err := f.desk.Ingest(as(monitor), ev)
	require.NoError(t, err)
	_, err = f.desk.ResolveIncident(as(ann), r1.Incident.ID, operation.ResolvedRemotely, "rebooted", storage.Command{})
	require.NoError(t, err)
	r2, err := f.desk.Ingest(as(monitor), ev)
	require.NoError(t, err)
	assert.Nil(t, r2.Incident, "a resolved incident may still be reopened by a person")
	_, err = f.desk.CloseIncident(as(ann), r1.Incident.ID, storage.Command{})
	require.NoError(t, err)
	r3, err := f.desk.Ingest(as(monitor), ev)
	require.NoError(t, err)
	require.NotNil(t, r3.Incident)
	assert.NotEqual(t, r1.Incident.ID, r3.Incident.ID)
	assert.Equal(t, r3.Incident.ID, r3.Alert.IncidentID)
}
