package design_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// TestNewEngineRefusesBadCodeDefinitions: definitions declared in code
// are held to the rules SaveDefinition holds run-time saves to, at
// NewEngine, with an *itsm.ValidationError naming the definition (and the
// one it overlaps), and nothing written to the store.
func TestNewEngineRefusesBadCodeDefinitions(t *testing.T) {
	cases := []struct {
		name  string
		defs  []design.Definition
		names []string // what the message must name
	}{
		{"overlapping", []design.Definition{slaWith("gold", nil), slaWith("silver", func(d *design.Definition) { d.Priorities = []int{1} })}, []string{"gold", "silver"}},
		{"overlapping on a shared service", []design.Definition{
			slaWith("mail", func(d *design.Definition) { d.Services = []string{"mail", "web"} }),
			slaWith("web", func(d *design.Definition) { d.Services = []string{"web"} })}, []string{"mail", "web"}},
		{"same id twice", []design.Definition{slaWith("gold", nil), slaWith("gold", func(d *design.Definition) { d.Type = design.OLA })}, []string{"gold"}},
		{"zero target", []design.Definition{slaWith("gold", func(d *design.Definition) { d.Targets[2] = 0 })}, []string{"gold"}},
		{"negative target", []design.Definition{slaWith("gold", func(d *design.Definition) { d.Targets[1] = -time.Hour })}, []string{"gold"}},
		{"unknown calendar", []design.Definition{slaWith("gold", func(d *design.Definition) { d.Calendar = "nowhere" })}, []string{"gold"}},
		{"condition on an unknown field", []design.Definition{slaWith("gold", func(d *design.Definition) {
			d.Conditions = []design.Condition{{Field: "custom.nowhere", Values: []string{"x"}}}
		})}, []string{"gold"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New()
			_, err := design.NewEngine(context.Background(), store, design.EngineConfig{Definitions: tc.defs,
				Calendars: []*calendar.Calendar{officeHours(t)}})
			require.Error(t, err)
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			var verr *itsm.ValidationError
			require.True(t, errors.As(err, &verr), "%T: %v", err, err)
			for _, n := range tc.names {
				assert.Contains(t, err.Error(), n)
			}
			for _, kind := range []string{design.DefinitionKind, design.DefinitionVersionKind, design.ClockKind} {
				page, err := store.Query(context.Background(), storage.Query{Kind: kind, Limit: 10})
				if err == nil {
					assert.Empty(t, page.Docs, "nothing of %s is written", kind)
				} else {
					assert.ErrorContains(t, err, "not registered", "the kind %s is not even registered", kind)
				}
			}
		})
	}

	// Definitions that do not overlap run side by side.
	_, err := design.NewEngine(context.Background(), memory.New(), design.EngineConfig{Definitions: []design.Definition{
		slaWith("gold", func(d *design.Definition) { d.Priorities = []int{1} }),
		slaWith("silver", func(d *design.Definition) { d.Priorities = []int{2, 3} }),
		slaWith("ola", func(d *design.Definition) { d.Type = design.OLA }),
	}, Calendars: []*calendar.Calendar{officeHours(t)}})
	require.NoError(t, err)
}

// TestSeedingRefusesACodeDefinitionOverlappingASavedOne: a definition
// added to the code later that overlaps one a tenant saved at run time is
// refused when the engine would seed it into the tenant (NewEngine, for
// the default tenant), with an
// *itsm.ValidationError naming both, and is not written; one that does not
// overlap is seeded.
func TestSeedingRefusesACodeDefinitionOverlappingASavedOne(t *testing.T) {
	cases := []struct {
		name    string
		code    design.Definition
		refused bool
	}{
		{"overlapping", slaWith("gold", func(d *design.Definition) { d.Priorities = []int{1} }), true},
		{"another metric", slaWith("gold", func(d *design.Definition) { d.Type = design.OLA }), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecordFixture(t, memory.New()) // its engine declares no definition of incidents
			_, _, err := f.engine.SaveDefinition(as(agent), slaWith("custom", nil), design.KeepVersion, storage.Command{})
			require.NoError(t, err)
			later, err := design.NewEngine(context.Background(), f.store, design.EngineConfig{Name: "later", Definitions: []design.Definition{tc.code},
				Calendars: []*calendar.Calendar{officeHours(t)}, Clock: f.clock})
			if err == nil { // NewEngine seeds the default tenant; another tenant would meet it at its first Sync
				_, err = later.Sync(context.Background())
			}
			_, getErr := f.engine.DefinitionRecords().Get(as(agent), design.DefinitionRecordID(itsm.DefaultTenant, "gold"))
			if !tc.refused {
				require.NoError(t, err)
				require.NoError(t, getErr, "gold is seeded")
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			var verr *itsm.ValidationError
			require.True(t, errors.As(err, &verr), "%T: %v", err, err)
			assert.Contains(t, err.Error(), `"gold"`)
			assert.Contains(t, err.Error(), `"custom"`)
			assert.ErrorIs(t, getErr, itsm.ErrNotFound, "gold is not written")
		})
	}
}

// slaWith is resolutionSLA under the id, changed by edit when not nil.
func slaWith(id string, edit func(*design.Definition)) design.Definition {
	d := resolutionSLA()
	d.ID = id
	if edit != nil {
		edit(&d)
	}
	return d
}
