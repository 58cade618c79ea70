package sqlite

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ReportingViewPrefix starts the name of every reporting view:
// "pillars_report_incident" presents the kind "incident".
const ReportingViewPrefix = "pillars_report_"

// CreateReportingViews creates (or replaces) one read-only view per kind
// for reporting tools and ad-hoc SQL, and returns their names: the given
// kinds, or every kind the file holds when none is given (the pillars'
// incident, request, change and task_sla among them once registered).
//
// An unset time is absent from the document a table holds (_data, the
// record's JSON: the pillars' optional times are omitzero), so SQL reading
// it (json_extract(CAST(_data AS TEXT), '$.resolved_at')) gets NULL. The
// indexed time columns keep it as the zero time.Time in Unix microseconds
// (the year 1), so that every time column stays NOT NULL, orders and
// pages like storage.Value.Compare and filters as the memory store does
// (an unset time is before every set one). A view presents each indexed
// time field instead as NULL when unset and otherwise as an ISO 8601 UTC
// text ("2026-11-30T09:15:00.000Z", milliseconds, truncated as Go's
// ".000" layout does), which SQLite's date functions read. A view "pillars_report_<kind>" has the columns tenant,
// id and version, then one column per indexed field under the field's name
// (strings and integers as stored). It shows every tenant's rows: a
// reporting connection is trusted as the file is.
//
// Call it after Register, and again after a schema change adds fields. A
// kind the file does not hold is ErrInvalid, and nothing is created. It
// must not be called inside a unit of work.
func (s *Store) CreateReportingViews(ctx context.Context, kinds ...string) ([]string, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return nil, err
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.RLock()
	var schemas []storage.Schema
	if len(kinds) == 0 {
		for _, k := range s.kinds {
			schemas = append(schemas, k.schema)
		}
	}
	for _, name := range kinds {
		k := s.kinds[name]
		if k == nil {
			s.mu.RUnlock()
			return nil, itsm.Invalidf("storage/sqlite: reporting view of kind %.64q: the file holds no such kind (Register it first)", name)
		}
		schemas = append(schemas, k.schema)
	}
	s.mu.RUnlock()
	slices.SortFunc(schemas, func(a, b storage.Schema) int { return strings.Compare(a.Kind, b.Kind) })
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("reporting views", err)
	}
	defer tx.Rollback()
	names := make([]string, 0, len(schemas))
	for _, sch := range schemas {
		view := ReportingViewPrefix + sch.Kind
		for _, stmt := range []string{"DROP VIEW IF EXISTS " + quoteIdent(view), reportingViewSQL(view, sch)} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return nil, s.fail("reporting view "+view, err)
			}
		}
		names = append(names, view)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("reporting views", err)
	}
	return names, nil
}

// reportingViewSQL is the CREATE VIEW statement of sch's reporting view.
func reportingViewSQL(view string, sch storage.Schema) string {
	cols := []string{"_tenant AS tenant", "_id AS id", "_version AS version"}
	zero := strconv.FormatInt(storage.ZeroValue(storage.TypeTime).Int64(), 10)
	for _, f := range sch.Fields {
		c := quoteIdent(f.Name)
		if f.Type == storage.TypeTime {
			// Whole seconds and the microseconds past them by integer
			// arithmetic (floored, for times before 1970), milliseconds
			// truncated: strftime's %f goes through a floating-point
			// Julian day and rounds, a millisecond off now and then.
			us := "((" + c + " % 1000000 + 1000000) % 1000000)"
			cols = append(cols, "CASE WHEN "+c+" = "+zero+" THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', ("+c+" - "+us+
				") / 1000000, 'unixepoch') || printf('.%03dZ', "+us+" / 1000) END AS "+c)
			continue
		}
		cols = append(cols, c)
	}
	return "CREATE VIEW " + quoteIdent(view) + " AS SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(tableName(sch.Kind))
}
