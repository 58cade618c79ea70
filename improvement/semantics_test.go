package improvement

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

// apply feeds lines (see parseEvents) where each line names its record
// after a '#': "incident#a|create|new|...".
func applyLines(t *testing.T, lines ...string) *Engine {
	t.Helper()
	e, err := NewDetached(Config{})
	require.NoError(t, err)
	var evs []itsm.Event
	for i, l := range lines {
		rec, rest, _ := strings.Cut(l, "|")
		kind, id, _ := strings.Cut(rec, "#")
		got := parseEvents(kind + "|" + rest)
		require.Len(t, got, 1, l)
		got[0].Seq, got[0].RecordID = int64(i+1), id
		got[0].At = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		evs = append(evs, got[0])
	}
	e.Apply(evs)
	return e
}

func rows(t *testing.T, e *Engine, q Query) []Row {
	t.Helper()
	res, err := e.Compute(q)
	require.NoError(t, err)
	return res.Rows
}

func TestMovingAnOpenIncidentToAnotherService(t *testing.T) {
	e := applyLines(t,
		`incident#a|create|new|service_id="s1"`, // 09:00 s1 down
		`incident#a|update||service_id="s2"`,    // 10:00 s1 up, s2 down
		`incident#b|create|new|service_id="s1"`, // 11:00 s1 down again: uptime 1h
		`incident#a|resolve|resolved|`,          // 12:00 s2 up
		`incident#c|create|new|service_id="s2"`, // 13:00 s2 down: uptime 1h
	)
	got := rows(t, e, Query{KPI: MTBF, By: []Dimension{ByService}})
	require.Len(t, got, 2)
	assert.Equal(t, "s1", got[0].Service)
	assert.Equal(t, time.Hour, got[0].Mean)
	assert.Equal(t, "s2", got[1].Service)
	assert.Equal(t, time.Hour, got[1].Mean)
	backlog := rows(t, e, Query{KPI: Backlog, By: []Dimension{ByService}})
	require.Len(t, backlog, 2)
	assert.Equal(t, int64(1), backlog[0].Count, "b is open on s1")
	assert.Equal(t, int64(1), backlog[1].Count, "c is open on s2; a moved there and was resolved")
}

func TestClosingWithoutResolvingIsAResolution(t *testing.T) {
	e := applyLines(t,
		`incident#a|create|new|`,
		`incident#a|start|in_progress|`,
		`incident#a|close|closed|`,
	)
	got := rows(t, e, Query{KPI: MTTR})
	require.Len(t, got, 1)
	assert.Equal(t, int64(1), got[0].Count)
	assert.Equal(t, 2*time.Hour, got[0].Mean)
}

func TestReopenAfterCloseIsApplied(t *testing.T) {
	e := applyLines(t,
		`incident#a|create|new|`,         // 09:00
		`incident#a|start|in_progress|`,  // 10:00
		`incident#a|resolve|resolved|`,   // 11:00 first resolution: 2h
		`incident#a|close|closed|`,       // 12:00
		`incident#a|reopen|in_progress|`, // 13:00 reopened after closure
		`incident#a|resolve|resolved|`,   // 14:00 final resolution: 5h
		`incident#a|resolve|resolved|`,   // 15:00 a repeated row keeps 14:00
		`incident#a|close|closed|`,       // 16:00
		`incident#a|reopen|in_progress|`, // 17:00 a second reopen
		`incident#a|resolve|resolved|`,   // 18:00 final: 9h
	)
	got := rows(t, e, Query{KPI: MTTR, Percentiles: true})
	require.Len(t, got, 1)
	assert.Equal(t, int64(1), got[0].Count, "one incident, once")
	assert.Equal(t, 9*time.Hour, got[0].Mean)
	assert.Equal(t, 9*time.Hour, got[0].P50)
	first := rows(t, e, Query{KPI: MTTRFirst})
	require.Len(t, first, 1)
	assert.Equal(t, 2*time.Hour, first[0].Mean)
	reopen := rows(t, e, Query{KPI: ReopenRate})
	require.Len(t, reopen, 1)
	assert.Equal(t, int64(1), reopen[0].Hits, "reopened twice, counted once")
	assert.Equal(t, 1.0, reopen[0].Value)
	assert.Empty(t, rows(t, e, Query{KPI: Backlog, AsOf: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)}))
}

func TestPercentilesNearestRank(t *testing.T) {
	var lines []string
	// ten incidents created one an hour, then resolved one an hour, the
	// last created first: durations 1h, 3h, ..., 19h.
	for i := 1; i <= 10; i++ {
		lines = append(lines, fmt.Sprintf(`incident#i%02d|create|new|`, 11-i))
	}
	for i := 1; i <= 10; i++ {
		lines = append(lines, fmt.Sprintf(`incident#i%02d|resolve|resolved|`, i))
	}
	e := applyLines(t, lines...)
	got := rows(t, e, Query{KPI: MTTR, Percentiles: true})
	require.Len(t, got, 1)
	// incident iNN was created at hour 10-NN and resolved at hour 9+NN.
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"p50 is the 5th of 10", got[0].P50, 9 * time.Hour},
		{"p90 is the 9th of 10", got[0].P90, 17 * time.Hour},
		{"p95 is the 10th of 10", got[0].P95, 19 * time.Hour},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got, tt.name)
	}
	_, err := e.Compute(Query{KPI: ReopenRate, Percentiles: true})
	assert.ErrorIs(t, err, itsm.ErrInvalid, "no percentiles of a ratio")
}

func TestLinkingAndUnlinkingCausingChanges(t *testing.T) {
	e := applyLines(t,
		`change#c|create|new|type="normal"`,
		`change#c|close|closed|review_outcome="failed"`,
		`incident#a|create|new|caused_by_change_id="c"`, // linked after the change closed
		`incident#b|create|new|caused_by_change_id="c"`, // a second link: still one change
	)
	got := rows(t, e, Query{KPI: ChangesCausingIncidents})
	require.Len(t, got, 1)
	assert.Equal(t, int64(1), got[0].Hits)
	assert.Equal(t, int64(1), got[0].Count)
	assert.Equal(t, int64(0), rows(t, e, Query{KPI: ChangeSuccessRate})[0].Hits)

	e = applyLines(t,
		`change#c|create|new|`,
		`incident#a|create|new|caused_by_change_id="c"`,
		`change#c|close|closed|`,
		`incident#a|update||caused_by_change_id=""`, // the link was a mistake
	)
	assert.Equal(t, int64(0), rows(t, e, Query{KPI: ChangesCausingIncidents})[0].Hits)
	e = applyLines(t,
		`change#c|create|new|`,
		`incident#a|create|new|caused_by_change_id="c"`,
		`incident#a|cancel|canceled|`,
		`change#c|close|closed|`,
	)
	assert.Equal(t, int64(0), rows(t, e, Query{KPI: ChangesCausingIncidents})[0].Hits, "a canceled incident's link does not count")
}

func TestAcknowledgement(t *testing.T) {
	e := applyLines(t,
		`incident#a|create|new|assignment_group="desk"`,
		`incident#a|update||assigned_to="ann"`, // acknowledged by assignment, still new
		`incident#a|start|in_progress|`,
		`incident#b|create|new|`,
		`incident#b|cancel|canceled|`, // never acknowledged
		`incident#c|create|new|`,
		`incident#c|resolve|resolved|`, // resolving acknowledges
	)
	got := rows(t, e, Query{KPI: MTTA})
	require.Len(t, got, 1)
	assert.Equal(t, int64(2), got[0].Count)
	assert.Equal(t, time.Hour, got[0].Mean)
}
