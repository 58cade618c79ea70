package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// reportingKinds are the reporting test's kinds, shaped like the pillars'
// incident, request, change and SLA clock: each has a time field set on
// one document and unset (the zero time) on the other.
var reportingKinds = []struct {
	kind, timeField string
}{
	{"incident", "resolved_at"},
	{"request", "closed_at"},
	{"change", "planned_start"},
	{"task_sla", "breach_at"},
}

func TestReportingViewsPresentUnsetTimesAsNull(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pillars.db")
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer st.Close()
	set := time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)
	for _, k := range reportingKinds {
		require.NoError(t, st.Register(ctx, storage.Schema{Kind: k.kind, Fields: []storage.Field{
			{Name: "state", Type: storage.TypeString}, {Name: k.timeField, Type: storage.TypeTime}}}))
		require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
			for i, at := range []time.Time{set, {}} {
				d := storage.Document{Kind: k.kind, ID: itsm.NewID(), Version: 1, Data: []byte(`{}`),
					Fields: []storage.Value{storage.String([]string{"done", "open"}[i]), storage.Time(at)}}
				if err := tx.Put(ctx, d, 0); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	_, err = st.CreateReportingViews(ctx, "incident", "nope")
	require.ErrorIs(t, err, itsm.ErrInvalid, "an unknown kind")
	names, err := st.CreateReportingViews(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"pillars_report_change", "pillars_report_incident", "pillars_report_request", "pillars_report_task_sla"}, names)
	_, err = st.CreateReportingViews(ctx, "incident") // again: replaced, not refused
	require.NoError(t, err)

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, k := range reportingKinds {
		t.Run(k.kind, func(t *testing.T) {
			rows, err := db.QueryContext(ctx, `SELECT tenant, state, `+k.timeField+` FROM pillars_report_`+k.kind+` ORDER BY state`)
			require.NoError(t, err)
			defer rows.Close()
			type row struct {
				tenant, state string
				at            sql.NullString
			}
			var got []row
			for rows.Next() {
				var r row
				require.NoError(t, rows.Scan(&r.tenant, &r.state, &r.at))
				got = append(got, r)
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, []row{
				{"default", "done", sql.NullString{String: "2026-11-30T09:15:00.000Z", Valid: true}},
				{"default", "open", sql.NullString{}},
			}, got)
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pillars_report_`+k.kind+` WHERE `+k.timeField+` IS NULL`).Scan(&n))
			assert.Equal(t, 1, n, "the unset time is NULL")
		})
	}
}

// TestPillarRecordsStoreNoUnsetTime: a pillar record's unset times are
// absent from the document the table holds (the records' optional times
// are omitzero), so SQL reading the JSON gets NULL, and the reporting view
// presents the indexed time columns (the year 1 in the table, for ordering
// and paging) as NULL too. One incident is resolved, one still new.
func TestPillarRecordsStoreNoUnsetTime(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pillars.db")
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer st.Close()
	desk, err := operation.New(ctx, st, operation.Config{})
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
	_, err = st.CreateReportingViews(ctx, "incident")
	require.NoError(t, err)

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	tests := []struct {
		id       string
		resolved sql.NullString
	}{
		{open.ID, sql.NullString{}},
		{done.ID, sql.NullString{String: resolved.ResolvedAt.UTC().Format("2006-01-02T15:04:05.000Z"), Valid: true}},
	}
	for _, tt := range tests {
		var inJSON, firstResponse sql.NullString
		var yearOne int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT json_extract(CAST(_data AS TEXT), '$.resolved_at'),
			json_extract(CAST(_data AS TEXT), '$.first_response_at'), instr(CAST(_data AS TEXT), '0001-01-01')
			FROM pillars_doc_incident WHERE _id = ?`, tt.id).Scan(&inJSON, &firstResponse, &yearOne))
		assert.Equal(t, tt.resolved.Valid, inJSON.Valid, "resolved_at in the document of %s: %v", tt.id, inJSON)
		assert.Equal(t, tt.resolved.Valid, firstResponse.Valid, "first_response_at in the document of %s", tt.id)
		assert.Zero(t, yearOne, "no time of the year 1 in the document of %s", tt.id)
		var inView sql.NullString
		require.NoError(t, db.QueryRowContext(ctx, `SELECT resolved_at FROM pillars_report_incident WHERE id = ?`, tt.id).Scan(&inView))
		assert.Equal(t, tt.resolved, inView)
	}
}

// TestReportingViewTimesTruncateToMilliseconds: the view's text is the
// time Go's ".000" layout gives, to the millisecond, for times whose
// microseconds a floating-point conversion would round up, and before 1970.
func TestReportingViewTimesTruncateToMilliseconds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pillars.db")
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Register(ctx, storage.Schema{Kind: "stamp", Fields: []storage.Field{{Name: "at", Type: storage.TypeTime}}}))
	times := []time.Time{
		time.Date(2026, 12, 8, 1, 56, 53, 229_999_000, time.UTC),
		time.Date(2026, 12, 8, 1, 56, 53, 229_500_000, time.UTC),
		time.Date(2026, 12, 8, 1, 56, 59, 999_999_000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
		time.Date(1900, 6, 1, 12, 0, 0, 1_000, time.UTC),
	}
	ids := map[string]time.Time{}
	require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
		for _, at := range times {
			id := itsm.NewID()
			ids[id] = at
			if err := tx.Put(ctx, storage.Document{Kind: "stamp", ID: id, Version: 1, Data: []byte(`{}`),
				Fields: []storage.Value{storage.Time(at)}}, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err = st.CreateReportingViews(ctx, "stamp")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for id, at := range ids {
		var got string
		require.NoError(t, db.QueryRowContext(ctx, `SELECT at FROM pillars_report_stamp WHERE id = ?`, id).Scan(&got))
		assert.Equal(t, at.Format("2006-01-02T15:04:05.000Z"), got)
	}
}
