package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// kill terminates a server backend from another connection, as an operator
// or a failover would.
func kill(t *testing.T, pid uint32) {
	t.Helper()
	var ok bool
	require.NoError(t, testPool(t).QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
	require.True(t, ok)
}

// requireDriverError checks that err carries the driver's own error and
// matches none of the sentinels. Which one depends on who notices first:
// the server's notice that it terminated the backend (SQLSTATE 57P01), or
// pgx finding the connection closed (a statement-cache cleanup or a write
// that fails before the notice is read, as happens on a loaded machine).
func requireDriverError(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	for _, sentinel := range []error{itsm.ErrNotFound, itsm.ErrConflict, itsm.ErrInvalid, itsm.ErrForbidden, itsm.ErrBusy} {
		require.NotErrorIs(t, err, sentinel, "a lost connection says nothing about the data: %v", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		require.Equal(t, "57P01", pgErr.Code, "admin_shutdown: %v", err)
		return
	}
	require.Contains(t, err.Error(), "conn closed", "neither the server's notice nor a closed connection: %v", err)
}

func TestConnectionKilledMidUnit(t *testing.T) {
	ctx := context.Background()
	for _, handled := range []bool{false, true} {
		t.Run(fmt.Sprintf("fn returns the error %v", !handled), func(t *testing.T) {
			s := newTestStore(t)
			require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
			at := time.Unix(0, 0)
			err := s.Update(ctx, func(tx storage.Tx) error {
				require.NoError(t, tx.Put(ctx, ticket("ticket", "a", 1, "g", "new", 1, at), 0))
				require.NoError(t, tx.Append(ctx, sealedEvent("ticket", "a", 1, "")))
				kill(t, tx.(*unit).conn.PgConn().PID())
				err := tx.Put(ctx, ticket("ticket", "b", 1, "g", "new", 1, at), 0)
				requireDriverError(t, err)
				if handled {
					return nil // a careless fn: the unit must still not commit
				}
				return err
			})
			requireDriverError(t, err)
			_, err = s.Get(ctx, "ticket", "a")
			require.ErrorIs(t, err, itsm.ErrNotFound, "rolled back")
			evs, err := s.ReadEvents(ctx, 0, 10)
			require.NoError(t, err)
			require.Empty(t, evs)
			// The store works again.
			require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(ctx, ticket("ticket", "a", 1, "g", "new", 1, at), 0)
			}))
			_, err = s.Get(ctx, "ticket", "a")
			require.NoError(t, err)
		})
	}
}

func TestConnectionKilledAtCommit(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	var pid uint32
	s.beforeCommit = func(context.Context) { kill(t, pid) }
	err := s.Update(ctx, func(tx storage.Tx) error {
		pid = tx.(*unit).conn.PgConn().PID()
		if err := tx.Put(ctx, ticket("ticket", "a", 1, "g", "new", 1, time.Unix(0, 0)), 0); err != nil {
			return err
		}
		return tx.Append(ctx, sealedEvent("ticket", "a", 1, ""))
	})
	requireDriverError(t, err)
	s.beforeCommit = nil
	_, err = s.Get(ctx, "ticket", "a")
	require.ErrorIs(t, err, itsm.ErrNotFound)
	evs, err := s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, evs, "events of a unit that did not commit are never read")
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Append(ctx, sealedEvent("ticket", "a", 1, ""))
	}))
	evs, err = s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
}

// TestAllConnectionsKilled kills every connection of a store's pool, as a
// database restart would: calls fail at most once per dead connection, then
// the store works again.
func TestAllConnectionsKilled(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testDSN(t))
	require.NoError(t, err)
	app := "pillars_kill_" + fmt.Sprint(time.Now().UnixNano())
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	cfg.MaxConns = 3
	ns := freshSchema(t, testPool(t))
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer p.Close()
	s, err := New(ctx, p, WithSchema(ns))
	require.NoError(t, err)
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, ticket("ticket", "a", 1, "g", "new", 1, time.Unix(0, 0)), 0)
	}))
	var n int
	require.NoError(t, testPool(t).QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n))
	require.Positive(t, n)
	failures := 0
	for range 10 {
		if _, err := s.Get(ctx, "ticket", "a"); err != nil {
			requireDriverError(t, err)
			failures++
		}
	}
	require.LessOrEqual(t, failures, int(cfg.MaxConns))
	for range 5 {
		_, err := s.Get(ctx, "ticket", "a")
		require.NoError(t, err)
	}
}

func TestDatabaseDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	require.Error(t, err)
	var connErr *pgconn.ConnectError
	require.ErrorAs(t, err, &connErr, "the driver's error is wrapped: %v", err)

	_, err = Open(ctx, "not a dsn ::")
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestCorruptData edits stored rows behind the store's back: every read
// that meets them fails with an error naming the record.
func TestCorruptData(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	at := time.Unix(0, 0)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, id := range []string{"a", "b"} {
			if err := tx.Put(ctx, ticket("ticket", id, 1, "g", "new", 1, at), 0); err != nil {
				return err
			}
		}
		return tx.Append(ctx, sealedEvent("ticket", "a", 1, ""), sealedEvent("ticket", "b", 1, ""))
	}))
	exec := func(sql string) {
		_, err := testPool(t).Exec(ctx, sql)
		require.NoError(t, err)
	}
	table := quoteIdent(s.schema) + ".ticket"

	exec("UPDATE " + table + " SET _version = 0 WHERE id = 'a'")
	_, err := s.Get(ctx, "ticket", "a")
	require.ErrorContains(t, err, "ticket a")
	_, err = s.Query(ctx, storage.Query{Kind: "ticket"})
	require.ErrorContains(t, err, "ticket a")

	exec("ALTER TABLE " + table + " ALTER COLUMN prio DROP NOT NULL")
	exec("UPDATE " + table + " SET prio = NULL WHERE id = 'b'")
	_, err = s.Get(ctx, "ticket", "b")
	require.ErrorContains(t, err, "ticket b")

	exec("UPDATE " + s.eventsTable + " SET changes = '{not json' WHERE record_id = 'b'")
	_, err = s.ReadEvents(ctx, 0, 10)
	require.ErrorContains(t, err, "ticket b")
	_, err = s.History(ctx, "ticket", "b")
	require.ErrorContains(t, err, "ticket b")
	h, err := s.History(ctx, "ticket", "a")
	require.NoError(t, err, "the other record's history is intact")
	require.Len(t, h, 1)
}

// panicCtx panics when the driver looks at it, standing in for any panic
// raised inside a Tx method.
type panicCtx struct{ context.Context }

func (panicCtx) Done() <-chan struct{} { panic("context exploded") }

func TestPanicInsideTxMethod(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	require.NoError(t, s.Register(ctx, ticketSchema("ticket")))
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx storage.Tx) error {
			if err := tx.Put(ctx, ticket("ticket", "a", 1, "g", "new", 1, time.Unix(0, 0)), 0); err != nil {
				return err
			}
			_, err := tx.Get(panicCtx{ctx}, "ticket", "b") // not in the unit: goes to the driver
			return err
		})
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "panicked")
	case <-time.After(20 * time.Second):
		t.Fatal("Update hangs after a panic inside a Tx method")
	}
	_, err := s.Get(ctx, "ticket", "a")
	require.ErrorIs(t, err, itsm.ErrNotFound)
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, ticket("ticket", "a", 1, "g", "new", 1, time.Unix(0, 0)), 0)
	}))
}
