package transition_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

var (
	rita  = itsm.Actor{ID: "rita", Roles: []string{"agent"}, Groups: []string{"change_management"}} // requester
	ivan  = itsm.Actor{ID: "ivan", Roles: []string{"agent"}, Groups: []string{"cab"}}               // implementer
	alice = itsm.Actor{ID: "alice", Roles: []string{"agent"}, Groups: []string{"change_management"}}
	bob   = itsm.Actor{ID: "bob", Roles: []string{"agent"}, Groups: []string{"cab"}}
	cara  = itsm.Actor{ID: "cara", Roles: []string{"agent"}, Groups: []string{"cab"}}
	ed    = itsm.Actor{ID: "ed", Roles: []string{"agent"}, Groups: []string{"ecab"}}
)

var changeKinds = append([]string{transition.KindChange, transition.KindChangeCI, transition.KindChangeTemplate, transition.KindChangeWindow}, cmdbKinds...)

type changeEnv struct {
	*bank
	changes *transition.Changes
}

func newChangeEnv(t testing.TB, mod func(*transition.ChangesConfig)) *changeEnv {
	t.Helper()
	b := newBank(t)
	cfg := transition.ChangesConfig{Clock: b.clock, CMDB: b.cmdb,
		Directory: itsm.StaticDirectory{"cab": {"bob", "cara", "ivan"}}}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := transition.NewChanges(context.Background(), b.store, cfg)
	require.NoError(t, err)
	return &changeEnv{bank: b, changes: ch}
}

var lowAnswers = map[string]string{"outage": "none", "tested": "yes", "backout": "yes", "done_before": "often"}
var highAnswers = map[string]string{"outage": "full", "tested": "partly", "backout": "untested", "done_before": "once"}

// normal creates a normal change on the CIs planned for tomorrow 22:00-23:00.
func (e *changeEnv) normal(t testing.TB, cis ...string) *transition.Change {
	t.Helper()
	start := t0.Add(37 * time.Hour)
	c := &transition.Change{ShortDescription: "patch", Type: transition.TypeNormal, AssignedTo: "ivan",
		CIIDs: cis, PlannedStart: start, PlannedEnd: start.Add(time.Hour)}
	require.NoError(t, e.changes.Create(as(rita), c, storage.Command{}))
	return c
}

func (e *changeEnv) toAuthorize(t testing.TB, c *transition.Change, answers map[string]string) *transition.Change {
	t.Helper()
	_, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventAssess, storage.Command{}, nil)
	require.NoError(t, err)
	_, _, err = e.changes.AssessRisk(as(rita), c.ID, answers, storage.Command{})
	require.NoError(t, err)
	got, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.NoError(t, err)
	return got
}

