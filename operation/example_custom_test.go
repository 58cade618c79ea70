package operation_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// Custom fields: the host declares a region on incidents (an indexed enum,
// so a queue can be kept per region) in a definition document an admin
// tool can edit, opens incidents carrying it, and lists one region's.
func Example_customFields() {
	ctx := context.Background()
	dict, err := storage.ParseDictionary([]byte(`{"kinds": {"incident": {
	  "fields": [
	    {"name": "region", "type": "enum", "values": ["emea", "apac", "amer"], "required": true, "indexed": true},
	    {"name": "refund", "type": "decimal", "scale": 2, "min": "0"}],
	  "indexes": [{"name": "incident_region_queue", "fields": ["region", "state", "priority", "created_at"]}]}}}`))
	if err != nil {
		panic(err)
	}
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock, Dictionary: dict})
	if err != nil {
		panic(err)
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}})

	for _, region := range []string{"emea", "apac", "emea"} {
		inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
		inc.Custom.SetString("region", region)
		inc.Custom.SetString("refund", "12.5")
		if err := desk.OpenIncident(agent, inc, storage.Command{}); err != nil {
			panic(err)
		}
		clock.Advance(time.Minute)
	}
	bad := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
	bad.Custom.SetString("region", "mars")
	err = desk.OpenIncident(agent, bad, storage.Command{})
	var ve *itsm.ValidationError
	fmt.Println("mars refused:", errors.Is(err, itsm.ErrInvalid), errors.As(err, &ve) && ve.Fields["custom.region"] != "")

	emea, _, err := desk.Incidents().Query(agent, storage.Query{Filters: []storage.Filter{
		storage.Eq("region", storage.String("emea")), storage.Eq("state", storage.String(operation.StateNew))}})
	if err != nil {
		panic(err)
	}
	for _, inc := range emea {
		region, _ := inc.Custom.Str("region")
		refund, _ := inc.Custom.Str("refund")
		fmt.Println(inc.Number, region, refund)
	}
	evs, _ := desk.Incidents().History(agent, emea[0].ID)
	for _, ch := range evs[0].Changes {
		if ch.Field == "custom.region" {
			fmt.Println("audited:", ch.Field, ch.To)
		}
	}
	// Output:
	// mars refused: true true
	// INC0000001 emea 12.50
	// INC0000003 emea 12.50
	// audited: custom.region "emea"
}
