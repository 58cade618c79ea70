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

func TestClassesDefine(t *testing.T) {
	cl := transition.DefaultClasses()
	require.NoError(t, cl.Define(transition.Class{Name: "linux_server", Parent: transition.ClassServer, Label: "Linux server",
		Attributes: []transition.Attribute{{Name: "kernel", Type: transition.AttrString, Required: true}}}))
	require.NoError(t, cl.Define(transition.Class{Name: transition.ClassServer,
		Attributes: []transition.Attribute{{Name: "rack_unit", Type: transition.AttrInt}}}))
	assert.True(t, cl.IsA("linux_server", transition.ClassHardware))
	assert.False(t, cl.IsA(transition.ClassDatabase, transition.ClassHardware))
	assert.Contains(t, cl.Descendants(transition.ClassServer), "linux_server")
	attrs, err := cl.Attributes("linux_server")
	require.NoError(t, err)
	var names []string
	for _, a := range attrs {
		names = append(names, a.Name)
	}
	assert.Equal(t, []string{"serial_number", "manufacturer", "model", "location", "os", "os_version", "cpu_count", "ram_mb", "ip_address", "fqdn", "rack_unit", "hypervisor"}[:11], names[:11])
	assert.Contains(t, names, "kernel")

	bad := []transition.Class{
		{Name: "Bad Name", Parent: transition.ClassCI},
		{Name: "orphan"},
		{Name: "x", Parent: "nope"},
		{Name: "y", Parent: transition.ClassServer, Attributes: []transition.Attribute{{Name: "os", Type: transition.AttrString}}},
		{Name: "z", Parent: transition.ClassCI, Attributes: []transition.Attribute{{Name: "a", Type: "blob"}}},
		{Name: "w", Parent: transition.ClassCI, Attributes: []transition.Attribute{{Name: "a", Type: transition.AttrInt, Choices: []string{"1"}}}},
		{Name: transition.ClassServer, Parent: transition.ClassApplication},
	}
	for _, b := range bad {
		assert.ErrorIs(t, cl.Define(b), itsm.ErrInvalid, b.Name)
	}
	_, ok := cl.Class("x")
	assert.False(t, ok, "a refused class is not defined")
}

func TestCreateCINormalisesAttributes(t *testing.T) {
	e := newEnv(t)
	c := &transition.CI{Name: "db01", Class: transition.ClassVirtualMachine, Environment: "production", BusinessCriticality: 1,
		Attributes: map[string]any{"cpu_count": 8.0, "ram_mb": 16384, "os": "linux", "hypervisor": "kvm"}}
	require.NoError(t, e.cmdb.CreateCI(as(agent), c, storage.Command{}))
	assert.Equal(t, transition.CIOrdered, c.State)
	assert.Equal(t, int64(8), c.Attributes["cpu_count"])

	got, err := e.cmdb.CI(as(admin), c.ID)
	require.NoError(t, err)
	assert.Equal(t, "db01", got.Name)
	assert.EqualValues(t, 16384, got.Attributes["ram_mb"])

	e.clock.Advance(time.Hour)
	got, err = e.cmdb.FireCI(as(agent), c.ID, transition.CIEventInstall, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.CIInstalled, got.State)
	assert.Equal(t, t0.Add(time.Hour), got.InstalledAt)
}

