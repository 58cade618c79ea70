package operation_test

import (
	"testing"

	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// benchFields declares five custom fields on incidents, two of them indexed.
const benchFields = `{"kinds": {"incident": {"fields": [
  {"name": "region", "type": "enum", "values": ["emea", "apac", "amer"], "indexed": true},
  {"name": "outage_minutes", "type": "integer", "min": "0", "indexed": true},
  {"name": "refund", "type": "decimal", "scale": 2},
  {"name": "vip", "type": "boolean"},
  {"name": "hint", "type": "string", "internal": true}]}}}`

// BenchmarkIncidentCustomFields opens an incident and starts it (two units
// of work) without custom fields, and with five set on the incident: the
// ratio of the two is what checking, indexing and auditing them costs.
func BenchmarkIncidentCustomFields(b *testing.B) {
	for _, c := range []struct {
		name   string
		fields bool
	}{{"none", false}, {"five", true}} {
		b.Run(c.name, func(b *testing.B) {
			f := newFixture(b, func(cfg *operation.Config) {
				if c.fields {
					d, err := storage.ParseDictionary([]byte(benchFields))
					if err != nil {
						b.Fatal(err)
					}
					cfg.Dictionary = d
				}
			})
			ctx := as(ann)
			b.ReportAllocs()
			for b.Loop() {
				inc := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
				if c.fields {
					inc.Custom.SetString("region", "emea")
					inc.Custom.SetInt("outage_minutes", 30)
					inc.Custom.SetString("refund", "12.50")
					inc.Custom.SetBool("vip", true)
					inc.Custom.SetString("hint", "firmware")
				}
				if err := f.desk.OpenIncident(ctx, inc, storage.Command{}); err != nil {
					b.Fatal(err)
				}
				if _, err := f.desk.StartIncident(ctx, inc.ID, storage.Command{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