func TestNormalChangeEndToEnd(t *testing.T) {
	e := newChangeEnv(t, nil)
	c := e.normal(t, e.db)
	assert.Equal(t, "CHG0000001", c.Number)
	assert.Equal(t, transition.ChangeNew, c.State)
	assert.Equal(t, "rita", c.RequestedBy)
	assert.Equal(t, transition.ApprovalNotRequested, c.Approval)

	_, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventAssess, storage.Command{}, nil)
	require.NoError(t, err)
	_, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "no risk assessment yet")

	got, ra, err := e.changes.AssessRisk(as(rita), c.ID, highAnswers, storage.Command{})
	require.NoError(t, err)
	// db is under api, under web and payments: both services are impacted.
	assert.ElementsMatch(t, []string{e.svc, e.pay}, ra.Services)
	assert.Equal(t, 10, ra.QuestionPoints)
	assert.Equal(t, 2, ra.ImpactPoints)
	assert.Equal(t, transition.RiskHigh, ra.Risk)
	assert.Equal(t, transition.RiskHigh, got.Risk)

	got, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeAuthorize, got.State)
	assert.Equal(t, transition.ApprovalRequested, got.Approval)
	require.Len(t, got.Approvals, 2) // change manager (any) and CAB (2 of 3)
	assert.Equal(t, "cab", got.Approvals[1].Group)
	assert.Equal(t, []string{"bob", "cara", "ivan"}, got.Approvals[1].Members)

	e.clock.Advance(time.Hour)
	got, err = e.changes.Approve(as(alice), c.ID, "change_management", "plan reviewed", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ApprovalApproved, got.Approvals[0].Status)
	assert.Equal(t, transition.ApprovalRequested, got.Approval)
	got, err = e.changes.Approve(as(bob), c.ID, "cab", "ok", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeAuthorize, got.State, "one CAB approval of two")
	got, err = e.changes.Approve(as(cara), c.ID, "cab", "ok too", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ApprovalApproved, got.Approval)
	assert.Equal(t, transition.ChangeScheduled, got.State, "approved changes with a window are scheduled")
	assert.Equal(t, transition.Decision{Approver: "cara", Decision: transition.ApprovalApproved, Comment: "ok too", At: t0.Add(time.Hour)}, got.Approvals[1].Decisions[1])

	e.clock.Advance(36 * time.Hour)
	got, err = e.changes.Fire(as(ivan), c.ID, transition.ChangeEventImplement, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, e.clock.Now(), got.ActualStart)
	got, err = e.changes.LinkIncident(as(ivan), c.ID, "inc-1", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, []string{"inc-1"}, got.CausedIncidentIDs)
	_, err = e.changes.Fire(as(ivan), c.ID, transition.ChangeEventReview, storage.Command{}, nil)
	require.NoError(t, err)
	_, err = e.changes.Close(as(ivan), c.ID, "", "", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	got, err = e.changes.Close(as(rita), c.ID, transition.OutcomeBackedOut, "rolled back after errors", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeClosed, got.State)
	assert.Equal(t, transition.OutcomeBackedOut, got.ReviewOutcome)

	evs, err := e.changes.Records().History(as(admin), c.ID)
	require.NoError(t, err)
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	assert.Equal(t, []string{"create", "assess", "update", "authorize", "update", "update", "update", "schedule", "implement", "update", "review", "close"}, names)
	assert.Equal(t, "ok too", evs[6].Reason, "each decision is an event carrying its comment")
	require.NoError(t, e.changes.Records().Verify(as(admin), c.ID))
	// A closed change no longer collides with anything.
	other := e.normal(t, e.db)
	col, err := e.changes.Collisions(as(admin), other.ID, 0)
	require.NoError(t, err)
	assert.Empty(t, col)
}

func TestApprovalRefusalsWriteNothing(t *testing.T) {
	e := newChangeEnv(t, nil)
	c := e.toAuthorize(t, e.normal(t, e.db), highAnswers)
	_, err := e.changes.Approve(as(bob), c.ID, "cab", "first", storage.Command{})
	require.NoError(t, err)
	before := takeSnapshot(t, e.store, changeKinds...)
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"requester approves", func() error {
			_, err := e.changes.Approve(as(rita), c.ID, "change_management", "", storage.Command{})
			return err
		}, itsm.ErrForbidden},
		{"implementer approves", func() error { _, err := e.changes.Approve(as(ivan), c.ID, "cab", "", storage.Command{}); return err }, itsm.ErrForbidden},
		{"non-member approves", func() error { _, err := e.changes.Approve(as(ed), c.ID, "cab", "", storage.Command{}); return err }, itsm.ErrForbidden},
		{"caller approves", func() error {
			_, err := e.changes.Approve(as(itsm.Actor{ID: "x", Roles: []string{"caller"}, Groups: []string{"cab"}}), c.ID, "cab", "", storage.Command{})
			return err
		}, itsm.ErrForbidden},
		{"no actor", func() error {
			_, err := e.changes.Approve(context.Background(), c.ID, "cab", "", storage.Command{})
			return err
		}, itsm.ErrForbidden},
		{"twice by one approver", func() error {
			_, err := e.changes.Approve(as(bob), c.ID, "cab", "again", storage.Command{})
			return err
		}, itsm.ErrConflict},
		{"group not asked", func() error { _, err := e.changes.Approve(as(ed), c.ID, "ecab", "", storage.Command{}); return err }, itsm.ErrInvalid},
		{"rejection without comment", func() error { _, err := e.changes.Reject(as(cara), c.ID, "cab", "", storage.Command{}); return err }, itsm.ErrInvalid},
		{"unknown change", func() error {
			_, err := e.changes.Approve(as(bob), itsm.NewID(), "cab", "", storage.Command{})
			return err
		}, itsm.ErrNotFound},
		{"update sets approval", func() error {
			_, err := e.changes.Update(as(rita), c.ID, storage.Command{}, func(c *transition.Change) error { c.Approval = "approved"; return nil })
			return err
		}, itsm.ErrInvalid},
		{"schedule before approval", func() error {
			_, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventSchedule, storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"implement a normal change early", func() error {
			_, err := e.changes.Fire(as(ivan), c.ID, transition.ChangeEventImplement, storage.Command{}, func(c *transition.Change) error {
				c.RetrospectiveReason = "hurry"
				return nil
			})
			return err
		}, itsm.ErrInvalidTransition},
		{"cancel without reason", func() error {
			_, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventCancel, storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"end before start", func() error {
			_, err := e.changes.Update(as(rita), c.ID, storage.Command{}, func(c *transition.Change) error {
				c.PlannedEnd = c.PlannedStart.Add(-time.Hour)
				return nil
			})
			return err
		}, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			require.ErrorIs(t, err, tt.is)
			assert.NotEmpty(t, err.Error())
			assert.Equal(t, before, takeSnapshot(t, e.store, changeKinds...))
		})
	}

	// A rejection ends the change; nobody decides after it.
	got, err := e.changes.Reject(as(cara), c.ID, "cab", "too risky before quarter end", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeCanceled, got.State)
	assert.Equal(t, transition.ApprovalRejected, got.Approval)
	before = takeSnapshot(t, e.store, changeKinds...)
	_, err = e.changes.Approve(as(alice), c.ID, "change_management", "late", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	assert.Equal(t, before, takeSnapshot(t, e.store, changeKinds...))
}