func TestCIRefusalsWriteNothing(t *testing.T) {
	e := newEnv(t)
	id := e.ci(t, "web01", transition.ClassServer)
	before := takeSnapshot(t, e.store, cmdbKinds...)
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"no name", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Class: transition.ClassServer}, storage.Command{})
		}, itsm.ErrInvalid},
		{"unknown class", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: "toaster"}, storage.Command{})
		}, itsm.ErrInvalid},
		{"undeclared attribute", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: transition.ClassDatabase, Attributes: map[string]any{"cpu_count": 2}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"wrong attribute type", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: transition.ClassServer, Attributes: map[string]any{"cpu_count": "two"}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"fractional int", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: transition.ClassServer, Attributes: map[string]any{"cpu_count": 2.5}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"choice not allowed", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: transition.ClassNetworkDevice, Attributes: map[string]any{"device_type": "toaster"}}, storage.Command{})
		}, itsm.ErrInvalid},
		{"criticality out of range", func() error {
			return e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: transition.ClassServer, BusinessCriticality: 9}, storage.Command{})
		}, itsm.ErrInvalid},
		{"nil ci", func() error { return e.cmdb.CreateCI(as(agent), nil, storage.Command{}) }, itsm.ErrInvalid},
		{"caller may not install", func() error {
			_, err := e.cmdb.FireCI(as(callerA), id, transition.CIEventRetire, storage.Command{}, nil)
			return err
		}, itsm.ErrForbidden},
		{"maintenance without reason", func() error {
			_, err := e.cmdb.FireCI(as(agent), id, transition.CIEventStartMaintenance, storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"install twice", func() error {
			_, err := e.cmdb.FireCI(as(agent), id, transition.CIEventInstall, storage.Command{}, nil)
			return err
		}, itsm.ErrInvalidTransition},
		{"update to bad class", func() error {
			_, err := e.cmdb.UpdateCI(as(agent), id, storage.Command{}, func(c *transition.CI) error { c.Class = "toaster"; return nil })
			return err
		}, itsm.ErrInvalid},
		{"update unknown", func() error {
			_, err := e.cmdb.UpdateCI(as(agent), itsm.NewID(), storage.Command{}, func(c *transition.CI) error { c.Name = "y"; return nil })
			return err
		}, itsm.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.run(), tt.is)
			assert.Equal(t, before, takeSnapshot(t, e.store, cmdbKinds...))
		})
	}
}

func TestCIMaintenanceAndRetire(t *testing.T) {
	e := newEnv(t)
	id := e.ci(t, "sw01", transition.ClassNetworkDevice)
	got, err := e.cmdb.FireCI(as(agent), id, transition.CIEventStartMaintenance, storage.Command{Reason: "firmware"},
		func(c *transition.CI) error { c.MaintenanceReason = "firmware upgrade"; return nil })
	require.NoError(t, err)
	assert.Equal(t, transition.CIInMaintenance, got.State)
	got, err = e.cmdb.FireCI(as(agent), id, transition.CIEventEndMaintenance, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.CIInstalled, got.State)
	assert.Empty(t, got.MaintenanceReason)
	e.clock.Advance(time.Hour)
	got, err = e.cmdb.FireCI(as(agent), id, transition.CIEventRetire, storage.Command{}, nil)
	require.NoError(t, err)
	assert.Equal(t, transition.CIRetired, got.State)
	assert.Equal(t, t0.Add(time.Hour), got.RetiredAt)
	require.NoError(t, e.cmdb.CIRecords().Verify(as(admin), id))
}

