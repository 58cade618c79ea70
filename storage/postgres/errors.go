package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pillars-itsm/pillars/itsm"
)

// interpretError is the one place where driver and server errors become the
// contract's errors. The result wraps err itself, so callers reach the
// *pgconn.PgError (or the network error) with errors.As, and it matches the
// itsm sentinel the failure stands for with errors.Is:
//
//   - unique violations, serialization failures and deadlocks: ErrConflict
//     (the unit lost a race; retrying after a fresh read is the answer);
//   - data exceptions (class 22: bad encoding, out of range), integrity
//     violations other than uniqueness, and program limits (class 54: an
//     index row too large, too many columns): ErrInvalid (the input cannot
//     be stored);
//   - anything else (connection lost, server shutting down, cancelled): no
//     sentinel, only the wrapped driver error.
//
// op names the operation and the record, for example "put incident 0192…".
func interpretError(err error, op string) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505", pgErr.Code == "40001", pgErr.Code == "40P01":
			return fmt.Errorf("postgres: %s: %w: %w", op, itsm.ErrConflict, err)
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "22",
			len(pgErr.Code) == 5 && pgErr.Code[:2] == "54",
			pgErr.Code == "23502", pgErr.Code == "23514":
			return fmt.Errorf("postgres: %s: %w: %w", op, itsm.ErrInvalid, err)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