func TestCreateChangeRefusals(t *testing.T) {
	e := newChangeEnv(t, nil)
	start := t0.Add(time.Hour)
	before := takeSnapshot(t, e.store, changeKinds...)
	for name, c := range map[string]*transition.Change{
		"end before start": {ShortDescription: "x", Type: transition.TypeNormal, PlannedStart: start, PlannedEnd: start.Add(-time.Minute)},
		"end equals start": {ShortDescription: "x", Type: transition.TypeNormal, PlannedStart: start, PlannedEnd: start},
		"only a start":     {ShortDescription: "x", Type: transition.TypeNormal, PlannedStart: start},
		"no description":   {Type: transition.TypeNormal},
		"unknown type":     {ShortDescription: "x", Type: "urgent"},
		"standard direct":  {ShortDescription: "x", Type: transition.TypeStandard, TemplateID: "t"},
		"unknown CI":       {ShortDescription: "x", Type: transition.TypeNormal, CIIDs: []string{itsm.NewID()}},
		"empty CI":         {ShortDescription: "x", Type: transition.TypeNormal, CIIDs: []string{""}},
		"bad risk":         {ShortDescription: "x", Type: transition.TypeNormal, Risk: "meh"},
	} {
		t.Run(name, func(t *testing.T) {
			err := e.changes.Create(as(rita), c, storage.Command{})
			if name == "unknown CI" {
				require.ErrorIs(t, err, itsm.ErrNotFound)
			} else {
				require.ErrorIs(t, err, itsm.ErrInvalid)
			}
			assert.Equal(t, before, takeSnapshot(t, e.store, changeKinds...))
		})
	}
	err := e.changes.Create(as(rita), &transition.Change{ShortDescription: "x", Type: transition.TypeNormal, PlannedStart: start, PlannedEnd: start.Add(-time.Minute)}, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields["planned_end"], "is not after planned start")
	_, _, err = e.changes.AssessRisk(as(rita), itsm.NewID(), lowAnswers, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestRiskAssessmentRefusals(t *testing.T) {
	e := newChangeEnv(t, nil)
	c := e.normal(t, e.db)
	before := takeSnapshot(t, e.store, changeKinds...)
	for _, answers := range []map[string]string{
		{"outage": "none"}, // unanswered questions
		{"outage": "never", "tested": "yes", "backout": "yes", "done_before": "often"},
		{"outage": "none", "tested": "yes", "backout": "yes", "done_before": "often", "colour": "red"},
	} {
		_, _, err := e.changes.AssessRisk(as(rita), c.ID, answers, storage.Command{})
		require.ErrorIs(t, err, itsm.ErrInvalid)
	}
	assert.Equal(t, before, takeSnapshot(t, e.store, changeKinds...))
	got, ra, err := e.changes.AssessRisk(as(rita), c.ID, lowAnswers, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.RiskLow, ra.Risk)
	assert.Equal(t, int64(2), got.RiskScore, "only the two impacted services score")

	bad := transition.DefaultRiskModel()
	bad.High = 1
	_, err = transition.NewChanges(context.Background(), e.store, transition.ChangesConfig{RiskModel: bad})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = transition.NewChanges(context.Background(), e.store, transition.ChangesConfig{Policy: transition.ApprovalPolicy{
		Rules: []transition.ApprovalRule{{Group: "cab", Quorum: transition.QuorumAll}}}})
	require.ErrorIs(t, err, itsm.ErrInvalid, "all without a directory")
}

func TestStandardChangeFromTemplate(t *testing.T) {
	e := newChangeEnv(t, nil)
	tpl := &transition.ChangeTemplate{Name: "Restart web tier", ShortDescription: "Rolling restart of the web tier",
		Risk: transition.RiskLow, ImplementationPlan: "restart one node at a time", BackoutPlan: "none needed", AssignmentGroup: "web"}
	require.NoError(t, e.changes.CreateTemplate(as(alice), tpl, storage.Command{}))
	start := t0.Add(2 * time.Hour)
	c := &transition.Change{CIIDs: []string{e.web}, PlannedStart: start, PlannedEnd: start.Add(30 * time.Minute)}
	require.ErrorIs(t, e.changes.CreateStandard(as(rita), tpl.ID, c, storage.Command{}), itsm.ErrInvalid, "template not approved yet")
	_, err := e.changes.FireTemplate(as(alice), tpl.ID, transition.TemplateEventApprove, storage.Command{Reason: "CAB 2026-11-01"})
	require.NoError(t, err)
	require.NoError(t, e.changes.CreateStandard(as(rita), tpl.ID, c, storage.Command{}))
	assert.Equal(t, transition.TypeStandard, c.Type)
	assert.Equal(t, transition.ApprovalApproved, c.Approval)
	assert.Equal(t, "Rolling restart of the web tier", c.ShortDescription)
	assert.Equal(t, "web", c.AssignmentGroup)

	_, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventAssess, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "no assessment for a standard change")
	_, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "no CAB for a standard change")
	for _, ev := range []string{transition.ChangeEventSchedule, transition.ChangeEventImplement, transition.ChangeEventReview} {
		_, err = e.changes.Fire(as(rita), c.ID, ev, storage.Command{}, nil)
		require.NoError(t, err, ev)
	}
	got, err := e.changes.Close(as(rita), c.ID, transition.OutcomeSuccessful, "", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeClosed, got.State)
}

