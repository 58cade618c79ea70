package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// unit is a unit of work: one PostgreSQL transaction (READ COMMITTED) on one
// pooled connection. BEGIN is sent lazily, pipelined with the unit's first
// statement, so a unit costs no round trip of its own for it; writes go to
// the database at once, so a stale version fails in Put and the unit's later
// reads see its writes. Events are buffered and inserted at the very end,
// pipelined with the event lock and COMMIT (see events.go).
type unit struct {
	s    *Store
	conn *pgx.Conn

	mu     sync.Mutex // a fn may share its Tx between goroutines
	begun  bool
	done   bool
	failed error // the error that put the PostgreSQL transaction in the aborted state
	events []itsm.Event
}

var (
	errDone       = itsm.Invalidf("postgres: unit of work used after its function returned")
	errNilContext = itsm.Invalidf("postgres: nil context")
)

// run calls fn, turning a panic into an error.
func (u *unit) run(ctx context.Context, fn func(storage.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("postgres: unit of work panicked: %w", e)
			} else {
				err = fmt.Errorf("postgres: unit of work panicked: %v", r)
			}
		}
	}()
	return fn(u)
}

// enter locks the unit for one operation and refuses when it is over or its
// transaction is already aborted, or when ctx is nil.
func (u *unit) enter(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	u.mu.Lock()
	switch {
	case u.done:
		u.mu.Unlock()
		return errDone
	case u.failed != nil:
		u.mu.Unlock()
		return fmt.Errorf("postgres: unit of work aborted by an earlier failure: %w", u.failed)
	}
	return nil
}

// leave records *errp when it aborted the transaction (a server error
// inside it, or a lost connection), then unlocks. It is deferred, so the
// unit is unlocked even when the operation panics.
func (u *unit) leave(errp *error) {
	if err := *errp; err != nil && u.failed == nil && u.begun {
		if pc := u.conn.PgConn(); pc.IsClosed() || pc.TxStatus() != 'T' {
			u.failed = err
		}
	}
	u.mu.Unlock()
}

