package operation_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

func openSQLite(t testing.TB) storage.Backend {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "desk.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestOnSQLite runs the pillar's main tests unchanged on the SQLite store:
// the pillar has no adapter-specific code.
func TestOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	prev := newStore
	newStore = openSQLite
	defer func() { newStore = prev }()
	for name, fn := range storeSuite {
		t.Run(name, fn)
	}
}

// storeSuite lists the tests run unchanged on every SQL store.
var storeSuite = map[string]func(*testing.T){
	"OpenIncident":           TestOpenIncident,
	"QueuePagination":        TestQueuePagination,
	"ConcurrentIngest":       TestConcurrentIngestOpensOneAlert,
	"ConcurrentNotes":        TestConcurrentNotesAreNotLost,
	"JournalAuthorization":   TestJournalAuthorization,
	"IncidentLifecycle":      TestIncidentLifecycleAndTimestamps,
	"ParentResolvesChildren": TestParentResolvesChildren,
	"ParentAllOrNothing":     TestParentResolutionIsAllOrNothing,
	"ConcurrentLinkResolve":  TestConcurrentLinkAndResolve,
	"Queues":                 TestQueues,
	"MyRequestedIncidents":   TestMyRequestedIncidents,
	"BreachingInMyGroups":    TestBreachingSoonInMyGroups,
	"CloseResolved":          TestCloseResolved,
	"KnownErrorAndProblem":   TestKnownErrorWorkaroundAndProblemResolution,
	"RequestWithApproval":    TestRequestWithApprovalAndTasks,
	"RequestRejectAndCancel": TestRequestRejectAndCancel,
	"RequestVariables":       TestRequestVariables,
	"RequestDesignCatalogue": TestRequestFromDesignCatalogue,
	"RequestStages":          TestRequestStages,
	"ConcurrentTaskClosures": TestConcurrentTaskClosures,
	"ConcurrentApprovals":    TestConcurrentApprovals,
	"RequestStageIncomplete": TestRequestStageIncompleteAndCancel,
	"AlertDedupAndIncident":  TestAlertDedupAndIncident,
	"AlertEventIDs":          TestAlertEventIDs,
	"AlertCorrelation":       TestAlertCorrelationThroughCMDB,
	"Escalation":             TestEscalation,
	"EscalationBusinessTime": TestEscalationInBusinessTime,
	"EscalationSLAPercent":   TestEscalationBySLAPercent,
	"Import":                 TestImportIncidents,
	"ImportIdempotent":       TestImportIsIdempotent,
	"ImportResumes":          TestImportResumes,
	"ImportDryRun":           TestImportDryRunWritesNothing,
	"ImportHistory":          TestImportHistoryAsRecorded,
	"ImportBatchFallback":    TestImportBatchFallback,
	"OpenIncidentBadInput":   TestOpenIncidentBadInput,
}
