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

// Import writes many new documents and their events in one transaction with
// COPY; it implements storage.BulkImporter. Every document is checked as Put
// checks it, and must not exist yet (ErrConflict naming it otherwise, also
// for a document given twice). Events are copied under the shared event
// lock, so they get their Seq in the order given and readers see them all at
// once, when the import commits. A number held already, or given twice, is
// a *storage.DuplicateNumberError. All or nothing.
func (s *Store) Import(ctx context.Context, docs []storage.Document, events []itsm.Event) error {
	if ctx == nil {
		return errNilContext
	}
	type group struct {
		ki      *kindInfo
		ids     []string
		numbers []string // the documents' non-empty numbers
		rows    [][]any
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
			g = &group{ki: ki}
			byKind[d.Kind] = g
			groups = append(groups, g)
		}
		args, err := g.ki.docArgs(d, 0)
		if err != nil {
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
		g.ids = append(g.ids, d.ID)
		g.rows = append(g.rows, args)
	}
	for i := range events {
		if err := checkEvent(&events[i]); err != nil {
			return err
		}
	}
	if len(docs) == 0 && len(events) == 0 {
		return nil
	}
	arrays, err := newEventArrays(events)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, g := range groups {
			cols := []string{"id", "_version", "_data"}
			for _, f := range g.ki.schema.Fields {
				cols = append(cols, columnName(f.Name))
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, g.ki.schema.Kind}, cols, pgx.CopyFromRows(g.rows))
			if err != nil {
				if errors.Is(interpretError(err, ""), itsm.ErrConflict) {
					return s.importConflict(ctx, g.ki, g.ids, g.numbers, err)
				}
				return interpretError(err, "import "+g.ki.schema.Kind)
			}
			if n != int64(len(g.rows)) {
				return fmt.Errorf("postgres: import %s: copied %d of %d documents", g.ki.schema.Kind, n, len(g.rows))
			}
		}
		if len(events) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, s.eventLockSQL); err != nil {
			return interpretError(err, "import events: lock")
		}
		cols := []string{"id", "kind", "record_id", "number", "record_version", "name", "from_state", "to_state",
			"actor", "at_us", "recorded_at_us", "reason", "changes", "prev_hash", "hash"}
		a := arrays
		n, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "_events"}, cols, pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			return []any{a.id[i], a.kind[i], a.recordID[i], a.number[i], a.recordVersion[i], a.name[i], a.from[i], a.to[i],
				a.actor[i], a.at[i], a.recordedAt[i], a.reason[i], a.changes[i], a.prevHash[i], a.hash[i]}, nil
		}))
		if err != nil {
			return interpretError(err, "import events")
		}
		if n != int64(len(events)) {
			return fmt.Errorf("postgres: import: copied %d of %d events", n, len(events))
		}
		return nil
	})
}

// importConflict names a document of an import that exists already, or a
// number another document holds. COPY reports only that a key was taken;
// the lookup runs on the failure path alone, outside the aborted
// transaction.
func (s *Store) importConflict(ctx context.Context, ki *kindInfo, ids, numbers []string, copyErr error) error {
	var pgErr *pgconn.PgError
	if ki.numberIndex != "" && errors.As(copyErr, &pgErr) && pgErr.ConstraintName == ki.numberIndex {
		col := quoteIdent(columnName(storage.NumberField))
		var num string
		err := s.pool.QueryRow(ctx, "SELECT "+col+" FROM "+ki.table+" WHERE "+col+" = ANY ($1) LIMIT 1", numbers).Scan(&num)
		if err != nil {
			return interpretError(copyErr, "import "+ki.schema.Kind)
		}
		return fmt.Errorf("%w: %w", &storage.DuplicateNumberError{Kind: ki.schema.Kind, Number: num}, copyErr)
	}
	var id string
	err := s.pool.QueryRow(ctx, "SELECT id FROM "+ki.table+" WHERE id = ANY ($1) LIMIT 1", ids).Scan(&id)
	if err != nil { // committed by a concurrent unit and gone again, or the lookup failed
		return interpretError(copyErr, "import "+ki.schema.Kind)
	}
	return fmt.Errorf("%w: %w", &itsm.ConflictError{Kind: ki.schema.Kind, ID: id}, copyErr)
}
