package operation_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// analysed opens a problem and moves it to root cause analysis with a root
// cause and workaround.
func (f fixture) analysed(t *testing.T) *operation.Problem {
	t.Helper()
	ctx := as(ann)
	p := &operation.Problem{ShortDescription: "VPN gateway drops sessions", AssignmentGroup: "network"}
	require.NoError(t, f.desk.OpenProblem(ctx, p, storage.Command{}))
	_, err := f.desk.MoveProblem(ctx, p.ID, operation.EventAssess, storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.MoveProblem(ctx, p.ID, operation.EventAnalyze, storage.Command{})
	require.NoError(t, err)
	got, err := f.desk.UpdateProblem(ctx, p.ID, storage.Command{}, func(p *operation.Problem) error {
		p.RootCause, p.Workaround = "MTU mismatch after firmware 9.2", "Lower the client MTU to 1400"
		return nil
	})
	require.NoError(t, err)
	return got
}

func TestProblemLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := as(ann)
	p := f.analysed(t)
	assert.Equal(t, "PRB0000001", p.Number)
	assert.Equal(t, 3, p.Priority)
	assert.Equal(t, operation.StateRootCauseAnalysis, p.State)
	got, err := f.desk.MoveProblem(ctx, p.ID, operation.EventFix, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateFixInProgress, got.State)
	got, _, err = f.desk.ResolveProblem(ctx, p.ID, operation.ProblemFixApplied, "firmware 9.3", operation.NotifyLinked, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateResolved, got.State)
	assert.False(t, got.ResolvedAt.IsZero())
	got, err = f.desk.MoveProblem(ctx, p.ID, operation.EventClose, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosed, got.State)
	m, err := operation.ProblemLifecycle().Compile()
	require.NoError(t, err)
	assert.Equal(t, []string{"new", "assess", "root_cause_analysis", "fix_in_progress", "resolved", "closed", "canceled"}, m.States())
}

