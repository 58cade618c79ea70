package sqlite

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
)

// TestCorruptRows: rows edited behind the store's back surface as errors
// naming the record, never as panics or wrong values.
func TestCorruptRows(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name   string
		sql    string
		naming string
	}{
		{"text in an int column", `UPDATE pillars_doc_ticket SET prio = 'high' WHERE _id = 'bad'`, "ticket bad"},
		{"null in a string column", `UPDATE pillars_doc_ticket SET grp = NULL WHERE _id = 'bad'`, "ticket bad"},
		{"real in a time column", `UPDATE pillars_doc_ticket SET opened = 1.5 WHERE _id = 'bad'`, "ticket bad"},
		{"version zero", `UPDATE pillars_doc_ticket SET _version = 0 WHERE _id = 'bad'`, "ticket bad"},
		{"version text", `UPDATE pillars_doc_ticket SET _version = 'v1' WHERE _id = 'bad'`, "ticket bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t)
			require.NoError(t, s.Register(ctx, ticketSchema))
			put(t, s, ticket("ok", 1, "g", "s", 1, t0), 0)
			put(t, s, ticket("bad", 1, "g", "s", 1, t0), 0)
			// The NOT NULL constraint stands in the way of one edit: lift it
			// the way a careless tool would, by rebuilding the table.
			if tt.name == "null in a string column" {
				_, err := s.w.ExecContext(ctx, `PRAGMA writable_schema = ON;
					UPDATE sqlite_schema SET sql = replace(sql, '"grp" TEXT NOT NULL', '"grp" TEXT') WHERE name = 'pillars_doc_ticket';
					PRAGMA writable_schema = OFF;`)
				require.NoError(t, err)
				require.NoError(t, s.Close())
				s = openAt(t, s.Path())
			}
			_, err := s.w.ExecContext(ctx, tt.sql)
			require.NoError(t, err)

			_, err = s.Get(ctx, "ticket", "bad")
			require.ErrorContains(t, err, tt.naming)
			require.ErrorContains(t, err, "corrupt")
			_, err = s.Query(ctx, storage.Query{Kind: "ticket"})
			require.ErrorContains(t, err, tt.naming)
			err = s.Update(ctx, func(tx storage.Tx) error { _, err := tx.Get(ctx, "ticket", "bad"); return err })
			require.ErrorContains(t, err, tt.naming)
			d, err := s.Get(ctx, "ticket", "ok")
			require.NoError(t, err, "other records are unaffected")
			assert.Equal(t, "ok", d.ID)
		})
	}

	t.Run("event changes that are not JSON", func(t *testing.T) {
		s := openTest(t)
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, chain("ticket", "r", 2, t0)...) }))
		_, err := s.w.ExecContext(ctx, `DROP TRIGGER pillars_events_no_update;
			UPDATE pillars_events SET changes = '{not json' WHERE seq = 1`)
		require.NoError(t, err)
		_, err = s.ReadEvents(ctx, 0, 10)
		require.ErrorContains(t, err, "event seq 1 (ticket r)")
		_, err = s.History(ctx, "ticket", "r")
		require.ErrorContains(t, err, "event seq 1 (ticket r)")
	})

	t.Run("corrupt stored schema", func(t *testing.T) {
		s := openTest(t)
		require.NoError(t, s.Register(ctx, ticketSchema))
		_, err := s.w.ExecContext(ctx, `UPDATE pillars_kinds SET schema = '{"Kind":"ticket","Fields":[{"Name":"Bad Name","Type":1}]}'`)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		_, err = Open(ctx, s.Path())
		require.ErrorContains(t, err, "schema of kind ticket")
	})
}
