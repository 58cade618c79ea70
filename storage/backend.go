package storage

import (
	"context"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
)

// Backend is what a storage adapter implements: a document store with
// optimistic versions, queries on declared fields, units of work, sequences
// and the domain event log.
//
// Backend is the unauthorised adapter contract: it knows no actor and
// hands out every document and event, internal fields included. It is the
// host's handle on its own data, never something to give an actor. Actors
// read and write through the pillars and storage.Records, which authorise
// every read and write. Every method returns errors matching the itsm
// sentinels (ErrNotFound, ErrConflict, ErrInvalid), and every failed call
// leaves the store as it was.
//
// Rules every method keeps, checked by storage/storagetest:
//   - a nil context never panics: the call works or returns ErrInvalid;
//   - documents and filters are checked with Schema.CheckDocument and
//     Schema.CheckQuery, so indexed strings are NUL-free UTF-8 of at most
//     MaxStringValue bytes;
//   - inside a unit of work, a failed call (a conflict, a bad document)
//     leaves the unit usable: the caller may go on or return the error;
//   - a Tx used after its unit ended returns an error and writes nothing;
//   - a unit whose context is cancelled commits everything or nothing;
//   - a failure of the underlying database (a lost connection, a full disk)
//     is returned wrapping the driver's error, so errors.As reaches it; it
//     matches none of the sentinels, because nothing is known about the
//     data, and the unit of work is rolled back;
//   - human numbers are unique within a kind and tenant: when a kind's schema declares
//     the string field NumberField, no two documents of the kind hold the
//     same non-empty value in it. A write (Tx.Put, Import) that would give
//     a document a number another document of its kind holds fails with a
//     *DuplicateNumberError (ErrConflict) and writes nothing; the empty
//     string is not a number and may repeat. SQL stores keep the rule with
//     a unique index on the field where it is not empty, created by
//     Register, also on tables created before the rule existed (Register
//     then fails with a *DuplicateNumberError when stored documents
//     already repeat a number, until they are fixed). The check may come
//     at Put or when the unit commits; either way nothing is written.
//     Moving a number from one document to another takes two units (give
//     it up, then take it): within one unit a store may refuse it.
//
// Tenancy. Every document, sequence value, human number and event belongs
// to a tenant: the one TenantOf returns for the call's context (a context
// without one belongs to itsm.DefaultTenant, so a single-tenant host
// notices nothing). Every Backend method calls TenantOf first (Update once,
// for its whole unit); a malformed tenant, or none on a store configured
// to require one, is ErrInvalid and nothing is read or written. Then:
//   - a unit of work belongs to the tenant of Update's context: its Tx
//     reads and writes that tenant's data whatever context its methods are
//     given;
//   - Get, Query, Tx.Get, Tx.Query, Tx.Delete, History, traversals and
//     imports see only the tenant's documents and events: a document of
//     another tenant is ErrNotFound to Get and Delete and invisible to
//     queries, exactly as if it did not exist;
//   - Tx.Put never overwrites or reveals another tenant's document: a Put
//     of an id another tenant holds either writes the caller's own document
//     (stores that key documents by tenant) or fails with ErrConflict
//     (stores whose ids are global), and a Put expecting a version the
//     caller's tenant does not hold is ErrConflict;
//   - sequences are per tenant (two tenants both draw 1 first) and human
//     numbers are unique per tenant and kind;
//   - a query's cursors are bound to the tenant (Schema.CheckQueryFor): a
//     cursor issued to one tenant is ErrInvalid to another;
//   - Append sets each event's Tenant to the unit's tenant (an event that
//     names another tenant is ErrInvalid); events are returned with it set
//     on every read, DefaultTenant included. ReadEvents and ScanEvents
//     return the tenant's events only, unless the context was made by
//     AllTenants: then they return every tenant's, in one Seq order. Seq
//     values are global, so one tenant's log has gaps.
//
// Schema changes. A kind may be registered again, by this process or an
// earlier one, with another schema; CompareSchemas holds the rule every
// store applies:
//   - adding fields or indexes is a migration: documents stored before hold
//     the new field's ZeroValue until they are rewritten, and queries may
//     filter and sort on it at once;
//   - removing fields or indexes is accepted: the field's index or column is
//     dropped or ignored, its values stay in the documents' Data;
//   - changing a field's type is refused with a *SchemaChangeError
//     (ErrConflict) and changes nothing;
//   - Document.Fields follow the schema registered last on the Backend
//     value, on every read.
//
// Run storage/storagetest against an implementation to prove it.
type Backend interface {
	// Register declares a kind's indexed fields and composite indexes. It
	// must be called before the kind is used; registering the same schema
	// again is a no-op, and registering another one for a kind already
	// registered migrates it as the schema-change rules above say (a changed
	// field type is a *SchemaChangeError matching ErrConflict). Schemas are
	// shared by every tenant, so Register needs no tenant in ctx, even on a
	// store that requires one for everything else (a malformed one is still
	// ErrInvalid). SQL adapters create columns and indexes here; use of an
	// unregistered kind is ErrInvalid.
	Register(ctx context.Context, s Schema) error

	// Get returns the committed document of kind with id, or ErrNotFound.
	Get(ctx context.Context, kind, id string) (Document, error)

	// Query returns one page of committed documents. Backends validate the
	// query with Schema.CheckQuery first and run it on indexes, never by
	// loading every document of the kind.
	Query(ctx context.Context, q Query) (Page, error)

	// Update runs fn in one unit of work: the documents, sequence values and
	// events it writes commit together when fn returns nil, and nothing is
	// written when fn returns an error or panics (the panic is returned as
	// an error). The Tx must not be used after fn returns. fn must not call
	// Update or Register on the same Backend: an adapter with a single
	// writer (SQLite) would wait for itself; write several records in one
	// unit through the Tx instead.
	Update(ctx context.Context, fn func(tx Tx) error) error

	// ReadEvents returns up to limit events with Seq > after, in Seq order.
	// The events are the tenant's, or every tenant's under AllTenants (see
	// Backend). A reader that passes the last Seq it saw as after never
	// misses an event and never sees one twice, even when a unit of work that was assigned a
	// lower Seq commits after a higher one was read. Seq values strictly
	// increase and may have gaps. A limit below 1 returns nothing or
	// ErrInvalid. A store may return an error matching itsm.ErrBusy when it
	// cannot yet tell whether a lower Seq will commit; retry shortly.
	ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error)

	// History returns the events of one record in RecordVersion order; a
	// record without events gives an empty slice and no error.
	History(ctx context.Context, kind, id string) ([]itsm.Event, error)

	// Close releases the backend's resources.
	Close() error
}

