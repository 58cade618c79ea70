package storage

import (
	"context"
	"errors"

	"github.com/pillars-itsm/pillars/itsm"
)

// DefaultAttempts is how many units of work Retry runs at most when asked
// for zero attempts.
const DefaultAttempts = 4

// Retry runs fn in a unit of work on b and, when the unit fails with a
// version conflict from a concurrent writer (an error matching
// itsm.ErrConflict), runs it again in a fresh unit, at most attempts times
// in all (DefaultAttempts when attempts is 0 or less). It is for commands
// that write several records together: fn must read everything it decides
// on through the Tx it is given, so that a retry decides on fresh data. The
// last error is returned as it is; nothing of a failed attempt is written.
//
// A refusal that must not be retried although it matches ErrConflict (a
// budget period overlapping another) should be recognised by the caller and
// returned by fn wrapped in a type that does not match ErrConflict, or
// checked before Retry is called.
func Retry(ctx context.Context, b Backend, attempts int, fn func(tx Tx) error) error {
	if ctx == nil {
		return itsm.Invalidf("storage: retry with a nil context")
	}
	if b == nil || fn == nil {
		return itsm.Invalidf("storage: retry needs a backend and a function")
	}
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	var err error
	for range attempts {
		if err = b.Update(ctx, fn); err == nil || !errors.Is(err, itsm.ErrConflict) {
			return err
		}
	}
	return err
}