func TestEmergencyChangeAuthorisedAfterTheFact(t *testing.T) {
	e := newChangeEnv(t, nil)
	c := &transition.Change{ShortDescription: "hotfix TLS", Type: transition.TypeEmergency, AssignedTo: "ivan", CIIDs: []string{e.api},
		PlannedStart: t0, PlannedEnd: t0.Add(time.Hour)}
	require.NoError(t, e.changes.Create(as(rita), c, storage.Command{}))
	got, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.NoError(t, err)
	require.Len(t, got.Approvals, 1)
	assert.Equal(t, "ecab", got.Approvals[0].Group)

	_, err = e.changes.Fire(as(ivan), c.ID, transition.ChangeEventImplement, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "needs a retrospective reason")
	got, err = e.changes.Fire(as(ivan), c.ID, transition.ChangeEventImplement, storage.Command{Reason: "certificate expired"},
		func(c *transition.Change) error {
			c.RetrospectiveReason = "certificate expired, payments down"
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeImplement, got.State)
	_, err = e.changes.Fire(as(ivan), c.ID, transition.ChangeEventReview, storage.Command{}, nil)
	require.NoError(t, err)
	_, err = e.changes.Close(as(ivan), c.ID, transition.OutcomeSuccessful, "", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "not authorised yet")
	got, err = e.changes.Approve(as(ed), c.ID, "ecab", "approved retrospectively", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ApprovalApproved, got.Approval)
	assert.Equal(t, transition.ChangeReview, got.State)
	got, err = e.changes.Close(as(ivan), c.ID, transition.OutcomeSuccessful, "", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeClosed, got.State)
}

func TestFreezeWindows(t *testing.T) {
	e := newChangeEnv(t, nil)
	start := t0.Add(37 * time.Hour)
	fw := &transition.ChangeWindow{Name: "year-end freeze", WindowType: transition.WindowFreeze, Start: start.Add(-time.Hour), End: start.Add(10 * time.Hour)}
	require.NoError(t, e.changes.CreateWindow(as(alice), fw, storage.Command{}))
	require.ErrorIs(t, e.changes.CreateWindow(as(alice), &transition.ChangeWindow{Name: "bad", WindowType: transition.WindowFreeze, Start: start, End: start}, storage.Command{}), itsm.ErrInvalid)

	c := e.toAuthorize(t, e.normal(t, e.db), lowAnswers)
	got, err := e.changes.Approve(as(alice), c.ID, "change_management", "ok", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ApprovalApproved, got.Approval)
	assert.Equal(t, transition.ChangeAuthorize, got.State, "the freeze kept it from being scheduled")
	_, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventSchedule, storage.Command{}, nil)
	var te *itsm.TransitionError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "outside_freeze", te.Guard)
	assert.Contains(t, te.Reason, "year-end freeze")

	// Moving the window out of the freeze lets it through.
	_, err = e.changes.Update(as(rita), c.ID, storage.Command{}, func(c *transition.Change) error {
		c.PlannedStart, c.PlannedEnd = start.Add(24*time.Hour), start.Add(25*time.Hour)
		return nil
	})
	require.NoError(t, err)
	got, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventSchedule, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeScheduled, got.State)
	// ... but not back into it.
	_, err = e.changes.Update(as(rita), c.ID, storage.Command{}, func(c *transition.Change) error {
		c.PlannedStart, c.PlannedEnd = start, start.Add(time.Hour)
		return nil
	})
	require.ErrorIs(t, err, itsm.ErrInvalid)

	// A freeze on another service does not apply; withdrawn freezes neither.
	_, err = e.changes.WithdrawWindow(as(alice), fw.ID, storage.Command{})
	require.NoError(t, err)
	svcFreeze := &transition.ChangeWindow{Name: "payments freeze", WindowType: transition.WindowFreeze, ServiceID: e.pay, Start: start.Add(-time.Hour), End: start.Add(10 * time.Hour)}
	require.NoError(t, e.changes.CreateWindow(as(alice), svcFreeze, storage.Command{}))
	ws, err := e.changes.Windows(as(admin), transition.WindowFreeze, start, start.Add(time.Hour))
	require.NoError(t, err)
	assert.Empty(t, ws, "only the global ones without a service")
	ws, err = e.changes.Windows(as(admin), transition.WindowFreeze, start, start.Add(time.Hour), e.pay)
	require.NoError(t, err)
	assert.Len(t, ws, 1)

	// db's risk assessment found payments impacted: its freeze applies.
	c2 := e.toAuthorize(t, e.normal(t, e.db), lowAnswers)
	got, err = e.changes.Approve(as(alice), c2.ID, "change_management", "ok", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeAuthorize, got.State)

	// An emergency change may be scheduled into a freeze.
	em := &transition.Change{ShortDescription: "fix", Type: transition.TypeEmergency, CIIDs: []string{e.db}, PlannedStart: start, PlannedEnd: start.Add(time.Hour), ServiceID: e.pay}
	require.NoError(t, e.changes.Create(as(rita), em, storage.Command{}))
	_, err = e.changes.Fire(as(rita), em.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.NoError(t, err)
	got, err = e.changes.Approve(as(ed), em.ID, "ecab", "go", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeScheduled, got.State)
}