// Tx is a unit of work. Reads see the unit's own writes.
type Tx interface {
	// Get returns the document as this unit of work sees it, or ErrNotFound.
	Get(ctx context.Context, kind, id string) (Document, error)

	// Query runs q as this unit of work sees the store. Adapters may read
	// committed data only for queries; units that must see their own writes
	// use Get.
	Query(ctx context.Context, q Query) (Page, error)

	// Put writes d when the stored version equals expected (0: the document
	// must not exist yet), and fails with ErrConflict otherwise. d.Version is
	// the version stored and must be greater than expected (usually
	// expected+1; an import may write a record at a later version at once).
	// The document is checked with Schema.CheckDocument. A human number
	// another document of the kind holds is a *DuplicateNumberError, here
	// or when the unit commits (see Backend).
	Put(ctx context.Context, d Document, expected int64) error

	// Delete removes the document when its stored version equals version,
	// ErrConflict otherwise, ErrNotFound when it does not exist.
	Delete(ctx context.Context, kind, id string, version int64) error

	// NextSequence returns the next value of the named sequence, starting at
	// 1. Values are unique across every unit of work and every instance
	// sharing the store, committed or not: a unit that fails or is rolled
	// back does not give its values back, so a human number is never issued
	// twice and gaps are allowed.
	NextSequence(ctx context.Context, name string) (int64, error)

	// AdvanceSequence moves the named sequence forward so that every later
	// NextSequence returns a value greater than atLeast; a sequence already
	// past atLeast is left as it is (it never moves back). It is atomic
	// with NextSequence across units and instances: no value drawn before
	// or after is issued again. Like NextSequence it takes effect at once,
	// whether its unit commits or not. Records call it when a record keeps
	// a number (an import of INC0000042 moves the sequence past 42; see
	// KeepNumbers). atLeast below 1 changes nothing.
	AdvanceSequence(ctx context.Context, name string, atLeast int64) error

	// Append adds events to the log; they commit with the unit of work and
	// receive their Seq then, in the order given.
	Append(ctx context.Context, events ...itsm.Event) error
}

// NumberField names the indexed string field that holds a kind's human
// number (INC0001042). Every storage.Collection declares it; a schema that
// declares a field of this name declares it TypeString, and every store
// keeps its non-empty values unique within the kind and tenant (see
// Backend).
const NumberField = "number"

// DuplicateNumberError reports a write that would give a document the human
// number another document of its kind already holds. It matches
// itsm.ErrConflict: the number is taken, and a host importing it must keep
// another one.
type DuplicateNumberError struct {
	Kind   string
	Number string
	ID     string // the document refused; empty when not known (Register)
}

func (e *DuplicateNumberError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("%s: conflict: number %q is held by more than one %s", e.Kind, e.Number, e.Kind)
	}
	return fmt.Sprintf("%s %s: conflict: number %q is already held by another %s", e.Kind, e.ID, e.Number, e.Kind)
}

// Is makes a DuplicateNumberError match itsm.ErrConflict.
func (e *DuplicateNumberError) Is(target error) bool { return target == itsm.ErrConflict }
