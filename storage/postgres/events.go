package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// eventColumns lists the stored columns of an event in scan order.
const eventColumns = "seq, id, kind, record_id, number, record_version, name, from_state, to_state, actor, at_us, recorded_at_us, reason, changes, prev_hash, hash, tenant"

// insertEventsSQL inserts a unit's events from one array per column, in the
// order given: the Seq default is drawn row by row after the ORDER BY. $1 is
// the unit's tenant.
func (s *Store) insertEventsSQL() string {
	return "INSERT INTO " + s.eventsTable + " (" + eventInsertColumns + ") " +
		"SELECT $1, e.id, e.kind, e.record_id, e.number, e.record_version, e.name, e.from_state, e.to_state, e.actor, e.at_us, e.recorded_at_us, e.reason, e.changes, e.prev_hash, e.hash " +
		"FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::text[], $14::text[], $15::text[], $16::text[]) " +
		"WITH ORDINALITY AS e(id, kind, record_id, number, record_version, name, from_state, to_state, actor, at_us, recorded_at_us, reason, changes, prev_hash, hash, ord) ORDER BY e.ord"
}

// eventArrays is a batch of events as one array per column.
type eventArrays struct {
	id, kind, recordID, number, name, from, to, actor, reason, prevHash, hash []string
	recordVersion, at, recordedAt                                             []int64
	changes                                                                   []*string
}

func newEventArrays(events []itsm.Event) (*eventArrays, error) {
	n := len(events)
	a := &eventArrays{
		id: make([]string, n), kind: make([]string, n), recordID: make([]string, n), number: make([]string, n),
		name: make([]string, n), from: make([]string, n), to: make([]string, n), actor: make([]string, n),
		reason: make([]string, n), prevHash: make([]string, n), hash: make([]string, n),
		recordVersion: make([]int64, n), at: make([]int64, n), recordedAt: make([]int64, n), changes: make([]*string, n),
	}
	for i := range events {
		e := &events[i]
		a.id[i], a.kind[i], a.recordID[i], a.number[i] = e.ID, e.Kind, e.RecordID, e.Number
		a.name[i], a.from[i], a.to[i], a.actor[i] = e.Name, e.From, e.To, e.Actor
		a.reason[i], a.prevHash[i], a.hash[i] = e.Reason, e.PrevHash, e.Hash
		a.recordVersion[i], a.at[i], a.recordedAt[i] = e.RecordVersion, e.At.UnixMicro(), e.RecordedAt.UnixMicro()
		c, err := encodeChanges(e.Changes)
		if err != nil {
			return nil, fmt.Errorf("postgres: event %s of %s %s: %w", e.ID, e.Kind, e.RecordID, err)
		}
		a.changes[i] = c
	}
	return a, nil
}

func (a *eventArrays) args(tenant string) []any {
	return []any{tenant, a.id, a.kind, a.recordID, a.number, a.recordVersion, a.name, a.from, a.to, a.actor,
		a.at, a.recordedAt, a.reason, a.changes, a.prevHash, a.hash}
}

