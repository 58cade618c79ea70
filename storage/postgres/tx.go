package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// unit is a unit of work of one tenant (the tenant of Update's context,
// whatever context its methods get) on one pooled connection.
//
// Reads (Get, Query, the version checks of Put and Delete) run at once as
// single statements (each pipelined after the statement that sets the
// role and tenant, see tenant.go), each seeing the latest committed state (PostgreSQL's
// READ COMMITTED), overlaid with the unit's own writes for Get. Writes are
// checked against the version the unit sees when they are made (ErrConflict
// right away when stale) and kept in the unit. At the end everything goes to
// the server in one pipelined round trip, which the server runs as one
// implicit transaction (committed at the pipeline's Sync if every statement
// succeeded, rolled back otherwise):
//
//	SELECT set_config('pillars.tenant', ...), set_config('role', ...)
//	each write, in (kind, id) order, guarded by the version it expects
//	SELECT pg_advisory_xact_lock_shared(events, last Seq), ...(events of the tenant, last Seq)   -- see Store.ReadEvents
//	INSERT the events (their Seq drawn here)
//	Sync
//
// A write whose document changed since the unit checked it touches no row;
// its guard then divides by zero, which aborts the transaction, and the
// unit returns ErrConflict naming the document. Row locks are thus held only
// while the commit itself runs, the written rows are locked in one global
// order (no deadlocks between units), and a unit that fails or loses a race
// costs no round trip to roll back.
type unit struct {
	s      *Store
	conn   *pgx.Conn
	tenant string    // every read and write of the unit belongs to it
	q      queryFunc // runs a read on conn, scoped to tenant

	mu     sync.Mutex // a fn may share its Tx between goroutines
	done   bool
	lost   error             // the connection failed; nothing can commit
	writes map[docKey]*write // the unit's pending writes
	seen   map[docKey]int64  // versions read by Get (0: absent), so Put after Get needs no check
	events []itsm.Event
}

type docKey struct{ kind, id string }

// write is a pending write of one document.
type write struct {
	ki      *kindInfo
	id      string
	base    int64 // the stored version the unit saw before its first write (0: absent)
	deleted bool
	doc     storage.Document // owned copy; meaningless when deleted
	args    []any            // tenant, id, version, data, fields
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

// enter locks the unit for one operation and refuses when it is over or
// when ctx is nil.
func (u *unit) enter(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	u.mu.Lock()
	if u.done {
		u.mu.Unlock()
		return errDone
	}
	return nil
}

// leave notes a lost connection behind *errp, then unlocks. It is deferred,
// so the unit is unlocked even when the operation panics.
func (u *unit) leave(errp *error) {
	if err := *errp; err != nil && u.lost == nil && u.conn.PgConn().IsClosed() {
		u.lost = err
	}
	u.mu.Unlock()
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
	key := docKey{kind, id}
	if w := u.writes[key]; w != nil {
		if w.deleted {
			return storage.Document{}, &itsm.NotFoundError{Kind: kind, ID: id}
		}
		return cloneDoc(w.doc), nil
	}
	d, err := getDoc(ctx, u.q, u.tenant, ki, id)
	switch {
	case err == nil:
		u.saw(key, d.Version)
	case errors.Is(err, itsm.ErrNotFound):
		u.saw(key, 0)
	}
	return d, err
}

func (u *unit) saw(key docKey, version int64) {
	if u.seen == nil {
		u.seen = make(map[docKey]int64, 4)
	}
	u.seen[key] = version
}

// Query runs q on the committed state; the unit's own writes are not seen
// until it commits (the contract allows it); see storage.Tx.
func (u *unit) Query(ctx context.Context, q storage.Query) (_ storage.Page, err error) {
	if err := u.enter(ctx); err != nil {
		return storage.Page{}, err
	}
	defer u.leave(&err)
	ki, err := u.s.kind(q.Kind)
	if err != nil {
		return storage.Page{}, err
	}
	return runQuery(ctx, u.q, u.tenant, ki, q)
}

// current returns the version of a document as the unit sees it (0:
// absent): its own pending write, the version its Get read, or the stored
// version read now.
func (u *unit) current(ctx context.Context, ki *kindInfo, key docKey) (int64, *write, error) {
	if w := u.writes[key]; w != nil {
		if w.deleted {
			return 0, w, nil
		}
		return w.doc.Version, w, nil
	}
	if v, ok := u.seen[key]; ok {
		return v, nil, nil
	}
	var v int64
	rows, err := u.q(ctx, ki.versionSQL, u.tenant, key.id)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&v}, func() error { return nil })
	}
	if err != nil {
		return 0, nil, interpretError(err, "read version of "+key.kind+" "+key.id)
	}
	return v, nil, nil
}

