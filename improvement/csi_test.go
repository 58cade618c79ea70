package improvement_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func newRegister(t *testing.T, k *kit) *improvement.Register {
	t.Helper()
	r, err := improvement.NewRegister(context.Background(), k.store, improvement.RegisterConfig{Clock: k.clock})
	require.NoError(t, err)
	return r
}

func TestCSIItemThroughTheSevenSteps(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{})
	reg := newRegister(t, k)
	ctx := agent

	it := &improvement.Item{Title: "Cut email resolution time", ServiceID: "email", Owner: "olga",
		KPI: improvement.MTTR, SliceService: "email", Target: 2}
	require.NoError(t, reg.IdentifyFromKPI(ctx, e, it, day0, day0.AddDate(0, 0, 1), storage.Command{}))
	assert.Equal(t, "CSI0000001", it.Number)
	assert.Equal(t, improvement.ItemIdentified, it.State)
	assert.Equal(t, 2, it.Step, "what to measure is defined when the item is identified")
	assert.InDelta(t, 3.75, it.Baseline, 1e-9, "baseline is the engine's MTTR for email")

	_, err := reg.Advance(ctx, it.ID, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "step 3 needs approval")
	got, err := reg.Fire(ctx, it.ID, improvement.EventApprove, storage.Command{Reason: "CAB agreed"})
	require.NoError(t, err)
	assert.Equal(t, 3, got.Step)
	for want := 4; want <= 6; want++ {
		got, err = reg.Advance(ctx, it.ID, storage.Command{})
		require.NoError(t, err)
		assert.Equal(t, want, got.Step)
	}
	got, err = reg.Fire(ctx, it.ID, improvement.EventStart, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, 7, got.Step)

	got, err = reg.Measure(ctx, it.ID, 1.5, day0.AddDate(0, 1, 0), day0.AddDate(0, 2, 0), storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, improvement.ItemMeasured, got.State)
	require.NotNil(t, got.Measured)
	assert.InDelta(t, 1.5, *got.Measured, 1e-9)
	assert.True(t, got.Achieved, "1.5h is below the 2h target and lower is better for MTTR")

	got, err = reg.Close(ctx, it.ID, storage.Command{Reason: "target met"})
	require.NoError(t, err)
	assert.Equal(t, improvement.ItemClosed, got.State)
	closed, next, err := reg.Items(ctx, improvement.ItemClosed, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, closed, 1)
	assert.Equal(t, it.ID, closed[0].ID)
	open, _, err := reg.Items(ctx, improvement.ItemIdentified, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, open)
	_, _, err = reg.Items(ctx, "limbo", storage.Paging{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	evs, err := reg.Records().History(ctx, it.ID)
	require.NoError(t, err)
	names := []string{}
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	assert.Equal(t, []string{"create", "approve", "update", "update", "update", "start", "measure", "close"}, names)
	require.NoError(t, reg.Records().Verify(ctx, it.ID))
}

func TestCSIMeasureFromKPI(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{})
	reg := newRegister(t, k)
	it := &improvement.Item{Title: "Raise SLA compliance for P1", KPI: improvement.SLACompliance, SlicePriority: 1, Target: 0.9}
	require.NoError(t, reg.IdentifyFromKPI(agent, e, it, day0, day0.AddDate(0, 0, 1), storage.Command{}))
	assert.InDelta(t, 0, it.Baseline, 1e-9)
	for _, ev := range []string{improvement.EventApprove, improvement.EventStart} {
		_, err := reg.Fire(agent, it.ID, ev, storage.Command{})
		require.NoError(t, err)
	}
	got, err := reg.MeasureFromKPI(agent, e, it.ID, day0, day0.AddDate(0, 0, 7), storage.Command{})
	require.NoError(t, err)
	require.NotNil(t, got.Measured)
	assert.False(t, got.Achieved, "compliance 0 is below the 0.9 target")
}

