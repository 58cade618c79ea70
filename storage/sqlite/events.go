package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The event log is the table pillars_events, whose INTEGER PRIMARY KEY seq is
// SQLite's rowid. SQLite admits one writer at a time and a unit of work
// assigns seq (max(rowid)+1) inside its BEGIN IMMEDIATE transaction, holding
// the write lock until it commits; the next writer, of this process or
// another, starts only after that commit and so can only take higher values.
// Seq order is therefore commit order: a reader that resumes after the last
// seq it saw never skips an event that commits late, which a database with
// concurrent writers (PostgreSQL's sequences) has to work for. Rolled-back
// units free their seq values again, so the committed log has no gaps from
// them. Triggers refuse UPDATE and DELETE: the log is append-only.
//
// Each event row holds its tenant, the unit of work's. ReadEvents reads the
// context's tenant's events on the (tenant, seq) index, or every tenant's
// under storage.AllTenants; History reads a record's on (tenant, kind,
// record_id, record_version).

const eventCols = `id, kind, record_id, number, record_version, name, from_state, to_state, actor, at, recorded_at, reason, changes, prev_hash, hash, tenant`

const eventParams = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const eventColCount = 16

const sqlAppendEvent = `INSERT INTO pillars_events (` + eventCols + `) VALUES ` + eventParams

// sqlImportEvent is sqlAppendEvent for Import: OR ROLLBACK (see
// importInsert).
const sqlImportEvent = `INSERT OR ROLLBACK INTO pillars_events (` + eventCols + `) VALUES ` + eventParams

// eventArgs appends the parameters of one event of tenant, in eventCols
// order. Times are stored as Unix microseconds (itsm.TimePrecision), Changes
// as a JSON array, NULL when the event has none, so nil and empty slices
// round-trip. The store sets the event's tenant: an event that names
// another one (its hash covers it) is ErrInvalid.
func eventArgs(args []any, e *itsm.Event, tenant string) ([]any, error) {
	if e.Tenant != "" && e.Tenant != tenant {
		return args, itsm.Invalidf("storage/sqlite: event %s of %s %s names tenant %q, but its unit of work belongs to %q", e.ID, e.Kind, e.RecordID, e.Tenant, tenant)
	}
	var changes any
	if e.Changes != nil {
		b, err := appendChangesJSON(nil, e.Changes)
		if err != nil {
			return args, itsm.Invalidf("storage/sqlite: event %s of %s %s: %v", e.ID, e.Kind, e.RecordID, err)
		}
		changes = string(b)
	}
	return append(args, e.ID, e.Kind, e.RecordID, e.Number, e.RecordVersion, e.Name, e.From, e.To, e.Actor,
		e.At.UnixMicro(), e.RecordedAt.UnixMicro(), e.Reason, changes, e.PrevHash, e.Hash, tenant), nil
}

// appendChangesJSON appends cs as the JSON array encoding/json.Marshal
// writes for it, byte for byte, without reflection: a bulk import writes one
// per event. A string that is not valid UTF-8 is an error (Marshal would
// replace its bad bytes, and the event would no longer match its hash).
func appendChangesJSON(dst []byte, cs []itsm.FieldChange) ([]byte, error) {
	if !jsontext.MatchesEncodingJSON() { // a build whose encoding/json writes otherwise
		for _, c := range cs {
			if !utf8.ValidString(c.Field) || !utf8.ValidString(c.From) || !utf8.ValidString(c.To) {
				return dst, fmt.Errorf("change of %q is not valid UTF-8 and cannot be kept as JSON", c.Field)
			}
		}
		b, err := json.Marshal(cs)
		return append(dst, b...), err
	}
	dst = append(dst, '[')
	for i, c := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok [3]bool
		dst = append(dst, `{"field":`...)
		dst, ok[0] = jsontext.AppendString(dst, c.Field)
		dst = append(dst, `,"from":`...)
		dst, ok[1] = jsontext.AppendString(dst, c.From)
		dst = append(dst, `,"to":`...)
		dst, ok[2] = jsontext.AppendString(dst, c.To)
		if c.Appended {
			dst = append(dst, `,"appended":true`...)
		}
		dst = append(dst, '}')
		if !ok[0] || !ok[1] || !ok[2] {
			return dst, fmt.Errorf("change of %q is not valid UTF-8 and cannot be kept as JSON", c.Field)
		}
	}
	return append(dst, ']'), nil
}

// Append inserts the events in the order given; they receive their Seq as
// they are inserted inside the unit's write transaction, which is the order
// they commit in.
func (u *unit) Append(ctx context.Context, events ...itsm.Event) error {
	ctx = orBackground(ctx)
	if u.ended.Load() {
		return itsm.Invalidf("storage/sqlite: Tx used after its unit of work ended")
	}
	if len(events) == 0 {
		return nil
	}
	if len(events) == 1 {
		args, err := eventArgs(make([]any, 0, eventColCount), &events[0], u.tenant)
		if err != nil {
			return err
		}
		if _, err := u.stmt(ctx, u.s.wfixed.appendEvent).ExecContext(ctx, args...); err != nil {
			return u.s.fail("append event "+events[0].ID, err)
		}
		return nil
	}
	return insertEvents(ctx, u.tx, sqlAppendEvent, events, u.tenant, u.s.fail)
}