// Put checks d against the version the unit sees and keeps it for the
// commit; see storage.Tx. A Put that follows a Get of the same document in
// the unit trusts the version the Get read; the commit checks it again.
func (u *unit) Put(ctx context.Context, d storage.Document, expected int64) (err error) {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.leave(&err)
	ki, err := u.s.kind(d.Kind)
	if err != nil {
		return err
	}
	d.Data = append(make([]byte, 0, len(d.Data)), d.Data...)
	d.Fields = slices.Clone(d.Fields)
	args, err := ki.docArgs(u.tenant, d, expected)
	if err != nil {
		return err
	}
	key := docKey{d.Kind, d.ID}
	cur, w, err := u.current(ctx, ki, key)
	if err != nil {
		return err
	}
	if cur != expected {
		return &itsm.ConflictError{Kind: d.Kind, ID: d.ID, Expected: expected}
	}
	if w == nil {
		u.keep(key, &write{ki: ki, id: d.ID, base: cur, doc: d, args: args})
		return nil
	}
	w.deleted, w.doc, w.args = false, d, args
	return nil
}

func (u *unit) keep(key docKey, w *write) {
	if u.writes == nil {
		u.writes = make(map[docKey]*write, 4)
	}
	u.writes[key] = w
}

// docArgs checks a document for a write and returns its parameters in
// column order: tenant, id, version, data, fields. Everything PostgreSQL would
// refuse is refused here first, with ErrInvalid naming the record, so a bad
// document never aborts the unit's transaction.
func (ki *kindInfo) docArgs(tenant string, d storage.Document, expected int64) ([]any, error) {
	if err := ki.checkDoc(d, expected); err != nil {
		return nil, err
	}
	args := make([]any, 0, len(d.Fields)+5)
	args = append(args, tenant, d.ID, d.Version, docData(d))
	for _, v := range d.Fields {
		args = append(args, v.Any())
	}
	return args, nil
}

// docData is the _data value of a document: the column is NOT NULL; nil
// and empty read back alike.
func docData(d storage.Document) []byte {
	if d.Data == nil {
		return []byte{}
	}
	return d.Data
}