func TestMaintenanceWindowRequired(t *testing.T) {
	e := newChangeEnv(t, func(c *transition.ChangesConfig) { c.RequireMaintenanceWindow = true })
	c := e.toAuthorize(t, e.normal(t, e.db), lowAnswers)
	got, err := e.changes.Approve(as(alice), c.ID, "change_management", "ok", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeAuthorize, got.State, "no maintenance window yet")
	mw := &transition.ChangeWindow{Name: "Saturday night", WindowType: transition.WindowMaintenance, Start: c.PlannedStart.Add(-2 * time.Hour), End: c.PlannedEnd.Add(2 * time.Hour)}
	require.NoError(t, e.changes.CreateWindow(as(alice), mw, storage.Command{}))
	got, err = e.changes.Fire(as(rita), c.ID, transition.ChangeEventSchedule, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeScheduled, got.State)
}

func TestQuorumAll(t *testing.T) {
	e := newChangeEnv(t, func(c *transition.ChangesConfig) {
		c.Policy = transition.ApprovalPolicy{Rules: []transition.ApprovalRule{{Name: "board", Group: "board", Quorum: transition.QuorumAll}}}
		c.Directory = itsm.StaticDirectory{"board": {"bob", "cara"}}
	})
	c := e.toAuthorize(t, e.normal(t, e.db), lowAnswers)
	bobBoard, caraBoard := bob, cara
	bobBoard.Groups, caraBoard.Groups = []string{"board"}, nil // cara is listed by the directory only
	got, err := e.changes.Approve(as(bobBoard), c.ID, "board", "yes", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ApprovalRequested, got.Approval)
	got, err = e.changes.Approve(as(caraBoard), c.ID, "board", "yes", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeScheduled, got.State)
}

