package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Update runs fn in one unit of work: a BEGIN IMMEDIATE transaction on the
// writer connection, so units of this process queue for the connection and
// units of other processes wait up to the busy timeout for SQLite's write
// lock. The documents, events and sequence values fn writes commit together
// when it returns nil. When fn returns an error or panics, its documents and
// events are rolled back; the sequence values it drew stay consumed (see
// Tx.NextSequence).
//
// The unit belongs to the tenant of ctx (storage.TenantOf): every document,
// sequence and event its Tx reads or writes is that tenant's, whatever
// context a Tx method is given.
//
// fn must not call Update, Register, Import or Migrate on the same Store:
// they wait for the writer connection that fn's unit holds. Reads through
// the Store (rather than the Tx) are fine and see committed data.
func (s *Store) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	ctx = orBackground(ctx)
	if fn == nil {
		return itsm.Invalidf("storage/sqlite: update: nil function")
	}
	if err := s.check(); err != nil {
		return err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	if s.pending.Load() {
		if err := s.prepareWriter(ctx); err != nil {
			return err
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("begin unit of work", err)
	}
	u := &unit{s: s, tx: tx, tenant: tenant}
	// The savepoint lets a failed unit roll back its writes but keep the
	// sequence values it drew (see abort).
	if _, err := u.stmt(ctx, s.wfixed.savepoint).ExecContext(ctx); err != nil {
		tx.Rollback()
		return s.fail("begin unit of work", err)
	}
	ferr := u.run(fn)
	u.ended.Store(true)
	if ferr == nil {
		ferr = ctx.Err() // a unit whose context ended writes nothing
	}
	if ferr != nil {
		u.abort(ctx)
		return ferr
	}
	if _, err := u.stmt(ctx, s.wfixed.release).ExecContext(ctx); err != nil {
		tx.Rollback()
		return s.fail("commit unit of work", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("commit unit of work", err)
	}
	return nil
}

// unit is the storage.Tx of one Update.
type unit struct {
	s      *Store
	tx     *sql.Tx
	tenant string // of the Update's context: every Tx method's
	ended  atomic.Bool

	seqMu sync.Mutex
	seqs  map[string]int64 // the highest value drawn per sequence of the unit's tenant
}

var _ storage.Tx = (*unit)(nil)

// run calls fn, turning a panic into an error.
func (u *unit) run(fn func(storage.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("storage/sqlite: unit of work panicked: %w", e)
			} else {
				err = fmt.Errorf("storage/sqlite: unit of work panicked: %v", r)
			}
		}
	}()
	return fn(u)
}

// abort ends a failed unit. Without sequence values drawn it rolls back.
// With them it rolls back to the savepoint taken at the start, which undoes
// every document, event and counter the unit wrote, sets the counters it
// drew from back to the highest values it drew, and commits that alone, all
// under the write lock the unit holds: a value handed to a failed unit is
// never handed out again, by this process or another. Should that commit
// fail too, the values may be reissued.
func (u *unit) abort(ctx context.Context) {
	u.seqMu.Lock()
	seqs := u.seqs
	u.seqMu.Unlock()
	if len(seqs) > 0 && u.keepSequences(context.WithoutCancel(ctx), seqs) == nil {
		return
	}
	u.tx.Rollback()
}

const sqlKeepSequence = `INSERT INTO pillars_sequences (tenant, name, value) VALUES (?, ?, ?)
	ON CONFLICT (tenant, name) DO UPDATE SET value = max(value, excluded.value)`

func (u *unit) keepSequences(ctx context.Context, seqs map[string]int64) error {
	if _, err := u.stmt(ctx, u.s.wfixed.rollbackTo).ExecContext(ctx); err != nil {
		return err
	}
	for name, v := range seqs {
		if _, err := u.tx.ExecContext(ctx, sqlKeepSequence, u.tenant, name, v); err != nil {
			return err
		}
	}
	if _, err := u.stmt(ctx, u.s.wfixed.release).ExecContext(ctx); err != nil {
		return err
	}
	return u.tx.Commit()
}

// stmt binds a statement prepared on the writer to the unit's transaction.
func (u *unit) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	return u.tx.StmtContext(ctx, st)
}

