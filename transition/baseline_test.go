package transition_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

func TestCIAsOf(t *testing.T) {
	e := newEnv(t)
	ctx := as(admin)
	c := &transition.CI{Name: "db01", Class: transition.ClassDatabase, Attributes: map[string]any{"engine": "postgres", "version": "14"}}
	require.NoError(t, e.cmdb.CreateCI(as(agent), c, storage.Command{}))
	e.clock.Advance(24 * time.Hour) // day 1
	_, err := e.cmdb.FireCI(as(agent), c.ID, transition.CIEventInstall, storage.Command{}, nil)
	require.NoError(t, err)
	e.clock.Advance(24 * time.Hour) // day 2
	_, err = e.cmdb.UpdateCI(as(agent), c.ID, storage.Command{}, func(ci *transition.CI) error {
		ci.Attributes["version"] = "16"
		ci.SupportGroup = "dba"
		return nil
	})
	require.NoError(t, err)

	tests := []struct {
		at      time.Time
		state   string
		version any
		group   string
		rev     int64
	}{
		{t0, transition.CIOrdered, "14", "", 1},
		{t0.Add(36 * time.Hour), transition.CIInstalled, "14", "", 2},
		{t0.Add(48 * time.Hour), transition.CIInstalled, "16", "dba", 3},
		{t0.Add(1000 * time.Hour), transition.CIInstalled, "16", "dba", 3},
	}
	for _, tt := range tests {
		got, err := e.cmdb.CIAsOf(ctx, c.ID, tt.at)
		require.NoError(t, err)
		assert.Equal(t, tt.state, got.State, tt.at)
		assert.Equal(t, tt.version, got.Attributes["version"], tt.at)
		assert.Equal(t, tt.group, got.SupportGroup, tt.at)
		assert.Equal(t, tt.rev, got.Version, tt.at)
		assert.Equal(t, c.ID, got.ID)
		assert.Equal(t, "db01", got.Name)
	}
	now, err := e.cmdb.CI(ctx, c.ID)
	require.NoError(t, err)
	last, err := e.cmdb.CIAsOf(ctx, c.ID, e.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, now, last, "replaying every event gives the stored record")

	_, err = e.cmdb.CIAsOf(ctx, c.ID, t0.Add(-time.Second))
	assert.ErrorIs(t, err, itsm.ErrNotFound)
	_, err = e.cmdb.CIAsOf(ctx, itsm.NewID(), t0)
	assert.ErrorIs(t, err, itsm.ErrNotFound)
}