// checkDoc checks a document for a write (see docArgs).
func (ki *kindInfo) checkDoc(d storage.Document, expected int64) error {
	if err := ki.schema.CheckDocument(d); err != nil {
		return err
	}
	if expected < 0 || d.Version <= expected {
		return itsm.Invalidf("postgres: put %s %s: version %d must be greater than expected version %d (at least 0)", d.Kind, d.ID, d.Version, expected)
	}
	if err := checkText(d.ID); err != nil {
		return itsm.Invalidf("postgres: put %s %q: id %v", d.Kind, d.ID, err)
	}
	for i, v := range d.Fields {
		if v.Type() == storage.TypeString {
			if err := checkText(v.Str()); err != nil {
				return itsm.Invalidf("postgres: put %s %s: field %s %v", d.Kind, d.ID, ki.schema.Fields[i].Name, err)
			}
		}
	}
	for _, strs := range ki.indexStrings {
		n := len(d.ID)
		for _, fi := range strs {
			n += len(d.Fields[fi].Str())
		}
		if n > maxIndexedBytes {
			return itsm.Invalidf("postgres: put %s %s: indexed strings take %d bytes in one index, more than %d", d.Kind, d.ID, n, maxIndexedBytes)
		}
	}
	return nil
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

// Delete checks the version the unit sees and keeps the removal for the
// commit; see storage.Tx.
func (u *unit) Delete(ctx context.Context, kind, id string, version int64) (err error) {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.leave(&err)
	ki, err := u.s.kind(kind)
	if err != nil {
		return err
	}
	if checkText(id) != nil {
		return &itsm.NotFoundError{Kind: kind, ID: id}
	}
	key := docKey{kind, id}
	cur, w, err := u.current(ctx, ki, key)
	switch {
	case err != nil:
		return err
	case cur == 0:
		return &itsm.NotFoundError{Kind: kind, ID: id}
	case cur != version:
		return &itsm.ConflictError{Kind: kind, ID: id, Expected: version}
	}
	if w == nil {
		u.keep(key, &write{ki: ki, id: id, base: cur, deleted: true})
		return nil
	}
	w.deleted, w.doc, w.args = true, storage.Document{}, nil
	return nil
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
	if !storage.ValidName(name) {
		return 0, itsm.Invalidf("postgres: sequence name %q is not a lower-case identifier", name)
	}
	// The sequence is found through pg_class rather than by name
	// resolution, which may keep a cached "does not exist" after another
	// connection created it.
	rel := sequenceName(u.tenant, name)
	for attempt := 0; ; attempt++ {
		var v int64
		found := false
		rows, err := u.conn.Query(ctx, nextvalSQL, u.s.schema, rel)
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

// AdvanceSequence moves a named sequence past atLeast; see storage.Tx.
//
// PostgreSQL has no atomic "set to at least": setval after reading the
// value could move it back past values a concurrent nextval handed out. A
// sequence already past atLeast costs one read. A short way to go (at most
// maxAdvanceDraws, as when an import keeps its numbers in order) is drawn
// with nextval, which no concurrent draw can undo: after k draws from a
// value v the sequence is at v+k or beyond. A longer jump runs one DO
// statement that takes the sequence's lock with a no-op ALTER SEQUENCE
// (which blocks nextval and setval until the statement commits) and sets
// the value only if it is still short; it costs a commit of its own (a few
// milliseconds). Like nextval it takes effect at once, whether the unit
// commits or not.
func (u *unit) AdvanceSequence(ctx context.Context, name string, atLeast int64) (err error) {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.leave(&err)
	if !storage.ValidName(name) {
		return itsm.Invalidf("postgres: sequence name %q is not a lower-case identifier", name)
	}
	if atLeast < 1 {
		return nil
	}
	rel := sequenceName(u.tenant, name)
	for attempt := 0; ; attempt++ {
		var oid uint32
		var last *int64
		found := false
		rows, err := u.conn.Query(ctx, lastValueSQL, u.s.schema, rel)
		if err == nil {
			_, err = pgx.ForEachRow(rows, []any{&oid, &last}, func() error { found = true; return nil })
		}
		if err != nil {
			return interpretError(err, "advance sequence "+name)
		}
		if found {
			var cur int64 // the last value handed out, 0 before the first
			if last != nil {
				cur = *last
			}
			switch k := atLeast - cur; {
			case k <= 0:
				return nil // nextval returns cur+1 > atLeast already
			case k <= maxAdvanceDraws:
				_, err = u.conn.Exec(ctx, "SELECT count(pg_catalog.nextval($1::oid::regclass)) FROM pg_catalog.generate_series(1, $2)", oid, k)
			default:
				// The oid and the bound are numbers, formatted here: a DO
				// statement takes no parameters.
				_, err = u.conn.Exec(ctx, fmt.Sprintf(advanceDO, oid, atLeast), pgx.QueryExecModeSimpleProtocol)
			}
			return interpretError(err, "advance sequence "+name)
		}
		if attempt > 0 {
			return fmt.Errorf("postgres: sequence %s vanished after it was created", name)
		}
		if err := u.s.createSequence(ctx, name, u.s.ns+"."+quoteIdent(rel)); err != nil {
			return err
		}
	}
}

// maxAdvanceDraws is the longest way AdvanceSequence goes by drawing values
// rather than by locking the sequence.
const maxAdvanceDraws = 1000

// lastValueSQL finds a number sequence and its last value (NULL before the
// first nextval).
const lastValueSQL = "SELECT c.oid, pg_catalog.pg_sequence_last_value(c.oid) FROM pg_catalog.pg_class c " +
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'S'"

// advanceDO moves the sequence with oid %d so that nextval passes %d, under
// the lock of ALTER SEQUENCE (OWNED BY NONE changes nothing of a number
// sequence; the lock is held until the statement's transaction ends).
const advanceDO = `DO $pillars$
DECLARE
	seq regclass := %[1]d::oid;
	bound bigint := %[2]d;
BEGIN
	EXECUTE format('ALTER SEQUENCE %%s OWNED BY NONE', seq);
	IF coalesce(pg_catalog.pg_sequence_last_value(seq), 0) < bound THEN
		PERFORM pg_catalog.setval(seq, bound, true);
	END IF;
END
$pillars$`

const nextvalSQL = "SELECT nextval(c.oid) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " +
	"WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'S'"

// createSequence creates a number sequence on a connection of its own.
func (s *Store) createSequence(ctx context.Context, name, seq string) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return interpretError(err, "create sequence "+name+": connect")
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return withSessionLock(ctx, conn, advisoryKey(s.schema, "sequences"), "create sequence "+name, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SEQUENCE IF NOT EXISTS "+seq+" CACHE 1"); err != nil {
			return interpretError(err, "create sequence "+name)
		}
		return nil
	})
}

// Append keeps events for the commit, where they are inserted and get their
// Seq; see storage.Tx.
func (u *unit) Append(ctx context.Context, events ...itsm.Event) error {
	if err := u.enter(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return err
		}
		if e := &events[i]; e.Tenant != "" && e.Tenant != u.tenant {
			return itsm.Invalidf("postgres: append: event %s of %s %s names tenant %q in a unit of tenant %q", e.ID, e.Kind, e.RecordID, e.Tenant, u.tenant)
		}
	}
	for _, e := range events {
		e.Changes = cloneChanges(e.Changes)
		e.Tenant = u.tenant
		u.events = append(u.events, e)
	}
	return nil
}

