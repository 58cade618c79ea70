package improvement_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// TestOtherStores runs the scenario on the persistent stores and checks that
// the engine gives the same answers as on memory, that it resumes from its
// checkpoint after the store is closed and opened again (a real restart),
// and that it then applies only what is new. PostgreSQL runs when
// PILLARS_POSTGRES_DSN is set.
func TestOtherStores(t *testing.T) {
	ref := newKit(t)
	scenario(t, ref)
	want := openSynced(t, ref.store, improvement.Config{Calendar: halfCalendar{}})

	type opener func(t *testing.T) storage.Backend
	stores := map[string]opener{}
	dir := t.TempDir()
	stores["sqlite"] = func(t *testing.T) storage.Backend {
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "pillars.db"))
		require.NoError(t, err)
		return st
	}
	if _, ok := pgtest.DSN(); ok {
		schema := pgtest.Schema("kpi_test") // opened twice: the restart
		stores["postgres"] = func(t *testing.T) storage.Backend {
			st, _ := pgtest.OpenSchema(t, schema)
			return st
		}
	} else {
		t.Log("PILLARS_POSTGRES_DSN is not set: PostgreSQL skipped")
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			k := newKitOn(t, b)
			scenario(t, k)
			e := openSynced(t, b, improvement.Config{Calendar: halfCalendar{}})
			for _, q := range allQueries() {
				a, err := want.Compute(q)
				require.NoError(t, err)
				got, err := e.Compute(q)
				require.NoError(t, err)
				require.Equal(t, a, got, q.String())
			}
			seq := e.Seq()
			require.NoError(t, b.Close())

			b = open(t)
			defer b.Close()
			again, err := improvement.New(ctx, b, improvement.Config{Calendar: halfCalendar{}, Clock: itsm.NewFakeClock(at("35h"))})
			require.NoError(t, err)
			assert.Equal(t, seq, again.Seq(), "resumed at the checkpoint")
			require.Equal(t, improvement.StateOf(e), improvement.StateOf(again))
			n, err := again.Sync(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "nothing new after the restart")

			k2 := newKitOn(t, b)
			k2.raise(t, "34h", &incident{ShortDescription: "dns slow", ServiceID: "dns", AssignmentGroup: "network", Priority: 4})
			n, err = again.Sync(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "only the new incident's event")
			rows := compute(t, again, improvement.Query{KPI: improvement.Backlog, Period: improvement.PeriodDay})
			require.Len(t, rows, 2)
			assert.Equal(t, int64(3), rows[1].Count)
		})
	}
}