func TestProblemRefusals(t *testing.T) {
	clearRootCause := func(f fixture, p *operation.Problem) {
		_, err := f.desk.UpdateProblem(as(ann), p.ID, storage.Command{}, func(p *operation.Problem) error { p.RootCause, p.Workaround = "", ""; return nil })
		require.NoError(t, err)
	}
	cases := []struct {
		name  string
		setup func(f fixture, p *operation.Problem)
		do    func(f fixture, p *operation.Problem) error
		want  error
	}{
		{"fix without root cause", clearRootCause, func(f fixture, p *operation.Problem) error {
			_, err := f.desk.MoveProblem(as(ann), p.ID, operation.EventFix, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"resolve with unknown code", nil, func(f fixture, p *operation.Problem) error {
			_, _, err := f.desk.ResolveProblem(as(ann), p.ID, "shrug", "", operation.ResolveLinked, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"fix_applied without root cause", clearRootCause, func(f fixture, p *operation.Problem) error {
			_, _, err := f.desk.ResolveProblem(as(ann), p.ID, operation.ProblemFixApplied, "", operation.ResolveLinked, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"resolve through MoveProblem", nil, func(f fixture, p *operation.Problem) error {
			_, err := f.desk.MoveProblem(as(ann), p.ID, operation.EventResolve, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"unknown linked action", nil, func(f fixture, p *operation.Problem) error {
			_, _, err := f.desk.ResolveProblem(as(ann), p.ID, operation.ProblemFixApplied, "", operation.LinkedIncidents(9), storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"publish without workaround", clearRootCause, func(f fixture, p *operation.Problem) error {
			_, err := f.desk.PublishKnownError(as(ann), p.ID, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"publish twice", func(f fixture, p *operation.Problem) {
			_, err := f.desk.PublishKnownError(as(ann), p.ID, storage.Command{})
			require.NoError(t, err)
		}, func(f fixture, p *operation.Problem) error {
			_, err := f.desk.PublishKnownError(as(ann), p.ID, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"edit known error link", nil, func(f fixture, p *operation.Problem) error {
			_, err := f.desk.UpdateProblem(as(ann), p.ID, storage.Command{}, func(p *operation.Problem) error { p.KnownErrorID = "x"; return nil })
			return err
		}, itsm.ErrInvalid},
		{"missing short description", nil, func(f fixture, p *operation.Problem) error {
			return f.desk.OpenProblem(as(ann), &operation.Problem{}, storage.Command{})
		}, itsm.ErrInvalid},
		{"link incident to unknown problem", func(f fixture, p *operation.Problem) { f.open(t) }, func(f fixture, p *operation.Problem) error {
			incs, _, err := f.desk.Incidents().Query(as(reader), storage.Query{})
			require.NoError(t, err)
			_, err = f.desk.LinkIncidentToProblem(as(ann), incs[0].ID, itsm.NewID(), storage.Command{})
			return err
		}, itsm.ErrNotFound},
		{"open incident with a draft known error", func(f fixture, p *operation.Problem) {
			ke := &operation.KnownError{ProblemID: p.ID, ShortDescription: "draft", Workaround: "w"}
			require.NoError(t, f.desk.KnownErrors().Create(as(ann), ke, storage.Command{}))
		}, func(f fixture, p *operation.Problem) error {
			kes, _, err := f.desk.KnownErrors().Query(as(reader), storage.Query{})
			require.NoError(t, err)
			return f.desk.OpenIncident(as(ann), &operation.Incident{ShortDescription: "x", CallerID: "carl", Impact: 1, Urgency: 1, KnownErrorID: kes[0].ID}, storage.Command{})
		}, itsm.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			p := f.analysed(t)
			if tc.setup != nil {
				tc.setup(f, p)
			}
			before := f.snapshot(t)
			require.ErrorIs(t, tc.do(f, p), tc.want)
			assert.Equal(t, before, f.snapshot(t), "store unchanged")
		})
	}
}

func TestKnownErrorWorkaroundAndProblemResolution(t *testing.T) {
	f := newFixture(t)
	ctx := as(ann)
	p := f.analysed(t)
	ke, err := f.desk.PublishKnownError(ctx, p.ID, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, "KE0000001", ke.Number)
	assert.Equal(t, operation.KEPublished, ke.State)
	assert.Equal(t, "Lower the client MTU to 1400", ke.Workaround)
	pr, err := f.desk.Problems().Get(as(reader), p.ID)
	require.NoError(t, err)
	assert.Equal(t, ke.ID, pr.KnownErrorID)

	// An incident opened against the known error gets its workaround and problem.
	withKE := f.open(t, func(i *operation.Incident) { i.KnownErrorID = ke.ID })
	assert.Equal(t, "Lower the client MTU to 1400", withKE.Workaround)
	assert.Equal(t, p.ID, withKE.ProblemID)
	linked := f.open(t)
	_, err = f.desk.LinkIncidentToProblem(ctx, linked.ID, p.ID, storage.Command{})
	require.NoError(t, err)
	// A child of a linked incident is resolved once, with its parent.
	child := f.open(t, func(i *operation.Incident) { i.ParentID = linked.ID; i.ProblemID = p.ID })
	unrelated := f.open(t)

	_, err = f.desk.MoveProblem(ctx, p.ID, operation.EventFix, storage.Command{})
	require.NoError(t, err)
	_, touched, err := f.desk.ResolveProblem(ctx, p.ID, operation.ProblemFixApplied, "firmware 9.3 rolled out", operation.ResolveLinked, storage.Command{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{withKE.Number, linked.Number}, touched)
	for _, id := range []string{withKE.ID, linked.ID, child.ID} {
		got, err := f.desk.Incidents().Get(as(reader), id)
		require.NoError(t, err)
		assert.Equal(t, operation.StateResolved, got.State, got.Number)
		assert.Equal(t, operation.ResolvedPermanently, got.ResolutionCode)
	}
	got, err := f.desk.Incidents().Get(as(reader), unrelated.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateNew, got.State)
	assert.Len(t, f.note.topics(), 2)
}

func TestProblemResolutionNotifies(t *testing.T) {
	f := newFixture(t)
	ctx := as(ann)
	p := f.analysed(t)
	inc := f.open(t, func(i *operation.Incident) { i.AssignmentGroup, i.AssignedTo = "network", "bob" })
	_, err := f.desk.LinkIncidentToProblem(ctx, inc.ID, p.ID, storage.Command{})
	require.NoError(t, err)
	_, touched, err := f.desk.ResolveProblem(ctx, p.ID, operation.ProblemRiskAccepted, "", operation.NotifyLinked, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, []string{inc.Number}, touched)
	got, err := f.desk.Incidents().Get(as(reader), inc.ID)
	require.NoError(t, err)
	assert.Equal(t, operation.StateNew, got.State, "notified, not resolved")
	require.Len(t, got.WorkNotes, 1)
	assert.Contains(t, got.WorkNotes[0].Text, p.Number)
	require.Len(t, f.note.sent, 1)
	assert.Equal(t, []string{"bob"}, f.note.sent[0].To)
}

// A linked incident that cannot be resolved stops the problem's
// resolution: nothing is written.
func TestProblemResolutionAllOrNothing(t *testing.T) {
	f := newFixture(t)
	ctx := as(ann)
	p := f.analysed(t)
	inc := f.open(t)
	_, err := f.desk.LinkIncidentToProblem(ctx, inc.ID, p.ID, storage.Command{})
	require.NoError(t, err)
	before := f.snapshot(t)
	// A caller may not resolve incidents, so the cascade is refused.
	_, _, err = f.desk.ResolveProblem(as(itsm.Actor{ID: "x", Roles: []string{"problem_manager"}}), p.ID, operation.ProblemFixApplied, "", operation.ResolveLinked, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrForbidden)
	assert.Equal(t, before, f.snapshot(t))
}
