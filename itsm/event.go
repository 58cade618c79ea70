package itsm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Event is one entry of the domain event log: an accepted transition or a
// change of a record. It is written in the same unit of work as the record,
// so the log is at once the audit trail, the outbox for hosts and the source
// of every KPI.
//
// Events of one record form a hash chain: PrevHash is the Hash of the
// record's previous event and Hash covers every field below except Seq. The
// record itself keeps the hash of its last event (Record.Head), so removing
// the newest event is detected too.
type Event struct {
	Seq           int64         `json:"seq"`              // global position in the log, assigned by the store on commit
	Tenant        string        `json:"tenant,omitempty"` // tenant the record belongs to, set by the store (DefaultTenant when the host names none)
	ID            string        `json:"id"`               // event id (UUID v7)
	Kind          string        `json:"kind"`             // record kind, for example "incident"
	RecordID      string        `json:"record_id"`        // id of the record
	Number        string        `json:"number"`           // human number of the record, INC0001042
	RecordVersion int64         `json:"record_version"`   // version of the record after this event; 1 for its creation
	Name          string        `json:"name"`             // lifecycle event name, or "create" / "update"
	From          string        `json:"from"`             // state before; empty on create
	To            string        `json:"to"`               // state after
	Actor         string        `json:"actor"`            // id of the actor
	At            time.Time     `json:"at"`               // when it happened (backdated on import), UTC, microsecond precision
	RecordedAt    time.Time     `json:"recorded_at"`      // when it was written, UTC, microsecond precision
	Reason        string        `json:"reason,omitempty"`
	Changes       []FieldChange `json:"changes,omitempty"` // changed fields, in field order
	PrevHash      string        `json:"prev_hash"`         // hex SHA-256 of the previous event of the record, empty for the first
	Hash          string        `json:"hash"`              // hex SHA-256 of this event
}

// FieldChange is one changed field of a record: its JSON name and its old and new
// values as compact JSON text.
//
// A change marked Appended is of an append-only array (a journal such as an
// incident's comments, declared with storage.Collection.WithJournal): To
// holds only the elements this event appended, as a JSON array, and From is
// empty, so an event costs the size of what it adds, not of the whole
// thread. The full value is the concatenation of the record's appended
// changes.
type FieldChange struct {
	Field    string `json:"field"`
	From     string `json:"from"`
	To       string `json:"to"`
	Appended bool   `json:"appended,omitempty"`
}

// EventCreate and EventUpdate name the events written for a record's creation
// and for field changes without a state change.
const (
	EventCreate = "create"
	EventUpdate = "update"
)

// TimePrecision is the precision at which event and index times are kept, so
// that every store (SQL timestamps included) returns them unchanged.
const TimePrecision = time.Microsecond

// NormalizeTime returns t in UTC truncated to TimePrecision.
func NormalizeTime(t time.Time) time.Time { return t.UTC().Truncate(TimePrecision) }

// ComputeHash returns the hash of e chained to e.PrevHash. It covers every
// field except Seq and Hash, with lengths prefixed so that no two distinct
// events encode alike. The tenant is covered when it is not DefaultTenant,
// so events written before tenants existed keep their hashes.
func ComputeHash(e *Event) string {
	// One buffer and one hash call: a typical event's input fits the stack
	// array, so hashing allocates only the returned string.
	var stack [1024]byte
	sum := sha256.Sum256(appendHashInput(stack[:0], e))
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// appendHashInput appends what ComputeHash hashes: a version tag, then
// every covered field, strings as a big-endian 64-bit length and their
// bytes, numbers and times (Unix microseconds) as big-endian 64-bit values,
// the changes preceded by their count (under v2, each followed by its
// Appended flag as a number).
func appendHashInput(b []byte, e *Event) []byte {
	str := func(b []byte, s string) []byte {
		return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
	}
	num := func(b []byte, n int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(n)) }
	// An event with an Appended change hashes under v2, which adds each
	// change's flag; every other event hashes as it always did (v1).
	v2 := slices.ContainsFunc(e.Changes, func(c FieldChange) bool { return c.Appended })
	if v2 {
		b = str(b, "pillars-event-v2")
	} else {
		b = str(b, "pillars-event-v1")
	}
	b = str(b, e.PrevHash)
	b = str(b, e.ID)
	b = str(b, e.Kind)
	b = str(b, e.RecordID)
	b = str(b, e.Number)
	b = num(b, e.RecordVersion)
	b = str(b, e.Name)
	b = str(b, e.From)
	b = str(b, e.To)
	b = str(b, e.Actor)
	b = num(b, e.At.UnixMicro())
	b = num(b, e.RecordedAt.UnixMicro())
	b = str(b, e.Reason)
	b = num(b, int64(len(e.Changes)))
	for _, c := range e.Changes {
		b = str(b, c.Field)
		b = str(b, c.From)
		b = str(b, c.To)
		if v2 {
			flag := int64(0)
			if c.Appended {
				flag = 1
			}
			b = num(b, flag)
		}
	}
	if e.Tenant != "" && e.Tenant != DefaultTenant {
		b = str(b, "tenant")
		b = str(b, e.Tenant)
	}
	return b
}

// Seal normalises e's times, chains it to prev (the hash of the record's
// previous event, empty for the first) and sets e.Hash.
func Seal(e *Event, prev string) {
	e.At = NormalizeTime(e.At)
	e.RecordedAt = NormalizeTime(e.RecordedAt)
	e.PrevHash = prev
	e.Hash = ComputeHash(e)
}

// ChainError describes where a record's event chain is broken. It matches
// ErrConflict: the log does not agree with itself.
type ChainError struct {
	Kind     string
	RecordID string
	Index    int // position in the slice given to Verify, from 0
	Problem  string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("%s %s: event chain broken at entry %d of the history: %s", e.Kind, e.RecordID, e.Index+1, e.Problem)
}

// Is makes a ChainError match ErrConflict.
func (e *ChainError) Is(target error) bool { return target == ErrConflict }

// Verify checks the events of one record, oldest first, against their hash
// chain. head is the hash the record holds for its newest event (Record.Head);
// pass "" to skip that final check. It detects any edited, removed, inserted
// or reordered entry and returns a *ChainError naming the first bad entry.
func Verify(events []Event, head string) error {
	prev := ""
	for i := range events {
		e := &events[i]
		if i > 0 && (e.Kind != events[0].Kind || e.RecordID != events[0].RecordID) {
			return &ChainError{Kind: e.Kind, RecordID: e.RecordID, Index: i, Problem: "entry belongs to another record"}
		}
		if e.RecordVersion != int64(i)+1 {
			return &ChainError{Kind: e.Kind, RecordID: e.RecordID, Index: i,
				Problem: fmt.Sprintf("record version %d, want %d (entry removed or reordered)", e.RecordVersion, i+1)}
		}
		if e.PrevHash != prev {
			return &ChainError{Kind: e.Kind, RecordID: e.RecordID, Index: i, Problem: "previous hash does not match (entry removed or reordered)"}
		}
		if got := ComputeHash(e); got != e.Hash {
			return &ChainError{Kind: e.Kind, RecordID: e.RecordID, Index: i, Problem: "hash does not match content (entry edited)"}
		}
		prev = e.Hash
	}
	if head != "" && prev != head {
		kind, id := "", ""
		if len(events) > 0 {
			kind, id = events[0].Kind, events[0].RecordID
		}
		return &ChainError{Kind: kind, RecordID: id, Index: len(events), Problem: "record head does not match the newest entry (entries removed at the end)"}
	}
	return nil
}
