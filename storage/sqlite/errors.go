package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrClosed is returned by every method of a closed Store. It matches
// itsm.ErrInvalid: using a closed store is a programming error.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "storage/sqlite: store is closed" }

// Is makes ErrClosed match itsm.ErrInvalid.
func (closedError) Is(target error) bool { return target == itsm.ErrInvalid }

// errNotMigrated is returned by a Store opened WithMigrate(false) on a
// database whose schema is behind this package, until Migrate runs.
var errNotMigrated = fmt.Errorf("%w: storage/sqlite: database schema is not up to date; call Migrate", itsm.ErrInvalid)

// interpretError maps an error from database/sql or the SQLite driver to the
// itsm sentinels. It is the only place that knows SQLite's result codes:
//
//   - a UNIQUE or PRIMARY KEY constraint failure is ErrConflict (the key
//     exists already);
//   - SQLITE_BUSY and SQLITE_LOCKED (another process held the write lock
//     longer than the busy timeout) are ErrConflict, whose documented answer
//     is to retry;
//   - other constraint failures (NOT NULL, CHECK, the append-only triggers of
//     the event log), SQLITE_TOOBIG and SQLITE_RANGE are ErrInvalid;
//   - a use of a finished database/sql transaction is ErrInvalid;
//   - SQLITE_INTERRUPT, raised when a context ends mid-statement, becomes the
//     context's error when the driver did not return it already.
//
// The driver error stays in the chain, so errors.As(err, **sqlite.Error)
// still reaches it. Errors that already match a sentinel, context errors and
// everything else (I/O errors, a corrupt file) are returned unchanged.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{itsm.ErrNotFound, itsm.ErrConflict, itsm.ErrInvalid} {
		if errors.Is(err, s) {
			return err
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, sql.ErrTxDone) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %w", itsm.ErrInvalid, err)
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch code := se.Code(); code & 0xff {
	case sqlite3.SQLITE_CONSTRAINT:
		if code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return fmt.Errorf("%w: %w", itsm.ErrConflict, err)
		}
		return fmt.Errorf("%w: %w", itsm.ErrInvalid, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: database is busy: %w", itsm.ErrConflict, err)
	case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_RANGE:
		return fmt.Errorf("%w: %w", itsm.ErrInvalid, err)
	case sqlite3.SQLITE_INTERRUPT:
		return fmt.Errorf("%w: %w", context.Canceled, err)
	}
	return err
}

// corruptError reports a stored row that cannot be decoded. It names the
// record, and matches nothing but itself: the file holds something this
// package never wrote.
type corruptError struct {
	What string // "incident 0190…" or "event seq 42"
	Err  error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("storage/sqlite: %s: stored row is corrupt: %v", e.What, e.Err)
}

func (e *corruptError) Unwrap() error { return e.Err }