func TestRelateChecks(t *testing.T) {
	e := newEnv(t)
	app := e.ci(t, "crm", transition.ClassApplication)
	db := e.ci(t, "crm-db", transition.ClassDatabase)
	vm := e.ci(t, "vm1", transition.ClassVirtualMachine)
	host := e.ci(t, "esx1", transition.ClassServer)
	host2 := e.ci(t, "esx2", transition.ClassServer)
	cluster := e.ci(t, "esx-cluster", transition.ClassCluster)
	retired := e.ci(t, "old", transition.ClassServer)
	_, err := e.cmdb.FireCI(as(agent), retired, transition.CIEventRetire, storage.Command{}, nil)
	require.NoError(t, err)

	types := e.cmdb.RelationshipTypes()
	rt, _ := types.Type(transition.RelRunsOn)
	rt.MaxPerParent = 1
	require.NoError(t, types.Define(rt, e.cmdb.Classes()))

	e.rel(t, app, transition.RelDependsOn, db)
	e.rel(t, app, transition.RelRunsOn, vm)
	e.rel(t, vm, transition.RelRunsOn, host)
	memb := e.rel(t, host, transition.RelMemberOf, cluster)
	r, err := e.cmdb.Relationship(as(admin), memb)
	require.NoError(t, err)
	assert.Equal(t, cluster, r.Upstream, "a cluster depends on its members")
	assert.Equal(t, host, r.Downstream)
	e.rel(t, db, transition.RelConnectedTo, app)
	e.rel(t, app, transition.RelConnectedTo, db) // connected_to allows cycles

	before := takeSnapshot(t, e.store, cmdbKinds...)
	tests := []struct {
		name             string
		parent, typ, kid string
		is               error
		mentions         string
	}{
		{"missing parent", itsm.NewID(), transition.RelDependsOn, db, itsm.ErrNotFound, "not found"},
		{"missing child", app, transition.RelDependsOn, itsm.NewID(), itsm.ErrNotFound, "not found"},
		{"unknown type", app, "likes", db, itsm.ErrInvalid, "likes"},
		{"self", app, transition.RelDependsOn, app, itsm.ErrInvalid, "itself"},
		{"retired end", app, transition.RelDependsOn, retired, itsm.ErrInvalid, "retired"},
		{"duplicate", app, transition.RelDependsOn, db, itsm.ErrConflict, "conflict"},
		{"cardinality", vm, transition.RelRunsOn, host2, itsm.ErrInvalid, "cardinality"},
		{"direct cycle", db, transition.RelDependsOn, app, itsm.ErrInvalid, "cycle"},
		{"no actor", app, transition.RelDependsOn, host2, itsm.ErrForbidden, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := as(agent)
			if tt.name == "no actor" {
				ctx = context.Background()
			}
			_, err := e.cmdb.Relate(ctx, tt.parent, tt.typ, tt.kid, storage.Command{})
			require.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.mentions)
			assert.Equal(t, before, takeSnapshot(t, e.store, cmdbKinds...))
		})
	}

	// A longer cycle: host depends_on x depends_on y, then y depends_on host.
	x := e.ci(t, "x", transition.ClassApplication)
	y := e.ci(t, "y", transition.ClassApplication)
	e.rel(t, host, transition.RelDependsOn, x)
	e.rel(t, x, transition.RelDependsOn, y)
	_, err = e.cmdb.Relate(as(agent), y, transition.RelDependsOn, host, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)

	// Class restrictions.
	require.NoError(t, types.Define(transition.RelationshipType{Name: "hosted_on", Reverse: "hosts_app",
		ParentClasses: []string{transition.ClassApplication}, ChildClasses: []string{transition.ClassHardware}}, e.cmdb.Classes()))
	_, err = e.cmdb.Relate(as(agent), db, "hosted_on", host, storage.Command{})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	assert.Contains(t, err.Error(), "class database")
	e.rel(t, app, "hosted_on", vm)

	rels, err := e.cmdb.Relationships(as(admin), app)
	require.NoError(t, err)
	assert.Len(t, rels, 5)

	removed, err := e.cmdb.Unrelate(as(agent), rels[0].ID, storage.Command{Reason: "decommissioned"})
	require.NoError(t, err)
	assert.Equal(t, transition.RelRemoved, removed.State)
	rels2, err := e.cmdb.Relationships(as(admin), app)
	require.NoError(t, err)
	assert.Len(t, rels2, 4)
}

func TestRequiredAndTimeAttributes(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.cmdb.Classes().Define(transition.Class{Name: "certificate", Parent: transition.ClassCI,
		Attributes: []transition.Attribute{
			{Name: "expires_at", Type: transition.AttrTime, Required: true},
			{Name: "wildcard", Type: transition.AttrBool},
			{Name: "key_bits", Type: transition.AttrFloat},
		}}))
	c := &transition.CI{Name: "*.bank.example", Class: "certificate"}
	err := e.cmdb.CreateCI(as(agent), c, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields["attributes.expires_at"], "required")
	paris := time.FixedZone("CET", 3600)
	c.Attributes = map[string]any{"expires_at": time.Date(2027, 1, 1, 1, 0, 0, 0, paris), "wildcard": true, "key_bits": 2048}
	require.NoError(t, e.cmdb.CreateCI(as(agent), c, storage.Command{}))
	assert.Equal(t, "2027-01-01T00:00:00Z", c.Attributes["expires_at"])
	assert.Equal(t, 2048.0, c.Attributes["key_bits"])
	for _, bad := range []map[string]any{
		{"expires_at": "tomorrow"},
		{"expires_at": "2027-01-01T00:00:00Z", "wildcard": "yes"},
		{"expires_at": "2027-01-01T00:00:00Z", "key_bits": "many"},
	} {
		err := e.cmdb.CreateCI(as(agent), &transition.CI{Name: "x", Class: "certificate", Attributes: bad}, storage.Command{})
		assert.ErrorIs(t, err, itsm.ErrInvalid)
	}
}
