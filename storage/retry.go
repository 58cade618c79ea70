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
// A refusal that matches ErrConflict but that no fresh read can change (an
// approver who has already decided) is returned by fn through Final, and
// Retry returns it at once.
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
		if err = b.Update(ctx, fn); err == nil || !errors.Is(err, itsm.ErrConflict) || isFinal(err) {
			return err
		}
	}
	return err
}

// Final marks err as a refusal Retry must not try again, though it may
// match ErrConflict: errors.Is and errors.As still reach err through it.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return finalError{err}
}

type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }
func (e finalError) Unwrap() error { return e.err }

func isFinal(err error) bool {
	var f finalError
	return errors.As(err, &f)
}
