package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
// default, nextval of _event_seq, row by row in the order given, under the
// shared event locks (eventLockSQL) taken just before.
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
// storage.Backend. They are the tenant's of ctx, or every tenant's under
// storage.AllTenants. A limit below 1 is ErrInvalid; a negative after reads
// from the start.
//
// How it never skips an event that commits late, and never makes a writer
// wait:
//
// Events live in the _events table; Seq comes from the native sequence
// _event_seq (CACHE 1: a value drawn later is always larger), shared by all
// tenants. A sequence alone is not enough: a unit that drew Seq 41 may
// commit after a unit that drew 42, and a reader that saw 42 and moved its
// position past it would never see 41. Two rules close that window.
//
// Consecutive Seqs are safe. If a read returns after+1, after+2, ...,
// after+k with no hole, every Seq up to after+k is accounted for, and
// whatever commits later has a larger Seq. ReadEvents returns the hole-free
// prefix of what it read as it is: the common case for a reader that is
// behind, and for any reader while no unit is between drawing a Seq and
// committing.
//
// A hole is resolved by looking, never by waiting in a lock queue. A unit
// of work belongs to one tenant; it keeps its events and inserts them at the
// very end, in the one round trip that commits it: "take two advisory locks
// SHARED, the namespace's and its tenant's, both keyed by the sequence's
// last value L read just before (the unit's Seqs will all be above L);
// insert the events (drawing their Seq)", then the commit, which releases
// the locks once it is visible to every new snapshot. Import does the same.
// Nobody ever takes these locks exclusively, so a writer never waits for
// one. A reader at a hole sends, in one round trip and in this order: read
// the sequence's last value C; list the keys L of the event locks held now
// (pg_locks): the namespace's for a reader of every tenant, its tenant's
// for a reader of one; read the events in a new snapshot. Every Seq at most
// B = min(C, every L listed) is then decided for the reader: a unit that
// drew such a Seq (and whose events the reader can see) drew it before C was
// read, so it took its lock before the listing. Its key is below its Seq,
// which is at most B, which is at most every key listed: its lock was not
// listed, so it had been released, and the unit had committed (and is in
// the snapshot taken after) or rolled back (a hole that never fills).
// ReadEvents returns the longest prefix whose events are each at most B or
// consecutive to the one before.
//
// A reader of one tenant sees every other tenant's Seqs as holes, so it
// computes B in the same round trip as its read whenever the tenant's next
// committed Seq is not after+1: it sends "BEGIN READ COMMITTED; set the
// tenant; C; the tenant's lock keys; the events; COMMIT", and needs no
// second round trip at a hole. The two looks skip themselves when the
// tenant's next committed Seq is after+1 (a tenant writing alone, the
// default tenant of a single-tenant host: the consecutive rule hands out at
// least that event) or there is none (a reader at the head of the log). Only the
// tenant's own open units hold it back: another tenant's unit, open for
// however long, does not. A reader of every tenant reads with one SELECT
// first, and only at a hole right after its position sends the round trip
// above with the namespace's locks.
//
// A snapshot's oldest running transaction (pg_snapshot_xmin) cannot stand
// in for the locks: transaction ids are taken in one order and Seqs drawn
// in another, so a unit with the older id may draw the later Seq and commit
// while the unit with the younger id still holds the earlier one, and an
// "id older than xmin" rule hands out the later event and skips the
// earlier. The lock keys are Seqs, which orders them the way the reader
// needs; and only units of this store's log (of the reader's tenant) count,
// not every transaction of the cluster.
//
// Never twice: the reader asks for seq > after.
//
// When nothing is safe yet (events after the reader's position follow a
// hole, and a unit that may fill it is still committing), ReadEvents looks
// again with a backoff from 1 ms to 50 ms, up to the bound
// WithEventReadWait sets. Past the bound, or when ctx ends while it waits,
// it returns an error matching itsm.ErrBusy (and the context's error when
// that ended it): retry shortly. With WithEventReadWait(0) it does not wait
// and returns what is safe: nothing, and no error. A read the server stops
// by lock_timeout or statement_timeout (a migration holding the table, a
// timeout set for the role) matches itsm.ErrBusy too.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if limit < 1 {
		return nil, itsm.Invalidf("postgres: read events: limit %d, want at least 1", limit)
	}
	after = max(after, 0)
	tenant := allTenants
	if !storage.IsAllTenants(ctx) {
		t, err := s.tenant(ctx)
		if err != nil {
			return nil, err
		}
		tenant = t
	}
	if tenant == allTenants || s.unsafeReads {
		// One SELECT: events numbered after+1, after+2, ... without a hole
		// cannot have skipped anything; return them as read. A hole right
		// after the reader's position may be a unit still committing; only
		// then are the writers' locks looked at.
		sql, args := s.readAllEventsSQL, []any{after, limit}
		if tenant != allTenants {
			sql, args = s.readEventsSQL, append(args, tenant)
		}
		rows, err := s.query(ctx, s.pool, tenant, sql, args...)
		if err != nil {
			return nil, readError(ctx, err, "read events", false)
		}
		events, err := scanEvents(rows)
		if err != nil {
			return nil, readError(ctx, err, "read events", true)
		}
		if s.unsafeReads || len(events) == 0 {
			return events, nil
		}
		if n := safePrefix(events, after, 0); n > 0 {
			return events[:n], nil
		}
	}
	var deadline time.Time
	pause := time.Millisecond
	for {
		events, bound, err := s.readSettled(ctx, tenant, after, limit)
		if err != nil {
			return nil, err
		}
		n := safePrefix(events, after, bound)
		if n > 0 || len(events) == 0 || s.readWait == 0 {
			return events[:n], nil
		}
		if deadline.IsZero() {
			s.gapWaits.Add(1)
			deadline = time.Now().Add(s.readWait)
		}
		if err := sleepUntil(ctx, min(pause, time.Until(deadline))); err != nil || !time.Now().Before(deadline) {
			return nil, s.busy(after, events[0].Seq, bound, err)
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// safePrefix returns how many of events (in Seq order, read after after)
// can be handed out: each one at most bound, or consecutive to the one
// before (after itself for the first).
func safePrefix(events []itsm.Event, after, bound int64) int {
	prev := after
	for i, e := range events {
		if e.Seq > bound && e.Seq != prev+1 {
			return i
		}
		prev = e.Seq
	}
	return len(events)
}

// sleepUntil pauses for d, or until ctx ends (its cause is returned).
func sleepUntil(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// busy is the error of a reader that could hand out nothing before its
// bound passed, or its context ended (cause).
func (s *Store) busy(after, next, bound int64, cause error) error {
	msg := fmt.Sprintf("postgres: read events after %d: %%w: event %d follows a hole, and a unit that may fill it is still committing (every Seq up to %d is decided)", after, next, bound)
	if cause != nil {
		return fmt.Errorf(msg+"; retry shortly: %w", itsm.ErrBusy, cause)
	}
	return fmt.Errorf(msg+"; waited %s, retry shortly", itsm.ErrBusy, s.readWait)
}

// heldLocksSQL lists the keys of the event locks of class $1 held in this
// database: pg_advisory_xact_lock_shared(class, key) shows as classid =
// class, objid = key (both as unsigned 32-bit), objsubid = 2.
const heldLocksSQL = "SELECT objid::int8 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND classid = $1::int8::oid " +
	"AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())"

// readSettled reads the events after after with the bound B up to which
// every Seq is decided for the reader (0 when it skipped computing it:
// the tenant's next committed Seq was after+1, or there was none); see
// ReadEvents. One round
// trip, in one read-only READ COMMITTED transaction so that each statement
// takes a snapshot of its own, in order.
func (s *Store) readSettled(ctx context.Context, tenant string, after int64, limit int) ([]itsm.Event, int64, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, 0, readError(ctx, err, "read events: acquire connection", false)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY")
	scoped := s.scope(b, tenant)
	if tenant == allTenants {
		b.Queue(s.lastSeqSQL)
		b.Queue(allLocksSQL, s.eventsClass)
		b.Queue(s.readAllEventsSQL, after, limit)
	} else {
		b.Queue(s.tenantLastSeqSQL, tenant, after)
		b.Queue(s.tenantLocksSQL, int64(uint32(s.lockClass(tenant))), tenant, after)
		b.Queue(s.readEventsSQL, after, limit, tenant)
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	events, bound, looked, err := readSettledBatch(br, scoped)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return nil, 0, readError(ctx, err, "read events", false)
	}
	if looked {
		s.holeReads.Add(1)
	}
	return events, bound, nil
}

// allLocksSQL returns, as one row, false (the locks were looked at) and the
// keys of the held event locks of class $1.
const allLocksSQL = "SELECT false, ARRAY(" + heldLocksSQL + ")"

// readSettledBatch reads the results of readSettled's batch: BEGIN, the
// scope statements, C (NULL: not looked at), the skip flag and lock keys,
// the events, COMMIT. looked says whether the bound was computed.
func readSettledBatch(br pgx.BatchResults, scoped int) (events []itsm.Event, bound int64, looked bool, err error) {
	for range 1 + scoped {
		if _, err := br.Exec(); err != nil {
			return nil, 0, false, err
		}
	}
	var last *int64
	if err := br.QueryRow().Scan(&last); err != nil {
		return nil, 0, false, err
	}
	var skip bool
	var keys []int64
	if err := br.QueryRow().Scan(&skip, &keys); err != nil {
		return nil, 0, false, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, 0, false, err
	}
	if events, err = scanEvents(rows); err != nil {
		return nil, 0, false, err
	}
	if _, err := br.Exec(); err != nil {
		return nil, 0, false, err
	}
	// Both looks must have been made; either statement skips its look
	// when, in its snapshot, the tenant's next committed Seq is after+1
	// (the events read after see it too, and the consecutive rule alone
	// hands it out) or there is none (a reader at the head of the log,
	// which a look would only slow down). Without the bound, 0, only the
	// consecutive rule applies, which is always safe.
	if last == nil || skip {
		return events, 0, false, nil
	}
	bound = *last
	for _, k := range keys {
		bound = min(bound, lockSeq(k, *last))
	}
	return events, bound, true, nil
}

// lockKey is the 32-bit key of the event lock a unit takes when the
// sequence's last value is last (see eventLockSQL, which computes it in
// SQL): last modulo 2^32, shifted into int4's range.
func lockKey(last int64) int32 { return int32(uint32(last) - 1<<31) }

// lockSeq turns the objid of an event lock (lockKey as pg_locks shows it,
// unsigned) back into the Seq it was taken at, the one within 2^31 of ref (a
// lock is held for the length of a commit, while the sequence moves on by
// far less).
func lockSeq(objid, ref int64) int64 {
	low := uint32(objid) + 1<<31
	return ref + int64(int32(low-uint32(ref)))
}

// readError interprets an error of the reader: a statement the server
// stopped by lock_timeout (55P03) or statement_timeout (57014, when the
// caller's context did not end: then it is the driver's own cancel) matches
// itsm.ErrBusy as well; anything else is left to interpretError (or is
// returned as it is when interpreted already).
func readError(ctx context.Context, err error, op string, interpreted bool) error {
	var pgErr *pgconn.PgError
	if ctx.Err() == nil && errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "57014") {
		return fmt.Errorf("postgres: %s: %w: the server stopped the read (%s); retry shortly: %w", op, itsm.ErrBusy, pgErr.Message, pgErr)
	}
	if interpreted {
		return err
	}
	return interpretError(err, op)
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

// lockClass returns the class of tenant's event locks: every unit of the
// tenant takes it, besides the namespace's (Store.eventsClass), so that a
// reader of one tenant waits only for that tenant's units. Two tenants whose
// classes collide only wait for each other's commits.
func (s *Store) lockClass(tenant string) int32 {
	return int32(advisoryKey(s.schema, "events\x00"+tenant))
}
