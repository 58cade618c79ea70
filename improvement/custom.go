package improvement

import (
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// CustomResult is one value of a custom field and the KPI computed over the
// records that hold it.
type CustomResult struct {
	Value  string `json:"value"` // a string value as it is, others as their JSON ("30", "true"); "" for none
	Result Result `json:"result"`
}

// ComputeByCustom slices a KPI by a custom field (see storage.Dictionary):
// the hook for the host's own dimensions, where the Engine's incremental
// slices are service, group and priority. It computes q over events (the
// log in Seq order, as storage.ScanEvents or Backend.ReadEvents return
// it) once per value of the field, each record's events going to the value
// its events set last ("custom.<field>" changes; "" for records that never
// had one). An SLA clock's events go with the task it times
// (cfg.SLA.TaskField). The results are ordered by value; cfg configures
// each computation as it would an Engine (Name is unused). A field that is
// not a custom field name (storage.ValidName) or a query Check refuses is
// itsm.ErrInvalid.
//
// It recomputes from the events given, so a host slices what it read:
// a period's events, or a tenant's.
func ComputeByCustom(cfg Config, events []itsm.Event, field string, q Query) ([]CustomResult, error) {
	if !storage.ValidName(field) {
		return nil, itsm.Invalidf("kpi by custom field: %q is not a custom field name", field)
	}
	if err := q.Check(); err != nil {
		return nil, err
	}
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	name := storage.CustomMember + "." + field
	last := map[string]string{}  // record id -> value its events set last
	timed := map[string]string{} // SLA clock id -> the task it times
	for i := range events {
		ev := &events[i]
		for _, c := range ev.Changes {
			switch {
			case c.Field == name:
				last[ev.RecordID] = customText(c.To)
			case ev.Kind == full.SLA.Kind && c.Field == full.SLA.TaskField:
				timed[ev.RecordID] = jsonString(c.To)
			}
		}
	}
	groups := map[string][]itsm.Event{}
	for _, ev := range events {
		id := ev.RecordID
		if task, ok := timed[id]; ok {
			id = task
		}
		v := last[id]
		groups[v] = append(groups[v], ev)
	}
	values := make([]string, 0, len(groups))
	for v := range groups {
		values = append(values, v)
	}
	slices.Sort(values)
	out := make([]CustomResult, 0, len(values))
	for _, v := range values {
		e, err := NewDetached(cfg)
		if err != nil {
			return nil, err
		}
		e.Apply(groups[v])
		r, err := e.Compute(q)
		if err != nil {
			return nil, err
		}
		out = append(out, CustomResult{Value: v, Result: r})
	}
	return out, nil
}

// customText is a custom value as a slice label: a string's content, any
// other value's JSON, "" for none.
func customText(raw string) string {
	if raw == "" || raw == "null" {
		return ""
	}
	if raw[0] == '"' {
		return jsonString(raw)
	}
	return raw
}
