package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Import writes many new documents and their events in one transaction, one
// INSERT from arrays per kind, all in one round trip; it implements
// storage.BulkImporter. Everything belongs to the tenant of ctx. Every
// document is checked as Put checks it, and must not exist yet (ErrConflict
// naming it otherwise, also for a document given twice). Events are
// inserted under the shared event locks, as a unit's are (see
// Store.ReadEvents), so they get their Seq in the order given and readers
// see them all at once, when the import commits. A number held already, or given twice, is
// a *storage.DuplicateNumberError. All or nothing.
func (s *Store) Import(ctx context.Context, docs []storage.Document, events []itsm.Event) error {
	if ctx == nil {
		return errNilContext
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	type group struct {
		ki      *kindInfo
		cols    *importColumns
		numbers []string // the documents' non-empty numbers
	}
	var groups []*group
	byKind := map[string]*group{}
	seen := make(map[[2]string]bool, len(docs))
	numbers := map[[2]string]bool{} // kind, number
	for _, d := range docs {
		g := byKind[d.Kind]
		if g == nil {
			ki, err := s.kind(d.Kind)
			if err != nil {
				return err
			}
			g = &group{ki: ki, cols: newImportColumns(ki)}
			byKind[d.Kind] = g
			groups = append(groups, g)
		}
		if err := g.ki.checkDoc(d, 0); err != nil {
			return err
		}
		key := [2]string{d.Kind, d.ID}
		if seen[key] {
			return &itsm.ConflictError{Kind: d.Kind, ID: d.ID}
		}
		seen[key] = true
		if ni := g.ki.schema.NumberIndex(); ni >= 0 && d.Fields[ni].Str() != "" {
			num := [2]string{d.Kind, d.Fields[ni].Str()}
			if numbers[num] {
				return &storage.DuplicateNumberError{Kind: d.Kind, Number: num[1], ID: d.ID}
			}
			numbers[num] = true
			g.numbers = append(g.numbers, num[1])
		}
		g.cols.add(d)
	}
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return err
		}
		if e := &events[i]; e.Tenant != "" && e.Tenant != tenant {
			return itsm.Invalidf("postgres: import: event %s of %s %s names tenant %q, the import is tenant %q's", e.ID, e.Kind, e.RecordID, e.Tenant, tenant)
		}
	}
	if len(docs) == 0 && len(events) == 0 {
		return nil
	}
	arrays, err := newEventArrays(events)
	if err != nil {
		return err
	}
	// One round trip, one implicit transaction: the scope, one INSERT from
	// arrays per kind, the shared event locks and the events. (COPY would
	// be cheaper on the wire, but PostgreSQL refuses COPY FROM into a table
	// under row-level security.)
	b := &pgx.Batch{}
	scoped := s.scope(b, tenant)
	for _, g := range groups {
		b.Queue(g.ki.importSQL, g.cols.args(tenant)...)
	}
	if len(events) > 0 {
		b.Queue(s.eventLockSQL, s.lockClass(tenant))
		b.Queue(s.insertEventsSQL(), arrays.args(tenant)...)
	}
	br := s.pool.SendBatch(ctx, b)
	err = func() error {
		for range scoped {
			if _, err := br.Exec(); err != nil {
				return interpretError(err, "import: scope")
			}
		}
		for _, g := range groups {
			tag, err := br.Exec()
			if err != nil {
				if errors.Is(interpretError(err, ""), itsm.ErrConflict) {
					_ = br.Close()
					return s.importConflict(ctx, tenant, g.ki, g.cols.ids, g.numbers, err)
				}
				return interpretError(err, "import "+g.ki.schema.Kind)
			}
			if n := tag.RowsAffected(); n != int64(len(g.cols.ids)) {
				return fmt.Errorf("postgres: import %s: inserted %d of %d documents", g.ki.schema.Kind, n, len(g.cols.ids))
			}
		}
		if len(events) == 0 {
			return nil
		}
		if _, err := br.Exec(); err != nil {
			return interpretError(err, "import events: lock")
		}
		tag, err := br.Exec()
		if err != nil {
			return interpretError(err, "import events")
		}
		if n := tag.RowsAffected(); n != int64(len(events)) {
			return fmt.Errorf("postgres: import: inserted %d of %d events", n, len(events))
		}
		return nil
	}()
	if cerr := br.Close(); err == nil && cerr != nil {
		err = interpretError(cerr, "import")
	}
	return err
}

// importColumns holds the documents of one kind of an import as one array
// per column, the parameters of importSQL.
type importColumns struct {
	ids      []string
	versions []int64
	data     [][]byte
	fields   []any // []string or []int64 per field
}

func newImportColumns(ki *kindInfo) *importColumns {
	c := &importColumns{fields: make([]any, len(ki.schema.Fields))}
	for i, f := range ki.schema.Fields {
		if f.Type == storage.TypeString {
			c.fields[i] = []string(nil)
		} else {
			c.fields[i] = []int64(nil)
		}
	}
	return c
}

// add appends a document checked by checkDoc.
func (c *importColumns) add(d storage.Document) {
	c.ids, c.versions, c.data = append(c.ids, d.ID), append(c.versions, d.Version), append(c.data, docData(d))
	for i, v := range d.Fields {
		switch col := c.fields[i].(type) {
		case []string:
			c.fields[i] = append(col, v.Str())
		case []int64:
			c.fields[i] = append(col, v.Int64())
		}
	}
}

// args returns the parameters of importSQL: the tenant, then the arrays.
func (c *importColumns) args(tenant string) []any {
	return append([]any{tenant, c.ids, c.versions, c.data}, c.fields...)
}

// importConflict names a document of an import that exists already, or a
// number another document holds. The INSERT reports only that a key was taken;
// the lookup runs on the failure path alone, outside the aborted
// transaction.
func (s *Store) importConflict(ctx context.Context, tenant string, ki *kindInfo, ids, numbers []string, copyErr error) error {
	var pgErr *pgconn.PgError
	if ki.numberIndex != "" && errors.As(copyErr, &pgErr) && pgErr.ConstraintName == ki.numberIndex {
		col := quoteIdent(columnName(storage.NumberField))
		var num string
		err := scanOne(s.query(ctx, s.pool, tenant, "SELECT "+col+" FROM "+ki.table+" WHERE tenant = $1 AND "+col+" = ANY ($2) LIMIT 1", tenant, numbers))(&num)
		if err != nil {
			return interpretError(copyErr, "import "+ki.schema.Kind)
		}
		return fmt.Errorf("%w: %w", &storage.DuplicateNumberError{Kind: ki.schema.Kind, Number: num}, copyErr)
	}
	// Only the tenant's own documents are named: an id another tenant
	// holds stays a bare conflict, revealing nothing of it.
	var id string
	err := scanOne(s.query(ctx, s.pool, tenant, "SELECT id FROM "+ki.table+" WHERE tenant = $1 AND id = ANY ($2) LIMIT 1", tenant, ids))(&id)
	if err != nil { // another tenant's, committed by a concurrent unit and gone again, or the lookup failed
		return interpretError(copyErr, "import "+ki.schema.Kind)
	}
	return fmt.Errorf("%w: %w", &itsm.ConflictError{Kind: ki.schema.Kind, ID: id}, copyErr)
}