func TestBaselineDiff(t *testing.T) {
	b := newBank(t)
	ctx := as(admin)
	scope := transition.BaselineScope{CIs: []string{b.svc}, Depth: 10, Direction: transition.Downstream}
	bl1, err := b.cmdb.CreateBaseline(as(agent), "banking before upgrade", "", scope, storage.Command{})
	require.NoError(t, err)
	assert.Equal(t, "BL0000001", bl1.Number)
	assert.Len(t, bl1.CIs, 8)           // the service and the 7 CIs it rests on
	assert.Len(t, bl1.Relationships, 8) // every relationship among them (not member_of: the cluster is out of scope)

	d, err := b.cmdb.DiffBaselineNow(ctx, bl1.ID)
	require.NoError(t, err)
	assert.True(t, d.Empty())

	// Upgrade the database, add a cache, drop the web tier's VM link.
	b.clock.Advance(time.Hour)
	_, err = b.cmdb.UpdateCI(as(agent), b.db, storage.Command{}, func(c *transition.CI) error {
		c.Attributes = map[string]any{"version": "16"}
		return nil
	})
	require.NoError(t, err)
	cache := b.ci(t, "cache", transition.ClassDatabase)
	cacheRel := b.rel(t, b.api, transition.RelDependsOn, cache)
	rels, err := b.cmdb.Relationships(ctx, b.web)
	require.NoError(t, err)
	var dropped string
	for _, r := range rels {
		if r.Type == transition.RelRunsOn {
			dropped = r.ID
			_, err := b.cmdb.Unrelate(as(agent), r.ID, storage.Command{})
			require.NoError(t, err)
		}
	}

	d, err = b.cmdb.DiffBaselineNow(ctx, bl1.ID)
	require.NoError(t, err)
	assert.Equal(t, "now", d.To)
	byID := map[string]transition.CIDiff{}
	for _, c := range d.CIs {
		byID[c.ID] = c
	}
	assert.Equal(t, transition.DiffAdded, byID[cache].Change)
	assert.Equal(t, transition.DiffChanged, byID[b.db].Change)
	assert.Equal(t, []itsm.FieldChange{{Field: "attributes", From: "", To: `{"version":"16"}`}}, byID[b.db].Fields)
	// vm1 is no longer reachable from the service: it left the scope.
	assert.Equal(t, transition.DiffRemoved, byID[b.vm1].Change)
	relByID := map[string]string{}
	for _, r := range d.Relationships {
		relByID[r.ID] = r.Change
	}
	assert.Equal(t, transition.DiffAdded, relByID[cacheRel])
	assert.Equal(t, transition.DiffRemoved, relByID[dropped])

	bl2, err := b.cmdb.CreateBaseline(as(agent), "banking after upgrade", "", scope, storage.Command{})
	require.NoError(t, err)
	d2, err := b.cmdb.DiffBaselines(ctx, bl1.ID, bl2.ID)
	require.NoError(t, err)
	assert.Equal(t, d.CIs, d2.CIs)
	assert.Equal(t, d.Relationships, d2.Relationships)
	assert.Equal(t, bl2.Number, d2.To)

	back, err := b.cmdb.DiffBaselines(ctx, bl2.ID, bl1.ID)
	require.NoError(t, err)
	assert.Len(t, back.CIs, len(d.CIs))

	_, err = b.cmdb.ArchiveBaseline(as(agent), bl1.ID, storage.Command{})
	require.NoError(t, err)
}

func TestBaselineRefusals(t *testing.T) {
	b := newBank(t)
	ctx := as(admin)
	bl, err := b.cmdb.CreateBaseline(as(agent), "x", "", transition.BaselineScope{CIs: []string{b.db}}, storage.Command{})
	require.NoError(t, err)
	before := takeSnapshot(t, b.store, cmdbKinds...)
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"diff unknown baseline", func() error { _, err := b.cmdb.DiffBaselines(ctx, bl.ID, itsm.NewID()); return err }, itsm.ErrNotFound},
		{"diff unknown first", func() error { _, err := b.cmdb.DiffBaselines(ctx, "nope", bl.ID); return err }, itsm.ErrNotFound},
		{"diff now unknown", func() error { _, err := b.cmdb.DiffBaselineNow(ctx, itsm.NewID()); return err }, itsm.ErrNotFound},
		{"empty scope", func() error {
			_, err := b.cmdb.CreateBaseline(as(agent), "x", "", transition.BaselineScope{}, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"no name", func() error {
			_, err := b.cmdb.CreateBaseline(as(agent), "", "", transition.BaselineScope{CIs: []string{b.db}}, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"unknown CI", func() error {
			_, err := b.cmdb.CreateBaseline(as(agent), "x", "", transition.BaselineScope{CIs: []string{itsm.NewID()}}, storage.Command{})
			return err
		}, itsm.ErrNotFound},
		{"depth without direction", func() error {
			_, err := b.cmdb.CreateBaseline(as(agent), "x", "", transition.BaselineScope{CIs: []string{b.db}, Depth: 2}, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"caller", func() error {
			_, err := b.cmdb.ArchiveBaseline(as(callerA), bl.ID, storage.Command{})
			return err
		}, itsm.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			require.ErrorIs(t, err, tt.is)
			assert.NotEmpty(t, err.Error())
			assert.Equal(t, before, takeSnapshot(t, b.store, cmdbKinds...))
		})
	}
}
