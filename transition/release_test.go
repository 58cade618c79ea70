package transition_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

func TestReleaseDeploysOnlyAuthorisedChanges(t *testing.T) {
	e := newChangeEnv(t, nil)
	rs, err := transition.NewReleases(context.Background(), e.store, transition.ReleasesConfig{Clock: e.clock, Changes: e.changes})
	require.NoError(t, err)
	kinds := append([]string{transition.KindRelease, transition.KindDeployment}, changeKinds...)

	c1 := e.toAuthorize(t, e.normal(t, e.web), lowAnswers)
	c2 := e.normal(t, e.api)
	rel := &transition.Release{ShortDescription: "Banking 4.2", Version: "4.2.0", Environments: []string{"test", "production"}}
	require.NoError(t, rs.Create(as(rita), rel, storage.Command{}))
	assert.Equal(t, "RLSE0000001", rel.Number)
	_, err = rs.Fire(as(rita), rel.ID, transition.ReleaseEventBuild, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "no changes yet")
	for _, c := range []*transition.Change{c1, c2} {
		_, err = rs.AddChange(as(rita), rel.ID, c.ID, storage.Command{})
		require.NoError(t, err)
	}
	got, err := e.changes.Get(as(admin), c2.ID)
	require.NoError(t, err)
	assert.Equal(t, rel.ID, got.ReleaseID)
	for _, ev := range []string{transition.ReleaseEventBuild, transition.ReleaseEventTest} {
		_, err = rs.Fire(as(rita), rel.ID, ev, storage.Command{}, nil)
		require.NoError(t, err)
	}

	before := takeSnapshot(t, e.store, kinds...)
	_, err = rs.Fire(as(rita), rel.ID, transition.ReleaseEventDeploy, storage.Command{}, nil)
	var te *itsm.TransitionError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "changes_authorised", te.Guard)
	assert.Contains(t, te.Reason, c1.Number)
	assert.Contains(t, te.Reason, c2.Number)
	_, err = rs.Deploy(as(ivan), rel.ID, "test", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "the release is not in deploy")
	_, err = rs.Deploy(as(ivan), rel.ID, "moon", storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = rs.AddChange(as(rita), itsm.NewID(), c1.ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrNotFound)
	assert.Equal(t, before, takeSnapshot(t, e.store, kinds...))

	_, err = e.changes.Approve(as(alice), c1.ID, "change_management", "ok", storage.Command{})
	require.NoError(t, err)
	e.toAuthorize(t, c2, lowAnswers)
	_, err = e.changes.Approve(as(alice), c2.ID, "change_management", "ok", storage.Command{})
	require.NoError(t, err)
	_, err = rs.Fire(as(rita), rel.ID, transition.ReleaseEventDeploy, storage.Command{}, nil)
	require.NoError(t, err)

	d1, err := rs.Deploy(as(ivan), rel.ID, "test", storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, transition.DeploymentInProgress, d1.State)
	assert.Equal(t, "DEP0000001", d1.Number)
	_, err = rs.FireDeployment(as(ivan), d1.ID, transition.DeploymentEventComplete, storage.Command{})
	require.NoError(t, err)
	d2, err := rs.Deploy(as(ivan), rel.ID, "production", storage.Command{})
	require.NoError(t, err)
	_, err = rs.FireDeployment(as(ivan), d2.ID, transition.DeploymentEventFail, storage.Command{})
	require.NoError(t, err)
	_, err = rs.FireDeployment(as(ivan), d2.ID, transition.DeploymentEventRollback, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "a rollback needs a reason")
	rb, err := rs.FireDeployment(as(ivan), d2.ID, transition.DeploymentEventRollback, storage.Command{Reason: "payments errors"})
	require.NoError(t, err)
	assert.Equal(t, transition.DeploymentRolledBack, rb.State)
	assert.Equal(t, e.clock.Now(), rb.RolledBackAt)
	deps, err := rs.Deployments(as(admin), rel.ID)
	require.NoError(t, err)
	require.Len(t, deps, 2)
	assert.Equal(t, []string{transition.DeploymentDeployed, transition.DeploymentRolledBack}, []string{deps[0].State, deps[1].State})

	_, err = rs.Fire(as(rita), rel.ID, transition.ReleaseEventReview, storage.Command{}, nil)
	require.NoError(t, err)
	_, err = rs.Fire(as(rita), rel.ID, transition.ReleaseEventClose, storage.Command{}, nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	closed, err := rs.Fire(as(rita), rel.ID, transition.ReleaseEventClose, storage.Command{}, func(r *transition.Release) error {
		r.ReviewOutcome = transition.OutcomeBackedOut
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, transition.ReleaseClosed, closed.State)
}

// A release's version is a member of its own, not the record's "version"
// (which the event diff leaves out as bookkeeping): a change of it is in
// the event and under the hash, and the stored record keeps both.
func TestReleaseVersionIsAChangedField(t *testing.T) {
	e := newChangeEnv(t, nil)
	ctx := as(admin)
	rs, err := transition.NewReleases(ctx, e.store, transition.ReleasesConfig{Clock: e.clock, Changes: e.changes})
	require.NoError(t, err)
	rel := &transition.Release{ShortDescription: "Banking 4.2", Version: "4.2.0", Environments: []string{"test"}}
	require.NoError(t, rs.Create(as(rita), rel, storage.Command{}))
	c := e.toAuthorize(t, e.normal(t, e.web), lowAnswers)
	_, err = rs.AddChange(as(rita), rel.ID, c.ID, storage.Command{})
	require.NoError(t, err)
	got, err := rs.Fire(as(rita), rel.ID, transition.ReleaseEventBuild, storage.Command{}, func(r *transition.Release) error {
		r.Version = "4.2.1"
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "4.2.1", got.Version)
	assert.Equal(t, int64(3), got.Meta().Version)
	evs, err := e.store.History(ctx, transition.KindRelease, rel.ID)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	assert.Contains(t, evs[2].Changes, itsm.FieldChange{Field: "release_version", From: `"4.2.0"`, To: `"4.2.1"`})
	again, err := rs.Get(ctx, rel.ID)
	require.NoError(t, err)
	assert.Equal(t, "4.2.1", again.Version)
}
