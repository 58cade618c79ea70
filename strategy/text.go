package strategy

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// MaxText bounds, in bytes, every name and reference a strategy record
// holds (names, owners, categories, units, service and catalogue ids,
// measure and item names): the store's bound on an indexed string. Free
// text (descriptions, outcomes, notes, patterns, surveys, contacts) is
// bounded only by the store's document size. Names, references and free
// text alike must be valid UTF-8 without NUL: a NUL byte is refused, not
// stored, since SQL text columns cannot hold it and a reader cannot see it.
const MaxText = storage.MaxStringValue

// checkNames adds to v a problem for each name or reference (field, value
// pairs) that is too long, not UTF-8 or holds NUL.
func checkNames(v *itsm.ValidationError, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if len(pairs[i+1]) > MaxText {
			v.Add(pairs[i], fmt.Sprintf("is %d bytes, more than %d", len(pairs[i+1]), MaxText))
		} else {
			checkFree(v, pairs[i], pairs[i+1])
		}
	}
}

// checkFree adds to v a problem for each free text (field, value pairs)
// that is not UTF-8 or holds NUL.
func checkFree(v *itsm.ValidationError, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		switch s := pairs[i+1]; {
		case !utf8.ValidString(s):
			v.Add(pairs[i], "is not valid UTF-8")
		case strings.IndexByte(s, 0) >= 0:
			v.Add(pairs[i], "holds a NUL byte")
		}
	}
}

// The years a budget or demand period must lie in: a period outside them
// is a mistake refused (year 9999), not a record kept.
const (
	MinYear = 1900
	MaxYear = 2300
)

// checkPeriod adds to v a problem when a non-zero bound of the period lies
// outside MinYear..MaxYear.
func checkPeriod(v *itsm.ValidationError, start, end time.Time) {
	for _, b := range []struct {
		field string
		t     time.Time
	}{{"period_start", start}, {"period_end", end}} {
		if y := b.t.UTC().Year(); !b.t.IsZero() && (y < MinYear || y > MaxYear) {
			v.Add(b.field, fmt.Sprintf("%s is outside the years %d..%d", b.t.UTC().Format(time.RFC3339), MinYear, MaxYear))
		}
	}
}
