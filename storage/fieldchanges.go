package storage

import (
	"github.com/pillars-itsm/pillars/itsm"
)

// FieldChanges returns the changes a write of the encoded record after over
// the encoded record before lists in its event, as Records writes them:
// one per top-level member that differs, by name, with the raw JSON of
// each side ("" for a member one side lacks), leaving out the members
// every write changes (version, head, updated_at). Code that writes a
// record kind it owns without Records (a bulk rewrite sealing its own
// events) lists its changes with it, so they read as every other event's.
// Either side not being a JSON object is ErrInvalid.
func FieldChanges(before, after []byte) ([]itsm.FieldChange, error) {
	changes, _, err := diffJSON(before, after, []string{"version", "head", "updated_at"}, "")
	return changes, err
}