// eventsPerStatement bounds a multi-row event INSERT well below SQLite's
// 32766 parameters.
const eventsPerStatement = 500

// insertEvents writes events of tenant with multi-row INSERTs, in order;
// head is sqlAppendEvent or sqlImportEvent, the statement for one row.
func insertEvents(ctx context.Context, tx *sql.Tx, head string, events []itsm.Event, tenant string, fail func(string, error) error) error {
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, min(len(events), eventsPerStatement)*eventColCount)
	for start := 0; start < len(events); start += eventsPerStatement {
		chunk := events[start:min(start+eventsPerStatement, len(events))]
		args = args[:0]
		for i := range chunk {
			var err error
			if args, err = eventArgs(args, &chunk[i], tenant); err != nil {
				return err
			}
		}
		text := head + strings.Repeat(", "+eventParams, len(chunk)-1)
		var err error
		if len(chunk) == eventsPerStatement {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, text); err != nil {
					return fail("append events", err)
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, text, args...)
		}
		if err != nil {
			return fail("append events", err)
		}
	}
	return nil
}

// eventScanner reads rows of seq followed by eventCols.
type eventScanner struct {
	e       itsm.Event
	at, rec int64
	changes sql.NullString
	dest    []any
}

func newEventScanner() *eventScanner {
	es := &eventScanner{}
	e := &es.e
	es.dest = []any{&e.Seq, &e.ID, &e.Kind, &e.RecordID, &e.Number, &e.RecordVersion, &e.Name, &e.From, &e.To,
		&e.Actor, &es.at, &es.rec, &e.Reason, &es.changes, &e.PrevHash, &e.Hash, &e.Tenant}
	return es
}

// scan decodes one event row; a row that does not decode is an error naming
// its seq (and record, when that much was read).
func (es *eventScanner) scan(rows *sql.Rows) (itsm.Event, error) {
	es.e = itsm.Event{}
	es.changes = sql.NullString{}
	if err := rows.Scan(es.dest...); err != nil {
		return itsm.Event{}, es.corrupt(err)
	}
	e := es.e
	e.At = time.UnixMicro(es.at).UTC()
	e.RecordedAt = time.UnixMicro(es.rec).UTC()
	if es.changes.Valid {
		if err := json.Unmarshal([]byte(es.changes.String), &e.Changes); err != nil {
			return itsm.Event{}, es.corrupt(fmt.Errorf("changes: %w", err))
		}
		if e.Changes == nil { // "null" was stored by hand: keep a non-nil empty list out of it
			return itsm.Event{}, es.corrupt(fmt.Errorf("changes: %q is not a JSON array", es.changes.String))
		}
	}
	return e, nil
}

func (es *eventScanner) corrupt(err error) error {
	what := "event seq " + strconv.FormatInt(es.e.Seq, 10)
	if es.e.Kind != "" || es.e.RecordID != "" {
		what += " (" + es.e.Kind + " " + es.e.RecordID + ")"
	}
	return &corruptError{What: what, Err: err}
}

// ReadEvents returns up to limit events of ctx's tenant with Seq > after, in
// Seq order, from the committed log; under storage.AllTenants, every
// tenant's, each carrying its Tenant (a context made by AllTenants needs no
// tenant, even WithRequireTenant). A limit below 1 is ErrInvalid.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return nil, err
	}
	all := storage.IsAllTenants(ctx)
	tenant, err := storage.TenantOf(ctx, s.opts.requireTenant && !all)
	if err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, itsm.Invalidf("storage/sqlite: read events: limit %d, want at least 1", limit)
	}
	if all {
		return s.readEvents(ctx, "read events", `SELECT seq, `+eventCols+` FROM pillars_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	}
	return s.readEvents(ctx, "read events", `SELECT seq, `+eventCols+` FROM pillars_events WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?`, tenant, after, limit)
}

// History returns the events of one record of ctx's tenant in
// RecordVersion order (then Seq, should a version repeat), using the
// (tenant, kind, record_id, record_version) index. A record without events,
// or of another tenant, has an empty history.
func (s *Store) History(ctx context.Context, kindName, id string) ([]itsm.Event, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return nil, err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	return s.readEvents(ctx, "history of "+kindName+" "+id,
		`SELECT seq, `+eventCols+` FROM pillars_events WHERE tenant = ? AND kind = ? AND record_id = ? ORDER BY record_version, seq`, tenant, kindName, id)
}

func (s *Store) readEvents(ctx context.Context, what, text string, args ...any) ([]itsm.Event, error) {
	rs, err := s.readStmt(ctx, text)
	if err != nil {
		return nil, s.fail(what, err)
	}
	defer s.releaseRead(rs)
	rows, err := rs.st.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.fail(what, err)
	}
	defer rows.Close()
	var out []itsm.Event
	es := newEventScanner()
	for rows.Next() {
		e, err := es.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(what, err)
	}
	return out, nil
}
