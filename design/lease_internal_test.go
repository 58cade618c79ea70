package design

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// An engine that claimed a clock and died holds it until its lease
// expires; then another engine takes it over, and the first one's late
// write fails on its lost lease and writes nothing.
func TestLeaseTakeover(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	store := memory.New()
	clock := itsm.NewFakeClock(t0)
	def := Definition{ID: "resolution", Metric: Resolution, Kind: "incident", Targets: map[int]time.Duration{1: 4 * time.Hour}}
	open := func(instance string) *Engine {
		e, err := NewEngine(ctx, store, EngineConfig{Definitions: []Definition{def}, Clock: clock,
			Instance: instance, LeaseTTL: time.Minute})
		require.NoError(t, err)
		return e
	}
	a, b := open("a"), open("b")
	c := &SLAClock{DefinitionID: "resolution", Type: SLA, Metric: Resolution, TaskKind: "incident", TaskID: "inc-1",
		Priority: 1, Target: 4 * time.Hour, StartTime: t0, RunningSince: t0, EvaluatedAt: t0}
	d := &a.defs[0]
	c.State = StageInProgress
	require.NoError(t, settle(c, d, a.always, t0))
	c.State = ""
	require.NoError(t, a.clocks.Create(itsm.WithActor(ctx, a.actor), c, storage.Command{}))
	at := t0.Add(2 * time.Hour) // the 50 % warning
	reader := itsm.WithActor(ctx, itsm.Actor{ID: "reader", Roles: []string{itsm.RoleManager}})

	due, _, err := a.Due(ctx, at, storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, DueClock{ID: c.ID, Version: 1, DefinitionID: "resolution", TaskKind: "incident", TaskID: "inc-1",
		DueAt: t0.Add(4 * time.Hour), NextCheckAt: at}, due[0])
	held, err := a.claim(ctx, due)
	require.NoError(t, err)
	require.Len(t, held, 1)
	again, err := b.claim(ctx, due)
	require.NoError(t, err)
	assert.Empty(t, again, "a valid lease is not taken")

	// a dies here. b finds the clock due but leased.
	n, err := b.Check(ctx, at)
	require.NoError(t, err)
	assert.Zero(t, n)
	stored, err := b.clocks.Get(reader, c.ID)
	require.NoError(t, err)
	assert.Empty(t, stored.Warnings)

	// The lease expires; b takes the clock over and warns.
	clock.Advance(time.Minute + time.Second)
	n, err = b.Check(ctx, at)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	stored, err = b.clocks.Get(reader, c.ID)
	require.NoError(t, err)
	assert.Equal(t, []int{50}, stored.Warnings)
	_, err = b.leases.Get(ctx, store, c.ID)
	assert.ErrorIs(t, err, itsm.ErrNotFound, "the lease went with the write")

	// a comes back and finishes its check: its lease is gone, so it
	// writes nothing.
	wrote, err := a.checkOne(itsm.WithActor(ctx, a.actor), itsm.DefaultTenant, held[0], at)
	require.NoError(t, err)
	assert.False(t, wrote)
	hist, err := a.clocks.History(reader, c.ID)
	require.NoError(t, err)
	checks := 0
	for _, ev := range hist {
		if ev.Reason == "sla check" {
			checks++
		}
	}
	assert.Equal(t, 1, checks)

	// A lease b lost to a takeover makes b's write fail too: a claims
	// after b's lease expired, and b's late write is refused.
	later := t0.Add(3 * time.Hour)
	due, _, err = b.Due(ctx, later, storage.Paging{Limit: 10})
	require.NoError(t, err)
	require.Len(t, due, 1)
	hb, err := b.claim(ctx, due)
	require.NoError(t, err)
	require.Len(t, hb, 1)
	clock.Advance(2 * time.Minute)
	ha, err := a.claim(ctx, due)
	require.NoError(t, err)
	require.Len(t, ha, 1)
	wrote, err = b.checkOne(itsm.WithActor(ctx, b.actor), itsm.DefaultTenant, hb[0], later)
	require.NoError(t, err)
	assert.False(t, wrote, "b's lease was taken over")
	wrote, err = a.checkOne(itsm.WithActor(ctx, a.actor), itsm.DefaultTenant, ha[0], later)
	require.NoError(t, err)
	assert.True(t, wrote)
	stored, err = a.clocks.Get(reader, c.ID)
	require.NoError(t, err)
	assert.Equal(t, []int{50, 75}, stored.Warnings)
}

// A lease left by an engine that died holding a clock that then stopped
// being due is swept by the next Check once it has been expired a whole
// LeaseTTL; a fresh lease is left alone.
func TestLeaseSweep(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	store := memory.New()
	clock := itsm.NewFakeClock(t0)
	def := Definition{ID: "resolution", Metric: Resolution, Kind: "incident", Targets: map[int]time.Duration{1: 4 * time.Hour}}
	e, err := NewEngine(ctx, store, EngineConfig{Definitions: []Definition{def}, Clock: clock, Instance: "a", LeaseTTL: time.Minute})
	require.NoError(t, err)
	claimed, err := e.claim(ctx, []DueClock{{ID: "gone"}})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	count := func() int {
		page, err := store.Query(ctx, storage.Query{Kind: LeaseKind})
		require.NoError(t, err)
		return len(page.Docs)
	}
	for _, tc := range []struct {
		advance time.Duration
		left    int
	}{{0, 1}, {90 * time.Second, 1}, {31 * time.Second, 0}} {
		clock.Advance(tc.advance)
		_, err := e.Check(ctx, clock.Now())
		require.NoError(t, err)
		assert.Equal(t, tc.left, count(), "after %s more", tc.advance)
	}
}