func TestCollisions(t *testing.T) {
	e := newChangeEnv(t, nil)
	a := e.normal(t, e.db)
	sameCI := e.normal(t, e.db)
	connected := e.normal(t, e.host2) // db runs_on host2: one relationship away
	far := e.normal(t, e.host1)       // host1 is 3 away from db (db<-api->vm2->host1)
	later := e.normal(t, e.db)
	_, err := e.changes.Update(as(rita), later.ID, storage.Command{}, func(c *transition.Change) error {
		c.PlannedStart, c.PlannedEnd = c.PlannedEnd, c.PlannedEnd.Add(time.Hour) // adjacent, not overlapping
		return nil
	})
	require.NoError(t, err)

	col, err := e.changes.Collisions(as(admin), a.ID, 0)
	require.NoError(t, err)
	require.Len(t, col, 1)
	assert.Equal(t, sameCI.Number, col[0].Number)
	assert.Equal(t, 0, col[0].Distance)

	col, err = e.changes.Collisions(as(admin), a.ID, 1)
	require.NoError(t, err)
	require.Len(t, col, 2)
	assert.Equal(t, connected.Number, col[1].Number)
	assert.Equal(t, 1, col[1].Distance)

	col, err = e.changes.Collisions(as(admin), a.ID, 3)
	require.NoError(t, err)
	assert.Len(t, col, 2, "vm2 and host1 sit downstream of api, which is upstream of db: not reached in one direction")
	_ = far

	// Cancelling the colliding change clears it.
	_, err = e.changes.Fire(as(rita), sameCI.ID, transition.ChangeEventCancel, storage.Command{Reason: "duplicate"}, nil)
	require.NoError(t, err)
	col, err = e.changes.Collisions(as(admin), a.ID, 0)
	require.NoError(t, err)
	assert.Empty(t, col)

	cal, wins, err := e.changes.Calendar(as(admin), t0, t0.Add(72*time.Hour))
	require.NoError(t, err)
	assert.Len(t, cal, 4, "a, connected, far and later; the canceled one is gone")
	assert.Empty(t, wins)
	for i := 1; i < len(cal); i++ {
		assert.False(t, cal[i].PlannedStart.Before(cal[i-1].PlannedStart))
	}
	_, _, err = e.changes.Calendar(as(admin), t0, t0)
	require.ErrorIs(t, err, itsm.ErrInvalid)

	_, err = e.changes.Collisions(as(admin), a.ID, -1)
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = e.changes.Collisions(as(admin), itsm.NewID(), 0)
	require.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestChangeLifecycleDiagram(t *testing.T) {
	e := newChangeEnv(t, nil)
	m := e.changes.Machine()
	assert.Contains(t, m.Mermaid(), "authorize --> scheduled: schedule [approved, planned_window, outside_freeze, inside_maintenance_window]")
	assert.Equal(t, []string{"assess", "authorize", "schedule", "cancel"}, m.Available(transition.ChangeNew))
}

// Approvers deciding at the same instant all get recorded: a version
// conflict is retried on the fresh change.
func TestParallelApprovals(t *testing.T) {
	members := []string{"m1", "m2", "m3", "m4", "m5", "m6"}
	e := newChangeEnv(t, func(c *transition.ChangesConfig) {
		c.Policy = transition.ApprovalPolicy{Rules: []transition.ApprovalRule{{Name: "board", Group: "board", Quorum: transition.QuorumAll}}}
		c.Directory = itsm.StaticDirectory{"board": members}
	})
	c := e.toAuthorize(t, e.normal(t, e.db), lowAnswers)
	errs := make(chan error, len(members))
	for _, m := range members {
		go func() {
			_, err := e.changes.Approve(as(itsm.Actor{ID: m, Roles: []string{"agent"}}), c.ID, "board", "yes from "+m, storage.Command{})
			errs <- err
		}()
	}
	for range members {
		require.NoError(t, <-errs)
	}
	got, err := e.changes.Get(as(admin), c.ID)
	require.NoError(t, err)
	assert.Len(t, got.Approvals[0].Decisions, len(members))
	assert.Equal(t, transition.ApprovalApproved, got.Approval)
	assert.Equal(t, transition.ChangeScheduled, got.State)
}

func TestSeparationOfDutiesAsAnAuthorizerRule(t *testing.T) {
	az := itsm.DefaultAuthorizer().AddRule(transition.KindChange, transition.ActionApprove, transition.SeparationOfDuties)
	c := &transition.Change{RequestedBy: "rita", AssignedTo: "ivan"}
	for _, tt := range []struct {
		who  itsm.Actor
		want error
	}{{rita, itsm.ErrForbidden}, {ivan, itsm.ErrForbidden}, {alice, nil}} {
		err := itsm.Authorize(as(tt.who), az, transition.KindChange, transition.ActionApprove, c)
		if tt.want == nil {
			assert.NoError(t, err, tt.who.ID)
		} else {
			assert.ErrorIs(t, err, tt.want, tt.who.ID)
		}
	}
}

// TestCancelWithoutReasonNamesTheField: a change canceled without a reason
// is refused as an incident is (operation's CancelIncident): by the
// needs_reason guard, matching ErrInvalidTransition and ErrInvalid, its
// *itsm.ValidationError naming "reason".
func TestCancelWithoutReasonNamesTheField(t *testing.T) {
	e := newChangeEnv(t, nil)
	c := e.normal(t, e.db)
	for _, reason := range []string{"", " \t"} {
		_, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventCancel, storage.Command{Reason: reason}, nil)
		require.ErrorIs(t, err, itsm.ErrInvalidTransition)
		require.ErrorIs(t, err, itsm.ErrInvalid)
		var te *itsm.TransitionError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "needs_reason", te.Guard)
		var ve *itsm.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Contains(t, ve.Fields, "reason")
	}
	got, err := e.changes.Fire(as(rita), c.ID, transition.ChangeEventCancel, storage.Command{Reason: "duplicate"}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeCanceled, got.State)
}

