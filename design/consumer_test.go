package design_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// oldCheckpoint is the checkpoint document of engines of older releases.
type oldCheckpoint struct {
	itsm.Record
	Seq int64 `json:"seq"`
}

// TestSyncResumesFromAnOldCheckpoint: a store whose engine kept its
// checkpoint in a sla_checkpoint document (before the engine ran on
// stream.Consumer) resumes from it: the events it had consumed are not
// handled again, the ones after it are, and from then on the consumer's
// own checkpoint moves.
func TestSyncResumesFromAnOldCheckpoint(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	done := &incident{ShortDescription: "consumed by the old engine", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), done, storage.Command{}))
	log, err := f.store.ReadEvents(ctx, 0, 100)
	require.NoError(t, err)
	old := log[len(log)-1].Seq

	// The document an engine named "sla" of an older release wrote: its id
	// is the name-based UUID it used.
	id := uuid.NewSHA1(uuid.MustParse("6f0c3a52-4a0e-4d7e-9a43-3f1c2b9e8d10"), []byte("checkpoint/sla")).String()
	points := storage.NewCollection[oldCheckpoint](design.CheckpointKind)
	require.NoError(t, f.store.Update(ctx, func(tx storage.Tx) error {
		return points.Put(ctx, tx, &oldCheckpoint{Record: itsm.Record{ID: id}, Seq: old})
	}))
	cp, err := f.engine.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Equal(t, old, cp, "the old checkpoint is where the engine stands")

	next := &incident{ShortDescription: "after the upgrade", Priority: 2}
	require.NoError(t, f.incidents.Create(as(agent), next, storage.Command{}))
	n, err := f.engine.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the event after the old checkpoint is handled")
	_, err = f.engine.Clocks().Get(as(agent), design.ClockID("incident", done.ID, "resolution"))
	require.ErrorIs(t, err, itsm.ErrNotFound, "the event the old engine consumed is not handled again")
	assert.Equal(t, design.StageInProgress, f.clockOf(t, next.ID, "resolution").State)

	cp, err = f.engine.Checkpoint(ctx)
	require.NoError(t, err)
	assert.Greater(t, cp, old)
	doc, err := f.store.Get(ctx, stream.ConsumerKind, stream.ConsumerID(itsm.DefaultTenant, "sla_engine/sla"))
	require.NoError(t, err, "the checkpoint now lives in the consumer's document")
	assert.Positive(t, doc.Version)
}

// TestSyncOfAnotherInstanceWaitsForTheLease: a second engine with the same
// name returns at once while the first holds the consumer's lease, and
// takes over once it has run out.
func TestSyncOfAnotherInstanceWaitsForTheLease(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	second, err := design.NewEngine(ctx, f.store, design.EngineConfig{
		Definitions: []design.Definition{resolutionSLA()}, Calendars: []*calendar.Calendar{officeHours(t)},
		Clock: f.clock, Instance: "second"})
	require.NoError(t, err)
	a := &incident{ShortDescription: "a", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), a, storage.Command{}))
	f.sync(t)
	b := &incident{ShortDescription: "b", Priority: 1}
	require.NoError(t, f.incidents.Create(as(agent), b, storage.Command{}))
	n, err := second.Sync(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "the first engine holds the lease")
	f.clock.Advance(design.DefaultLeaseTTL + time.Second)
	n, err = second.Sync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the lease ran out: the second engine took over")
	assert.Equal(t, design.StageInProgress, f.clockOf(t, b.ID, "resolution").State)
}

// TestSyncServesTheTenantOfItsContext: Sync consumes the log of the tenant
// of its context, with a checkpoint of that tenant, and writes the clocks
// in it. It runs on a store that keeps tenants (issue 19).
func TestSyncServesTheTenantOfItsContext(t *testing.T) {
	f := newFixture(t)
	acme := func() context.Context { return itsm.WithTenant(as(agent), "acme") }
	inc := &incident{ShortDescription: "acme's mail", Priority: 1}
	require.NoError(t, f.incidents.Create(acme(), inc, storage.Command{}))
	evs, err := f.store.History(itsm.WithTenant(context.Background(), "acme"), "incident", inc.ID)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	require.Equal(t, "acme", evs[0].Tenant, "the memory store keeps tenants")
	n, err := f.engine.Sync(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "the default tenant's log holds nothing")
	n, err = f.engine.Sync(itsm.WithTenant(context.Background(), "acme"))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	c, err := f.engine.Clocks().Get(acme(), design.ClockID("incident", inc.ID, "resolution"))
	require.NoError(t, err)
	assert.Equal(t, design.StageInProgress, c.State)
	_, err = f.engine.Clocks().Get(as(agent), design.ClockID("incident", inc.ID, "resolution"))
	require.ErrorIs(t, err, itsm.ErrNotFound, "the clock is acme's")
	cp, err := f.engine.Checkpoint(itsm.WithTenant(context.Background(), "acme"))
	require.NoError(t, err)
	assert.Positive(t, cp)
}