// TestCSIRefusalsWriteNothing covers the bad inputs of the register: each is
// refused with an error matching a kernel sentinel and the store is as it
// was.
func TestCSIRefusalsWriteNothing(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	e := openSynced(t, k.store, improvement.Config{})
	reg := newRegister(t, k)
	it := &improvement.Item{Title: "Fewer reopenings", KPI: improvement.ReopenRate, Baseline: 0.5, Target: 0.1}
	require.NoError(t, reg.Identify(agent, it, storage.Command{}))
	_, err := reg.Fire(agent, it.ID, improvement.EventApprove, storage.Command{})
	require.NoError(t, err)
	_, err = reg.Fire(agent, it.ID, improvement.EventStart, storage.Command{})
	require.NoError(t, err)

	snapshot := func() ([]storage.Document, []itsm.Event) {
		page, err := k.store.Query(context.Background(), storage.Query{Kind: improvement.ItemKind, Limit: storage.MaxLimit})
		require.NoError(t, err)
		evs, err := k.store.ReadEvents(context.Background(), 0, 100000)
		require.NoError(t, err)
		return page.Docs, evs
	}
	docs, evs := snapshot()
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"close without a measured result", func() error { _, err := reg.Close(agent, it.ID, storage.Command{}); return err }, itsm.ErrInvalidTransition},
		{"measure event without a result", func() error {
			_, err := reg.Fire(agent, it.ID, improvement.EventMeasure, storage.Command{})
			return err
		}, itsm.ErrInvalidTransition},
		{"negative result", func() error { _, err := reg.Measure(agent, it.ID, -1, day0, day0, storage.Command{}); return err }, itsm.ErrInvalid},
		{"NaN result", func() error {
			_, err := reg.Measure(agent, it.ID, math.NaN(), day0, day0, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"measured on an empty range", func() error {
			_, err := reg.MeasureFromKPI(agent, e, it.ID, day0.AddDate(1, 0, 0), day0.AddDate(1, 1, 0), storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"advance past the last step", func() error { _, err := reg.Advance(agent, it.ID, storage.Command{}); return err }, itsm.ErrInvalidTransition},
		{"unknown item", func() error {
			_, err := reg.Fire(agent, itsm.NewID(), improvement.EventApprove, storage.Command{})
			return err
		}, itsm.ErrNotFound},
		{"no actor", func() error {
			_, err := reg.Fire(context.Background(), it.ID, improvement.EventCancel, storage.Command{})
			return err
		}, itsm.ErrForbidden},
		{"identify without a title", func() error { return reg.Identify(agent, &improvement.Item{KPI: improvement.MTTR}, storage.Command{}) }, itsm.ErrInvalid},
		{"identify with an unknown KPI", func() error { return reg.Identify(agent, &improvement.Item{Title: "x", KPI: "joy"}, storage.Command{}) }, itsm.ErrInvalid},
		{"identify MTBF by group", func() error {
			return reg.Identify(agent, &improvement.Item{Title: "x", KPI: improvement.MTBF, SliceGroup: "desk"}, storage.Command{})
		}, itsm.ErrInvalid},
		{"identify an infinite target", func() error {
			return reg.Identify(agent, &improvement.Item{Title: "x", KPI: improvement.MTTR, Target: math.Inf(1)}, storage.Command{})
		}, itsm.ErrInvalid},
		{"baseline from an empty slice", func() error {
			return reg.IdentifyFromKPI(agent, e, &improvement.Item{Title: "x", KPI: improvement.MTTR, SliceService: "nothing"}, day0, day0.AddDate(0, 0, 1), storage.Command{})
		}, itsm.ErrInvalid},
		{"nil item", func() error { return reg.Identify(agent, nil, storage.Command{}) }, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), tt.is)
			d, ev := snapshot()
			assert.Equal(t, docs, d, "items unchanged")
			assert.Equal(t, evs, ev, "event log unchanged")
		})
	}
}

func TestSevenStepsCoverTheLifecycle(t *testing.T) {
	require.Len(t, improvement.SevenSteps(), 7)
	m, err := improvement.ItemLifecycle().Compile()
	require.NoError(t, err)
	for i, s := range improvement.SevenSteps() {
		assert.Equal(t, i+1, s.Number)
		assert.True(t, m.HasState(s.State), s.Name)
		assert.NotEmpty(t, s.What)
	}
	assert.Equal(t, improvement.Higher, improvement.SLACompliance.Better())
	assert.Equal(t, improvement.Lower, improvement.MTTR.Better())
}