// begin checks that the unit is still running and returns the kind's
// prepared statements, nil when they are not prepared yet (the kind was
// found in the file during this unit); callers then run the SQL text.
func (u *unit) kind(ctx context.Context, name string) (*kind, *kindStmts, error) {
	if u.ended.Load() {
		return nil, nil, itsm.Invalidf("storage/sqlite: Tx used after its unit of work ended")
	}
	k, err := u.s.lookup(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return k, k.prep.Load(), nil
}

func (u *unit) exec(ctx context.Context, st *sql.Stmt, text string, args ...any) (sql.Result, error) {
	if st != nil {
		return u.stmt(ctx, st).ExecContext(ctx, args...)
	}
	return u.tx.ExecContext(ctx, text, args...)
}

func (u *unit) query(ctx context.Context, st *sql.Stmt, text string, args ...any) (*sql.Rows, error) {
	if st != nil {
		return u.stmt(ctx, st).QueryContext(ctx, args...)
	}
	return u.tx.QueryContext(ctx, text, args...)
}

// Get returns the document as this unit sees it, its own writes included.
func (u *unit) Get(ctx context.Context, kindName, id string) (storage.Document, error) {
	ctx = orBackground(ctx)
	k, ks, err := u.kind(ctx, kindName)
	if err != nil {
		return storage.Document{}, err
	}
	var st *sql.Stmt
	if ks != nil {
		st = ks.get
	}
	rows, err := u.query(ctx, st, k.getSQL, id, u.tenant)
	return u.s.getRow(k, id, rows, err)
}

// Query runs q inside the unit's transaction, so it sees the unit's own
// writes too.
func (u *unit) Query(ctx context.Context, q storage.Query) (storage.Page, error) {
	ctx = orBackground(ctx)
	if u.ended.Load() {
		return storage.Page{}, itsm.Invalidf("storage/sqlite: Tx used after its unit of work ended")
	}
	return u.s.query(ctx, u.tx, u.tenant, q)
}

// Put writes d if the stored version is expected: an INSERT for expected 0
// (a primary key violation is ErrConflict), otherwise an UPDATE guarded by
// _version = expected that must change one row.
func (u *unit) Put(ctx context.Context, d storage.Document, expected int64) error {
	ctx = orBackground(ctx)
	k, ks, err := u.kind(ctx, d.Kind)
	if err != nil {
		return err
	}
	if err := k.schema.CheckDocument(d); err != nil {
		return err
	}
	if expected < 0 || d.Version <= expected {
		return itsm.Invalidf("storage/sqlite: put %s %s: version %d must be greater than the expected %d (at least 0)", d.Kind, d.ID, d.Version, expected)
	}
	args := make([]any, 0, 5+len(d.Fields))
	if expected == 0 {
		args = append(args, d.ID, d.Version, d.Data, u.tenant)
		for _, v := range d.Fields {
			args = append(args, v.Any())
		}
		var st *sql.Stmt
		if ks != nil {
			st = ks.insert
		}
		if _, err := u.exec(ctx, st, k.insertSQL, args...); err != nil {
			err = u.s.fail("put "+d.Kind+" "+d.ID, err)
			if isConflict(err) {
				if dn := u.numberHeld(ctx, k, d); dn != nil {
					return dn
				}
				return &itsm.ConflictError{Kind: d.Kind, ID: d.ID}
			}
			return err
		}
		return nil
	}
	args = append(args, d.Version, d.Data)
	for _, v := range d.Fields {
		args = append(args, v.Any())
	}
	args = append(args, d.ID, expected, u.tenant)
	var st *sql.Stmt
	if ks != nil {
		st = ks.update
	}
	res, err := u.exec(ctx, st, k.updateSQL, args...)
	if err != nil {
		err = u.s.fail("put "+d.Kind+" "+d.ID, err)
		if isConflict(err) {
			if dn := u.numberHeld(ctx, k, d); dn != nil {
				return dn
			}
		}
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected}
	}
	return nil
}

// numberHeld returns the *storage.DuplicateNumberError refusing d when
// another document of its kind holds d's number, as the unit sees the
// table, and nil otherwise.
func (u *unit) numberHeld(ctx context.Context, k *kind, d storage.Document) error {
	return numberHeld(ctx, u.tx, k, u.tenant, d)
}

