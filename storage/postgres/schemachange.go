package postgres

import (
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TODO(ten-core): storage.SchemaChangeError and storage.ZeroValue replace these.

func schemaChangeError(kind, field string, from, to storage.FieldType) error {
	return fmt.Errorf("%w: postgres: kind %s: field %q is registered as %s and cannot become %s; declare a field with a new name instead",
		itsm.ErrConflict, kind, field, from, to)
}

func zeroValue(t storage.FieldType) storage.Value {
	switch t {
	case storage.TypeString:
		return storage.String("")
	case storage.TypeInt:
		return storage.Int(0)
	}
	return storage.Time(time.Time{})
}