// encodeChanges stores Changes as JSON text (not jsonb, which would reorder
// and respace it), NULL for a nil slice so that nil and empty stay apart.
func encodeChanges(c []itsm.FieldChange) (*string, error) {
	if c == nil {
		return nil, nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// checkEvent refuses what the text columns cannot hold, naming the event.
func checkEvent(e *itsm.Event) error {
	strs := []struct{ name, v string }{
		{"id", e.ID}, {"kind", e.Kind}, {"record_id", e.RecordID}, {"number", e.Number}, {"name", e.Name},
		{"from", e.From}, {"to", e.To}, {"actor", e.Actor}, {"reason", e.Reason}, {"prev_hash", e.PrevHash}, {"hash", e.Hash},
	}
	for _, s := range strs {
		if err := checkText(s.v); err != nil {
			return itsm.Invalidf("postgres: event %q of %s %s: %s %v", e.ID, e.Kind, e.RecordID, s.name, err)
		}
	}
	for _, c := range e.Changes {
		for _, v := range []string{c.Field, c.From, c.To} {
			if err := checkText(v); err != nil {
				return itsm.Invalidf("postgres: event %q of %s %s: change of %q %v", e.ID, e.Kind, e.RecordID, c.Field, err)
			}
		}
	}
	return nil
}

// eventInsertColumns lists the columns an insert fills; seq takes its
// default, nextval of _event_seq, row by row in the order given.
const eventInsertColumns = "tenant, id, kind, record_id, number, record_version, name, from_state, to_state, actor, at_us, recorded_at_us, reason, changes, prev_hash, hash"

// maxValuesEvents is the most events inserted with one VALUES row each;
// more go through arrays (insertEventsSQL), one statement for any count.
const maxValuesEvents = 8

// insertEvents returns the statement and parameters that insert events of
// tenant, in the order given.
func (s *Store) insertEvents(tenant string, events []itsm.Event) (string, []any, error) {
	if len(events) > maxValuesEvents {
		arrays, err := newEventArrays(events)
		if err != nil {
			return "", nil, err
		}
		return s.insertEventsSQL(), arrays.args(tenant), nil
	}
	args := make([]any, 1, 15*len(events)+1)
	args[0] = tenant
	for i := range events {
		e := &events[i]
		changes, err := encodeChanges(e.Changes)
		if err != nil {
			return "", nil, fmt.Errorf("postgres: event %s of %s %s: %w", e.ID, e.Kind, e.RecordID, err)
		}
		args = append(args, e.ID, e.Kind, e.RecordID, e.Number, e.RecordVersion, e.Name, e.From, e.To, e.Actor,
			e.At.UnixMicro(), e.RecordedAt.UnixMicro(), e.Reason, changes, e.PrevHash, e.Hash)
	}
	return s.valuesSQL[len(events)], args, nil
}

// buildValuesSQL returns the VALUES inserts of 1..maxValuesEvents events;
// $1 is their tenant.
func buildValuesSQL(table string) [maxValuesEvents + 1]string {
	var out [maxValuesEvents + 1]string
	for n := 1; n <= maxValuesEvents; n++ {
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + eventInsertColumns + ") VALUES ")
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteString("($1")
			for c := range 15 {
				fmt.Fprintf(&b, ", $%d", r*15+c+2)
			}
			b.WriteByte(')')
		}
		out[n] = b.String()
	}
	return out
}

// ReadEvents returns up to limit events with Seq > after, in Seq order; see
// storage.Backend. A limit below 1 is ErrInvalid; a negative after reads
// from the start.
//
// How it never skips an event that commits late:
//
// Events live in the _events table; Seq comes from the native sequence
// _event_seq (CACHE 1: a value drawn later is always larger). A sequence
// alone is not enough: a unit that drew Seq 41 may commit after a unit that
// drew 42, and a reader that saw 42 and moved its position past it would
// never see 41. Two rules close that window.
//
// Consecutive Seqs need no lock. If a read returns after+1, after+2, ...,
// after+k with no hole, every Seq up to after+k is accounted for, and
// whatever commits later has a larger Seq. ReadEvents returns the hole-free
// prefix of what it read as it is; that is the common case for a reader
// that is behind, and for any reader while no unit is between drawing a Seq
// and committing.
//
// A hole right after the reader's position is resolved under one advisory
// lock per namespace (Store.eventsKey), taken in two modes:
//
//   - A unit of work keeps its events and inserts them at the very end, in
//     the one round trip that commits it: "take the lock SHARED, insert the
//     events (drawing their Seq)", then the commit. Shared holders do not
//     wait for one another, so writers commit in parallel and share WAL
//     flushes. A transaction-level lock is released only after the commit
//     is visible to every new snapshot.
//   - The reader takes the lock EXCLUSIVE for the one statement that reads:
//     "BEGIN, take the lock, SELECT ... WHERE seq > after, COMMIT", again
//     one round trip. While it holds the lock no unit is between drawing a
//     Seq and finishing its commit, so every Seq drawn so far is committed
//     (and in the reader's snapshot, taken after the lock) or rolled back (a
//     hole that never fills). A unit that draws a Seq afterwards takes the
//     shared lock after the reader released it, and draws a value larger
//     than every Seq the reader returned.
//
// Never twice: the reader asks for seq > after. The cost of the lock falls
// on readers at a hole, not on writers otherwise: such a reader waits for
// the units committing at that moment, and units arriving meanwhile queue
// behind it for the length of one indexed SELECT. WithEventReadLockTimeout
// bounds the reader's wait.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if limit < 1 {
		return nil, itsm.Invalidf("postgres: read events: limit %d, want at least 1", limit)
	}
	after = max(after, 0)
	sql, args, tenant := s.readAllEventsSQL, []any{after, limit}, allTenants
	if !storage.IsAllTenants(ctx) {
		t, err := s.tenant(ctx)
		if err != nil {
			return nil, err
		}
		sql, args, tenant = s.readEventsSQL, append(args, t), t
	}
	rows, err := s.query(ctx, s.pool, tenant, sql, args...)
	if err != nil {
		return nil, interpretError(err, "read events")
	}
	events, err := scanEvents(rows)
	if err != nil || s.noEventLock {
		return events, err
	}
	// Events numbered after+1, after+2, ... without a hole cannot have
	// skipped anything: return them as read. A hole right after the
	// reader's position may be a unit still committing; only then is the
	// lock needed.
	n := 0
	for n < len(events) && events[n].Seq == after+int64(n)+1 {
		n++
	}
	if n > 0 || len(events) == 0 {
		return events[:n], nil
	}
	s.lockedReads.Add(1)
	return s.readEventsLocked(ctx, tenant, sql, args)
}