// numberHeld is unit.numberHeld on any connection or transaction.
func numberHeld(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, k *kind, tenant string, d storage.Document) error {
	ni := k.schema.NumberIndex()
	if ni < 0 || d.Fields[ni].Str() == "" {
		return nil
	}
	num := d.Fields[ni].Str()
	var id string
	err := q.QueryRowContext(ctx, "SELECT _id FROM "+k.table+" WHERE _tenant = ? AND "+quoteIdent(storage.NumberField)+" = ? AND _id <> ? LIMIT 1", tenant, num, d.ID).Scan(&id)
	if err != nil {
		return nil
	}
	return &storage.DuplicateNumberError{Kind: d.Kind, Number: num, ID: d.ID}
}

// Delete removes the document when its stored version is version.
func (u *unit) Delete(ctx context.Context, kindName, id string, version int64) error {
	ctx = orBackground(ctx)
	k, ks, err := u.kind(ctx, kindName)
	if err != nil {
		return err
	}
	var del, exists *sql.Stmt
	if ks != nil {
		del, exists = ks.delete, ks.exists
	}
	res, err := u.exec(ctx, del, k.deleteSQL, id, version, u.tenant)
	if err != nil {
		return u.s.fail("delete "+kindName+" "+id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	rows, err := u.query(ctx, exists, k.existsSQL, id, u.tenant)
	if err != nil {
		return u.s.fail("delete "+kindName+" "+id, err)
	}
	found := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return u.s.fail("delete "+kindName+" "+id, err)
	}
	if !found {
		return &itsm.NotFoundError{Kind: kindName, ID: id}
	}
	return &itsm.ConflictError{Kind: kindName, ID: id, Expected: version}
}

const sqlNextSequence = `INSERT INTO pillars_sequences (tenant, name, value) VALUES (?, ?, 1)
	ON CONFLICT (tenant, name) DO UPDATE SET value = value + 1
	RETURNING value`

// NextSequence increments the named counter inside the unit's write
// transaction. SQLite's single writer makes the value unique among committed
// units of every process; a failed unit keeps the values it drew consumed
// (see Update), so values are unique whether their unit commits or not.
func (u *unit) NextSequence(ctx context.Context, name string) (int64, error) {
	ctx = orBackground(ctx)
	if u.ended.Load() {
		return 0, itsm.Invalidf("storage/sqlite: Tx used after its unit of work ended")
	}
	if !storage.ValidName(name) {
		return 0, itsm.Invalidf("storage/sqlite: sequence name %q is not a lower-case identifier", name)
	}
	var v int64
	if err := u.stmt(ctx, u.s.wfixed.nextSeq).QueryRowContext(ctx, u.tenant, name).Scan(&v); err != nil {
		return 0, u.s.fail("sequence "+name, err)
	}
	u.seqMu.Lock()
	if u.seqs == nil {
		u.seqs = map[string]int64{}
	}
	u.seqs[name] = max(u.seqs[name], v)
	u.seqMu.Unlock()
	return v, nil
}

// AdvanceSequence moves the named counter to at least atLeast inside the
// unit's write transaction; like NextSequence, a failed unit keeps it (see
// Update). SQLite's single writer makes it atomic with every NextSequence.
func (u *unit) AdvanceSequence(ctx context.Context, name string, atLeast int64) error {
	ctx = orBackground(ctx)
	if u.ended.Load() {
		return itsm.Invalidf("storage/sqlite: Tx used after its unit of work ended")
	}
	if !storage.ValidName(name) {
		return itsm.Invalidf("storage/sqlite: sequence name %q is not a lower-case identifier", name)
	}
	if atLeast < 1 {
		return nil
	}
	if _, err := u.tx.ExecContext(ctx, sqlKeepSequence, u.tenant, name, atLeast); err != nil {
		return u.s.fail("advance sequence "+name, err)
	}
	u.seqMu.Lock()
	if u.seqs == nil {
		u.seqs = map[string]int64{}
	}
	u.seqs[name] = max(u.seqs[name], atLeast)
	u.seqMu.Unlock()
	return nil
}

func isConflict(err error) bool {
	return err != nil && errors.Is(err, itsm.ErrConflict)
}
