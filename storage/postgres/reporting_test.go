package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestReportingViewsPresentUnsetTimesAsNull(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	set := time.Date(2026, 11, 30, 9, 15, 0, 123456000, time.UTC)
	kinds := []string{"change", "incident", "request", "task_sla"}
	for _, k := range kinds {
		require.NoError(t, s.Register(ctx, ticketSchema(k)))
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			if err := tx.Put(ctx, ticket(k, itsm.NewID(), 1, "desk", "done", 1, set), 0); err != nil {
				return err
			}
			return tx.Put(ctx, ticket(k, itsm.NewID(), 1, "desk", "open", 2, time.Time{}), 0)
		}))
	}
	_, err := s.CreateReportingViews(ctx, "incident", "nope")
	require.ErrorIs(t, err, itsm.ErrInvalid, "an unknown kind")
	names, err := s.CreateReportingViews(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"_report_change", "_report_incident", "_report_request", "_report_task_sla"}, names)
	_, err = s.CreateReportingViews(ctx, "incident") // again: replaced, not refused
	require.NoError(t, err)
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) {
			rows, err := s.pool.Query(ctx, "SELECT tenant, state, opened FROM "+s.ns+"."+quoteIdent(ReportingViewName(k))+" ORDER BY state")
			require.NoError(t, err)
			defer rows.Close()
			type row struct {
				tenant, state string
				at            pgtype.Timestamptz
			}
			var got []row
			for rows.Next() {
				var r row
				require.NoError(t, rows.Scan(&r.tenant, &r.state, &r.at))
				got = append(got, r)
			}
			require.NoError(t, rows.Err())
			require.Len(t, got, 2)
			assert.Equal(t, "default", got[0].tenant)
			assert.True(t, got[0].at.Valid)
			assert.True(t, set.Equal(got[0].at.Time), "the set time to the microsecond: %v", got[0].at.Time)
			assert.Equal(t, "open", got[1].state)
			assert.False(t, got[1].at.Valid, "the unset time is NULL")
		})
	}
	assert.LessOrEqual(t, len(ReportingViewName(strings.Repeat("k", 63))), maxIdent)
}