func cloneChanges(c []itsm.FieldChange) []itsm.FieldChange {
	if c == nil {
		return nil
	}
	return append(make([]itsm.FieldChange, 0, len(c)), c...)
}

func cloneDoc(d storage.Document) storage.Document {
	d.Data = append(make([]byte, 0, len(d.Data)), d.Data...)
	d.Fields = slices.Clone(d.Fields)
	return d
}

// finish commits the unit when fn succeeded; otherwise nothing was ever
// sent that needs undoing.
func (u *unit) finish(ctx context.Context, fnErr error) error {
	u.mu.Lock()
	u.done = true
	u.mu.Unlock()
	switch {
	case fnErr != nil:
		return fnErr
	case u.lost != nil:
		return fmt.Errorf("postgres: unit of work not committed: its connection failed: %w", u.lost)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	writes := make([]*write, 0, len(u.writes))
	for _, w := range u.writes {
		if w.deleted && w.base == 0 {
			continue // created and deleted within the unit
		}
		writes = append(writes, w)
	}
	if len(writes) == 0 && len(u.events) == 0 {
		return nil
	}
	slices.SortFunc(writes, func(a, b *write) int {
		return cmp.Or(cmp.Compare(a.ki.schema.Kind, b.ki.schema.Kind), cmp.Compare(a.id, b.id))
	})
	return u.commit(ctx, writes)
}

// commit sends the unit in one pipelined round trip; see the type comment.
// The batch carries no BEGIN or COMMIT: the statements of one pipeline up to
// its Sync run as one implicit transaction, which the server commits at the
// Sync when all of them succeeded and rolls back otherwise, so a unit that
// loses a race costs no extra round trip to roll back. (With the test hook
// the transaction is explicit, to hold it open before COMMIT.)
func (u *unit) commit(ctx context.Context, writes []*write) error {
	hook := u.s.beforeCommit
	b := &pgx.Batch{}
	first := 0 // index of the first write in the batch
	if hook != nil {
		b.Queue("BEGIN")
		first = 1
	}
	first += u.s.scope(b, u.tenant)
	for _, w := range writes {
		switch {
		case w.deleted:
			b.Queue(w.ki.deleteSQL, u.tenant, w.id, w.base)
		case w.base == 0:
			b.Queue(w.ki.insertSQL, w.args...)
		default:
			b.Queue(w.ki.updateSQL, append(w.args, w.base)...)
		}
	}
	if len(u.events) > 0 {
		// Shared only: no reader takes it exclusively, so this never waits.
		if !u.s.noEventLock {
			b.Queue(u.s.eventLockSQL, u.s.lockClass(u.tenant))
		}
		sql, args, err := u.s.insertEvents(u.tenant, u.events)
		if err != nil {
			return err
		}
		b.Queue(sql, args...)
	}
	br := u.conn.SendBatch(ctx, b)
	var err error
	failed := -1
	for i := 0; i < b.Len(); i++ {
		if _, err = br.Exec(); err != nil {
			failed = i
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && hook != nil {
		hook(ctx)
		var tag pgconn.CommandTag
		if tag, err = u.conn.Exec(ctx, "COMMIT"); err == nil && tag.String() != "COMMIT" {
			return fmt.Errorf("postgres: commit: %w: the server rolled the unit of work back", itsm.ErrConflict)
		}
	}
	if err != nil {
		u.rollback(ctx)
		var pgErr *pgconn.PgError
		if i := failed - first; i >= 0 && i < len(writes) && errors.As(err, &pgErr) {
			w := writes[i]
			switch {
			case pgErr.Code == "22012":
				return &itsm.ConflictError{Kind: w.ki.schema.Kind, ID: w.id, Expected: w.base}
			case pgErr.Code == "23505" && pgErr.ConstraintName != "" && pgErr.ConstraintName == w.ki.numberIndex:
				num := w.doc.Fields[w.ki.schema.NumberIndex()].Str()
				return fmt.Errorf("%w: %w", &storage.DuplicateNumberError{Kind: w.ki.schema.Kind, Number: num, ID: w.id}, err)
			}
		}
		return interpretError(err, "commit")
	}
	return nil
}

// rollback ends a transaction the commit left open after a failure. It runs
// even when ctx is cancelled; if it fails, the pool discards the connection
// (it is not idle).
func (u *unit) rollback(ctx context.Context) {
	if pc := u.conn.PgConn(); pc.IsClosed() || pc.TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = u.conn.Exec(rctx, "ROLLBACK")
}
