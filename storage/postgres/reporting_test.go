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
	"github.com/pillars-itsm/pillars/operation"
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

// TestPillarRecordsStoreNoUnsetTime: a pillar record's unset times are
// absent from the document the table holds (the records' optional times
// are omitzero), so SQL reading the JSON gets NULL, and the reporting view
// presents the indexed time columns (the year 1 in the table, for ordering
// and paging) as NULL too. One incident is resolved, one still new.
func TestPillarRecordsStoreNoUnsetTime(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	desk, err := operation.New(ctx, s, operation.Config{})
	require.NoError(t, err)
	as := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	open := &operation.Incident{ShortDescription: "VPN drops", CallerID: "carl", Impact: 2, Urgency: 2}
	require.NoError(t, desk.OpenIncident(as, open, storage.Command{}))
	done := &operation.Incident{ShortDescription: "Mail down", CallerID: "carl", Impact: 2, Urgency: 2}
	require.NoError(t, desk.OpenIncident(as, done, storage.Command{}))
	_, err = desk.StartIncident(as, done.ID, storage.Command{})
	require.NoError(t, err)
	resolved, err := desk.ResolveIncident(as, done.ID, operation.ResolvedWorkaround, "MTU lowered", storage.Command{})
	require.NoError(t, err)
	_, err = s.CreateReportingViews(ctx, "incident")
	require.NoError(t, err)
	s.mu.RLock()
	table := s.kinds["incident"].table
	s.mu.RUnlock()
	view := s.ns + "." + quoteIdent(ReportingViewName("incident"))
	tests := []struct {
		id       string
		resolved time.Time
	}{
		{open.ID, time.Time{}},
		{done.ID, resolved.ResolvedAt},
	}
	for _, tt := range tests {
		var inJSON, firstResponse pgtype.Text
		var yearOne bool
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT convert_from(_data, 'UTF8')::jsonb->>'resolved_at',
			convert_from(_data, 'UTF8')::jsonb->>'first_response_at', position('0001-01-01' in convert_from(_data, 'UTF8')) > 0
			FROM `+table+` WHERE id = $1`, tt.id).Scan(&inJSON, &firstResponse, &yearOne))
		assert.Equal(t, !tt.resolved.IsZero(), inJSON.Valid, "resolved_at in the document of %s: %v", tt.id, inJSON)
		assert.Equal(t, !tt.resolved.IsZero(), firstResponse.Valid, "first_response_at in the document of %s", tt.id)
		assert.False(t, yearOne, "no time of the year 1 in the document of %s", tt.id)
		var inView pgtype.Timestamptz
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT resolved_at FROM `+view+` WHERE id = $1`, tt.id).Scan(&inView))
		assert.Equal(t, !tt.resolved.IsZero(), inView.Valid)
		assert.True(t, tt.resolved.Equal(inView.Time), "the view's resolved_at %v, the record's %v", inView.Time, tt.resolved)
	}
}