// rawQuery runs sql in the unit's transaction, beginning it first when
// needed (the BEGIN rides in the same round trip). It lets the unit serve
// getDoc and runQuery like the pool does.
func (u *unit) rawQuery(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if u.begun {
		return u.conn.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(sql, args...)
	br := u.conn.SendBatch(ctx, b)
	u.begun = true
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// exec runs a statement without result rows in the unit's transaction.
func (u *unit) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if u.begun {
		return u.conn.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(sql, args...)
	br := u.conn.SendBatch(ctx, b)
	u.begun = true
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if err != nil {
		return tag, err
	}
	return tag, br.Close()
}

// batchRows closes the batch that carried a query together with its rows.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// Get returns the document as the unit sees it; see storage.Tx.
func (u *unit) Get(ctx context.Context, kind, id string) (_ storage.Document, err error) {
	if err := u.enter(ctx); err != nil {
		return storage.Document{}, err
	}
	defer u.leave(&err)
	ki, err := u.s.kind(kind)
	if err != nil {
		return storage.Document{}, err
	}
	return getDoc(ctx, u.rawQuery, ki, id)
}

// Query runs q inside the unit's transaction, so it sees the unit's own
// writes too; see storage.Tx.
func (u *unit) Query(ctx context.Context, q storage.Query) (_ storage.Page, err error) {
	if err := u.enter(ctx); err != nil {
		return storage.Page{}, err
	}
	defer u.leave(&err)
	ki, err := u.s.kind(q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	return runQuery(ctx, u.rawQuery, ki, q)
}

// Put writes d at version d.Version when the stored version is expected;
// see storage.Tx.
func (u *unit) Put(ctx context.Context, d storage.Document, expected int64) (err error) {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.leave(&err)
	return u.put(ctx, d, expected)
}

func (u *unit) put(ctx context.Context, d storage.Document, expected int64) error {
	ki, err := u.s.kind(d.Kind)
	if err != nil {
		return err
	}
	args, err := ki.docArgs(d, expected)
	if err != nil {
		return err
	}
	sql := ki.insertSQL
	if expected > 0 {
		sql = ki.updateSQL
		args = append(args, expected)
	}
	tag, err := u.exec(ctx, sql, args...)
	if err != nil {
		return interpretError(err, "put "+d.Kind+" "+d.ID)
	}
	if tag.RowsAffected() == 0 {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected}
	}
	return nil
}

// docArgs checks a document for a write and returns its parameters in
// column order: id, version, data, fields. Everything PostgreSQL would
// refuse is refused here first, with ErrInvalid naming the record, so a bad
// document never aborts the unit's transaction.
func (ki *kindInfo) docArgs(d storage.Document, expected int64) ([]any, error) {
	if err := ki.schema.CheckDocument(d); err != nil {
		return nil, err
	}
	if expected < 0 || d.Version <= expected {
		return nil, itsm.Invalidf("postgres: put %s %s: version %d must be greater than expected version %d (at least 0)", d.Kind, d.ID, d.Version, expected)
	}
	if err := checkText(d.ID); err != nil {
		return nil, itsm.Invalidf("postgres: put %s %q: id %v", d.Kind, d.ID, err)
	}
	data := d.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; nil and empty read back alike
	}
	args := make([]any, 0, len(d.Fields)+4)
	args = append(args, d.ID, d.Version, data)
	for i, v := range d.Fields {
		if v.Type() == storage.TypeString {
			if err := checkText(v.Str()); err != nil {
				return nil, itsm.Invalidf("postgres: put %s %s: field %s %v", d.Kind, d.ID, ki.schema.Fields[i].Name, err)
			}
		}
		args = append(args, v.Any())
	}
	for _, strs := range ki.indexStrings {
		n := len(d.ID)
		for _, fi := range strs {
			n += len(d.Fields[fi].Str())
		}
		if n > maxIndexedBytes {
			return nil, itsm.Invalidf("postgres: put %s %s: indexed strings take %d bytes in one index, more than %d", d.Kind, d.ID, n, maxIndexedBytes)
		}
	}
	return args, nil
}

// maxIndexedBytes bounds the string bytes of one index entry (the id
// included). A btree entry must fit in a third of a page, 2704 bytes with
// its overhead; this bound leaves room for the integer columns and headers
// and holds whatever the compression would have done.
const maxIndexedBytes = 2400

// checkText reports why PostgreSQL's text type cannot hold s: invalid
// UTF-8, or a NUL byte.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("holds a NUL byte")
		}
	}
	return nil
}

// Delete removes the document at version; see storage.Tx.
func (u *unit) Delete(ctx context.Context, kind, id string, version int64) (err error) {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.leave(&err)
	return u.delete(ctx, kind, id, version)
}

func (u *unit) delete(ctx context.Context, kind, id string, version int64) error {
	ki, err := u.s.kind(kind)
	if err != nil {
		return err
	}
	if checkText(id) != nil {
		return &itsm.NotFoundError{Kind: kind, ID: id}
	}
	rows, err := u.rawQuery(ctx, ki.deleteSQL, id, version)
	if err != nil {
		return interpretError(err, "delete "+kind+" "+id)
	}
	var deleted, existed int64
	_, err = pgx.ForEachRow(rows, []any{&deleted, &existed}, func() error { return nil })
	if err != nil {
		return interpretError(err, "delete "+kind+" "+id)
	}
	switch {
	case deleted > 0:
		return nil
	case existed > 0:
		return &itsm.ConflictError{Kind: kind, ID: id, Expected: version}
	}
	return &itsm.NotFoundError{Kind: kind, ID: id}
}

