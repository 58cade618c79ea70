package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/pgtest"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// storeFlows are the handler tests that run again on every persistent store:
// the portal has no store-specific code, so the same pages must behave the
// same.
var storeFlows = map[string]func(*testing.T){
	"RaiseIncident":             TestRaiseIncident,
	"AgentWorksAnIncident":      TestAgentWorksAnIncident,
	"CallerIsRefused":           TestCallerIsRefusedAgentActions,
	"OrderFromTheCatalogue":     TestOrderFromTheCatalogue,
	"ChangeCalendarAndApproval": TestChangeCalendarAndApproval,
	"DashboardShowsKPIs":        TestDashboardShowsKPIs,
	"InAppNotifications":        TestInAppNotifications,
	"TimesInTheUsersZone":       TestTimesInTheUsersZone,
	"Attachments":               TestAttachments,
}

func runFlows(t *testing.T, mk func(testing.TB) storage.Backend) {
	prev := newStore
	newStore = mk
	defer func() { newStore = prev }()
	for name, fn := range storeFlows {
		t.Run(name, fn)
	}
}

// TestOnSQLite runs the portal's flows on the embedded SQLite store.
func TestOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: SQLite flows skipped")
	}
	runFlows(t, func(tb testing.TB) storage.Backend {
		st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "portal.db"))
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = st.Close() })
		return st
	})
}

// TestOnPostgres runs the portal's flows on PostgreSQL, each desk in its own
// schema, when PILLARS_POSTGRES_DSN is set.
func TestOnPostgres(t *testing.T) {
	if _, ok := pgtest.DSN(); !ok {
		t.Skip(pgtest.Hint)
	}
	runFlows(t, func(tb testing.TB) storage.Backend {
		st, _ := pgtest.Open(tb, "portal_test")
		return st
	})
}

// TestOpenStore checks the store the command's flags choose.
func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	st, closeFn, what, err := openStore(ctx, "", "", "")
	require.NoError(t, err)
	require.Equal(t, "the in-memory store", what)
	require.NoError(t, closeFn())
	_ = st

	path := filepath.Join(t.TempDir(), "desk.db")
	st, closeFn, what, err = openStore(ctx, "", "", path)
	require.NoError(t, err)
	require.Contains(t, what, "SQLite")
	srv, err := NewServer(ctx, st, Config{})
	require.NoError(t, err)
	_, seeded, err := srv.Seed(ctx)
	require.NoError(t, err)
	require.True(t, seeded)
	require.NoError(t, closeFn())

	// A restart on the same file keeps the desk and does not seed again.
	st, closeFn, _, err = openStore(ctx, "", "", path)
	require.NoError(t, err)
	defer closeFn()
	srv, err = NewServer(ctx, st, Config{})
	require.NoError(t, err)
	_, seeded, err = srv.Seed(ctx)
	require.NoError(t, err)
	require.False(t, seeded)

	_, _, _, err = openStore(ctx, "", "", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"))
	require.Error(t, err)
}