// readEventsLocked reads under the exclusive event lock, which waits until
// no unit is between drawing a Seq and committing: every hole left then is
// a unit that rolled back, and never fills.
func (s *Store) readEventsLocked(ctx context.Context, tenant, sql string, args []any) ([]itsm.Event, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, interpretError(err, "read events: acquire connection")
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT set_config('lock_timeout', $1, true)", strconv.FormatInt(s.readLockTimeout.Milliseconds(), 10))
	b.Queue("SELECT pg_advisory_xact_lock($1)", s.eventsKey)
	scoped := s.scope(b, tenant)
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	events, err := readEventBatch(br, 3+scoped)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = interpretError(cerr, "read events")
	}
	if err != nil {
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return nil, err
	}
	return events, nil
}

// readEventBatch reads the results of readEventsLocked's batch: skip
// statements, the events, the commit.
func readEventBatch(br pgx.BatchResults, skip int) ([]itsm.Event, error) {
	for range skip {
		if _, err := br.Exec(); err != nil {
			return nil, interpretError(err, "read events")
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, interpretError(err, "read events")
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, interpretError(err, "read events: commit")
	}
	return events, nil
}

// History returns the events of one record in RecordVersion order; see
// storage.Backend. A record without events has an empty history.
func (s *Store) History(ctx context.Context, kind, id string) ([]itsm.Event, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return nil, err
	}
	if checkText(kind) != nil || checkText(id) != nil {
		return nil, nil // nothing with such a name can be stored
	}
	rows, err := s.query(ctx, s.pool, tenant, "SELECT "+eventColumns+" FROM "+s.eventsTable+
		" WHERE tenant = $1 AND kind = $2 AND record_id = $3 ORDER BY record_version, seq", tenant, kind, id)
	if err != nil {
		return nil, interpretError(err, "history of "+kind+" "+id)
	}
	return scanEvents(rows)
}

// scanEvents reads event rows and closes them. A row that cannot be read
// back into an itsm.Event is reported with its Seq and record.
func scanEvents(rows pgx.Rows) ([]itsm.Event, error) {
	defer rows.Close()
	var out []itsm.Event
	for rows.Next() {
		var e itsm.Event
		var at, recordedAt int64
		var changes *string
		err := rows.Scan(&e.Seq, &e.ID, &e.Kind, &e.RecordID, &e.Number, &e.RecordVersion, &e.Name, &e.From, &e.To,
			&e.Actor, &at, &recordedAt, &e.Reason, &changes, &e.PrevHash, &e.Hash, &e.Tenant)
		if err != nil {
			return nil, fmt.Errorf("postgres: event %d of %s %s: stored row is corrupt: %w", e.Seq, e.Kind, e.RecordID, err)
		}
		e.At, e.RecordedAt = time.UnixMicro(at).UTC(), time.UnixMicro(recordedAt).UTC()
		if changes != nil {
			e.Changes = []itsm.FieldChange{}
			if err := json.Unmarshal([]byte(*changes), &e.Changes); err != nil {
				return nil, fmt.Errorf("postgres: event %d (%s) of %s %s: stored changes are corrupt: %w", e.Seq, e.ID, e.Kind, e.RecordID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "read events")
	}
	return out, nil
}