// NextSequence returns the next value of a named sequence; see storage.Tx.
//
// Each name is a native PostgreSQL sequence (CACHE 1), so values are unique
// across every unit and instance without any lock held to commit: nextval
// is not transactional, and a unit that rolls back leaves a gap. A sequence
// is created on first use, once per database, on a connection of its own
// (so that its creation commits even if the unit rolls back, and no pooled
// connection is waited for while the unit holds one).
func (u *unit) NextSequence(ctx context.Context, name string) (_ int64, err error) {
	if err := u.enter(ctx); err != nil {
		return 0, err
	}
	defer u.leave(&err)
	return u.nextSequence(ctx, name)
}

func (u *unit) nextSequence(ctx context.Context, name string) (int64, error) {
	if !storage.ValidName(name) {
		return 0, itsm.Invalidf("postgres: sequence name %q is not a lower-case identifier", name)
	}
	// The sequence is found through pg_class with the statement's snapshot
	// rather than by name resolution, which inside a transaction may keep a
	// cached "does not exist" after another connection created it.
	rel := sequenceName(name)
	for attempt := 0; ; attempt++ {
		var v int64
		found := false
		rows, err := u.rawQuery(ctx, nextvalSQL, u.s.schema, rel)
		if err == nil {
			_, err = pgx.ForEachRow(rows, []any{&v}, func() error { found = true; return nil })
		}
		if err != nil {
			return 0, interpretError(err, "next value of sequence "+name)
		}
		if found {
			return v, nil
		}
		if attempt > 0 {
			return 0, fmt.Errorf("postgres: sequence %s vanished after it was created", name)
		}
		if err := u.s.createSequence(ctx, name, u.s.ns+"."+quoteIdent(rel)); err != nil {
			return 0, err
		}
	}
}

const nextvalSQL = "SELECT nextval(c.oid) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
	"WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'S'"

// createSequence creates a number sequence on a connection of its own.
func (s *Store) createSequence(ctx context.Context, name, seq string) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return interpretError(err, "create sequence "+name+": connect")
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", advisoryKey(s.schema, "sequences")); err != nil {
			return interpretError(err, "create sequence "+name+": lock")
		}
		if _, err := tx.Exec(ctx, "CREATE SEQUENCE IF NOT EXISTS "+seq+" CACHE 1"); err != nil {
			return interpretError(err, "create sequence "+name)
		}
		return nil
	})
}

// Append buffers events; they are inserted and get their Seq when the unit
// commits; see storage.Tx.
func (u *unit) Append(ctx context.Context, events ...itsm.Event) error {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return err
		}
	}
	for _, e := range events {
		e.Changes = cloneChanges(e.Changes)
		u.events = append(u.events, e)
	}
	return nil
}

func cloneChanges(c []itsm.Change) []itsm.Change {
	if c == nil {
		return nil
	}
	return append(make([]itsm.Change, 0, len(c)), c...)
}

// finish commits the unit when fn succeeded and rolls it back otherwise.
func (u *unit) finish(ctx context.Context, fnErr error) error {
	u.mu.Lock()
	u.done = true
	failed := u.failed
	u.mu.Unlock()
	switch {
	case fnErr != nil:
		u.rollback(ctx)
		return fnErr
	case failed != nil:
		u.rollback(ctx)
		return fmt.Errorf("postgres: unit of work not committed: a statement in it failed: %w", failed)
	case ctx.Err() != nil:
		u.rollback(ctx)
		return ctx.Err()
	}
	if len(u.events) == 0 {
		if !u.begun {
			return nil
		}
		tag, err := u.conn.Exec(ctx, "COMMIT")
		return commitResult(tag, err)
	}
	return u.commitEvents(ctx)
}

// rollback ends a begun transaction. It runs even when ctx is cancelled; if
// it fails, the pool discards the connection (it is not idle).
func (u *unit) rollback(ctx context.Context) {
	if !u.begun || u.conn.PgConn().IsClosed() {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = u.conn.Exec(rctx, "ROLLBACK")
}

// commitResult reports a COMMIT that failed or that the server turned into
// a rollback.
func commitResult(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return interpretError(err, "commit")
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("postgres: commit: %w: the server rolled the unit of work back", itsm.ErrConflict)
	}
	return nil
}
