package design_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestOutageCustomFields(t *testing.T) {
	dict, err := storage.NewDictionary(storage.Definitions{Kinds: map[string]storage.KindFields{
		design.OutageKind: {Fields: []storage.CustomField{
			{Name: "root_cause", Type: storage.CustomEnum, Values: []string{"power", "network"}, Indexed: true}}}}})
	require.NoError(t, err)
	clock := itsm.NewFakeClock(monday.Add(24 * time.Hour))
	av, err := design.NewAvailability(context.Background(), memory.New(), design.AvailabilityConfig{Clock: clock, Dictionary: dict})
	require.NoError(t, err)
	o := &design.Outage{ServiceID: "email", Type: design.Unplanned, Begin: monday, End: monday.Add(time.Hour)}
	o.Custom.SetString("root_cause", "aliens")
	err = av.RecordOutage(as(agent), o, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "custom.root_cause")
	o = &design.Outage{ServiceID: "email", Type: design.Unplanned, Begin: monday, End: monday.Add(time.Hour)}
	o.Custom.SetString("root_cause", "power")
	require.NoError(t, av.RecordOutage(as(agent), o, storage.Command{}))
	got, _, err := av.Outages().Query(as(agent), storage.Query{Filters: []storage.Filter{storage.Eq("root_cause", storage.String("power"))}})
	require.NoError(t, err)
	assert.Len(t, got, 1)
}
