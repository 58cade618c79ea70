package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ReportingViewPrefix starts the name of every reporting view, in the
// store's schema: "_report_incident" presents the kind "incident". Like
// every object Pillars creates for itself it starts with an underscore, so
// it never meets a kind's table; a name longer than PostgreSQL's 63 bytes
// is shortened with a hash of the kind.
const ReportingViewPrefix = "_report_"

// ReportingViewName returns the name of kind's reporting view (unquoted,
// in the store's schema).
func ReportingViewName(kind string) string {
	if name := ReportingViewPrefix + kind; len(name) <= maxIdent {
		return name
	}
	return hashName(ReportingViewPrefix, kind, kind)
}

// CreateReportingViews creates (or replaces) one read-only view per kind
// for reporting tools and ad-hoc SQL, and returns their names (unquoted,
// in the store's schema): the given kinds, or every kind registered on this
// Store value when none is given (the pillars' incident, request, change
// and task_sla among them).
//
// An unset time is absent from the document a table holds (_data, the
// record's JSON: the pillars' optional times are omitzero), so SQL reading
// it (convert_from(_data, 'UTF8')::jsonb->>'resolved_at') gets NULL. The
// field columns keep it as the zero time.Time in Unix microseconds (the
// year 1), so that every field column stays NOT NULL, orders like
// storage.Value.Compare and filters as the memory store does (an unset
// time is before every set one). A view presents each indexed time
// field instead as a timestamptz, NULL when unset (exact to the
// microsecond otherwise). It has the columns tenant, id and version, then
// one column per indexed field under its column name (strings and
// integers as stored).
//
// On PostgreSQL 15 and later the views are security_invoker: the reader's
// own row-level security applies, so a reporting role subject to it sees
// the tenant its transaction names (set_config('pillars.tenant', ...)),
// and a role that bypasses it (a superuser, the tables' owner without
// FORCE) sees every tenant. Before 15 a view reads as its owner.
//
// Call it after Register, and again after a schema change adds fields. A
// kind not registered on this Store is ErrInvalid, and nothing is created.
func (s *Store) CreateReportingViews(ctx context.Context, kinds ...string) ([]string, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	s.mu.RLock()
	var infos []*kindInfo
	if len(kinds) == 0 {
		for _, ki := range s.kinds {
			infos = append(infos, ki)
		}
	}
	for _, k := range kinds {
		ki := s.kinds[k]
		if ki == nil {
			s.mu.RUnlock()
			return nil, itsm.Invalidf("postgres: reporting view of kind %.64q: not registered on this store", k)
		}
		infos = append(infos, ki)
	}
	s.mu.RUnlock()
	slices.SortFunc(infos, func(a, b *kindInfo) int { return strings.Compare(a.schema.Kind, b.schema.Kind) })
	var version int
	if err := s.pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, interpretError(err, "reporting views")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, interpretError(err, "reporting views")
	}
	defer func() { _ = tx.Rollback(ctx) }()
	names := make([]string, 0, len(infos))
	for _, ki := range infos {
		view := ReportingViewName(ki.schema.Kind)
		qv := s.ns + "." + quoteIdent(view)
		for _, stmt := range []string{"DROP VIEW IF EXISTS " + qv, reportingViewSQL(qv, ki, version >= 150000)} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return nil, interpretError(err, "reporting view "+view)
			}
		}
		names = append(names, view)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, interpretError(err, "reporting views")
	}
	return names, nil
}

// reportingViewSQL is the CREATE VIEW statement of a kind's reporting view
// named qv (qualified, quoted).
func reportingViewSQL(qv string, ki *kindInfo, invoker bool) string {
	cols := []string{"tenant", "id", "_version AS version"}
	zero := strconv.FormatInt(storage.ZeroValue(storage.TypeTime).Int64(), 10)
	for i, f := range ki.schema.Fields {
		c := ki.cols[i]
		if f.Type == storage.TypeTime {
			cols = append(cols, "CASE WHEN "+c+" = "+zero+" THEN NULL ELSE timestamptz 'epoch' + "+c+
				" * interval '1 microsecond' END AS "+c)
			continue
		}
		cols = append(cols, c)
	}
	opt := ""
	if invoker {
		opt = " WITH (security_invoker = true)"
	}
	return "CREATE VIEW " + qv + opt + " AS SELECT " + strings.Join(cols, ", ") + " FROM " + ki.table
}