// The generic runner a host gets from Records cannot approve a change or
// lower its risk: those members belong to the Changes commands.
func TestChangeRecordsCannotForgeRiskOrApproval(t *testing.T) {
	e := newChangeEnv(t, nil)
	c := e.toAuthorize(t, e.normal(t), highAnswers)
	forged := []struct {
		name string
		edit func(*transition.Change) error
	}{
		{"approve", func(c *transition.Change) error { c.Approval = "approved"; return nil }},
		{"lower the risk", func(c *transition.Change) error { c.Risk, c.RiskScore = transition.RiskLow, 0; return nil }},
		{"drop the approval groups", func(c *transition.Change) error { c.Approvals = nil; return nil }},
		{"change the requester", func(c *transition.Change) error { c.RequestedBy = "ivan"; return nil }},
	}
	for _, tt := range forged {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.changes.Records().Change(as(alice), c.ID, storage.Command{}, tt.edit)
			require.ErrorIs(t, err, itsm.ErrForbidden)
		})
	}
	got, err := e.changes.Records().Change(as(alice), c.ID, storage.Command{}, func(c *transition.Change) error {
		c.BackoutPlan = "restore the snapshot"
		return nil
	})
	require.NoError(t, err, "a field the commands do not own is the host's to edit")
	assert.Equal(t, "restore the snapshot", got.BackoutPlan)
	forgedNew := &transition.Change{ShortDescription: "x", Type: transition.TypeNormal, RequestedBy: "alice", Approval: "approved"}
	require.ErrorIs(t, e.changes.Records().Create(as(alice), forgedNew, storage.Command{}), itsm.ErrForbidden)
}
