package transition

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// CIAsOf answers "what did this CI look like at time at": it replays the
// CI's domain events that occurred at or before at (after verifying their
// hash chain) and returns the CI as it stood then, its state, version and
// update time included. A time before the CI existed is ErrNotFound; a
// tampered history is ErrConflict.
func (c *CMDB) CIAsOf(ctx context.Context, id string, at time.Time) (*CI, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("ci: nil context")
	}
	evs, err := c.cis.History(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, &itsm.NotFoundError{Kind: KindCI, ID: id}
	}
	if err := itsm.Verify(evs, ""); err != nil {
		return nil, err
	}
	at = itsm.NormalizeTime(at)
	n := 0
	for n < len(evs) && !evs[n].At.After(at) {
		n++
	}
	if n == 0 {
		return nil, &itsm.NotFoundError{Kind: KindCI, ID: id + " as of " + at.Format(time.RFC3339)}
	}
	out := &CI{}
	if err := replay(evs[:n], out); err != nil {
		return nil, err
	}
	return out, nil
}

// ciAtVersion returns the CI as it stood at version v.
func (c *CMDB) ciAtVersion(ctx context.Context, id string, v int64) (map[string]json.RawMessage, error) {
	return atVersion(ctx, c.backend, KindCI, id, v)
}

func atVersion(ctx context.Context, b storage.Backend, kind, id string, v int64) (map[string]json.RawMessage, error) {
	evs, err := b.History(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	if err := itsm.Verify(evs, ""); err != nil {
		return nil, err
	}
	n := 0
	for n < len(evs) && evs[n].RecordVersion <= v {
		n++
	}
	if n == 0 || evs[n-1].RecordVersion != v {
		return nil, &itsm.NotFoundError{Kind: kind, ID: id}
	}
	return fieldsOf(evs[:n]), nil
}

// fieldsOf folds the changes of events, oldest first, into the record's
// top-level JSON fields as of the last one.
func fieldsOf(evs []itsm.Event) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for _, e := range evs {
		for _, ch := range e.Changes {
			if ch.To == "" {
				delete(m, ch.Field)
			} else {
				m[ch.Field] = json.RawMessage(ch.To)
			}
		}
	}
	last := evs[len(evs)-1]
	m["state"], _ = json.Marshal(last.To)
	m["version"], _ = json.Marshal(last.RecordVersion)
	m["head"], _ = json.Marshal(last.Hash)
	m["updated_at"], _ = json.Marshal(last.At)
	return m
}

// replay decodes the state after evs into rec.
func replay(evs []itsm.Event, rec any) error {
	data, err := json.Marshal(fieldsOf(evs))
	if err != nil {
		return itsm.Invalidf("history of %s %s: %v", evs[0].Kind, evs[0].RecordID, err)
	}
	if err := json.Unmarshal(data, rec); err != nil {
		return itsm.Invalidf("history of %s %s does not decode: %v", evs[0].Kind, evs[0].RecordID, err)
	}
	return nil
}

// diffFields lists the top-level fields that differ between two states,
// ignoring the fields that change on every write.
func diffFields(a, b map[string]json.RawMessage) []itsm.FieldChange {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []itsm.FieldChange
	for _, k := range keys {
		if k == "version" || k == "head" || k == "updated_at" {
			continue
		}
		if string(a[k]) != string(b[k]) {
			out = append(out, itsm.FieldChange{Field: k, From: string(a[k]), To: string(b[k])})
		}
	}
	return out
}
