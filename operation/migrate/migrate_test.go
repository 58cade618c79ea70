package migrate_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/operation/migrate"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

const snHeader = "number,sys_updated_on,sys_updated_by,state,caller_id,short_description,impact,urgency,assignment_group,assigned_to,close_code,close_notes\n"

func TestServiceNowBadRows(t *testing.T) {
	tests := []struct {
		name  string
		rows  string
		rule  string
		line  int
		left  int // incidents read
		inRef string
	}{
		{"unparseable date", "INC1,yesterday,ann,1,carl,x,2,2,,,,\nINC2,2024-01-01 10:00:00,ann,1,carl,y,2,2,,,,\n", "time", 2, 1, "INC1"},
		{"unknown state code", "INC1,2024-01-01 10:00:00,ann,9,carl,x,2,2,,,,\n", "state_map", 2, 0, "INC1"},
		{"unknown state name", "INC1,2024-01-01 10:00:00,ann,1,carl,x,2,2,,,,\nINC1,2024-01-01 11:00:00,ann,Sleeping,carl,x,2,2,,,,\n", "state_map", 3, 0, "INC1"},
		{"missing number", ",2024-01-01 10:00:00,ann,1,carl,x,2,2,,,,\n", "source_key", 2, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			incs, err := migrate.ServiceNow{}.Read(strings.NewReader(snHeader + tt.rows))
			require.Error(t, err)
			var ie *operation.ImportError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tt.rule, ie.Rule)
			assert.Equal(t, tt.line, ie.Row)
			assert.Equal(t, tt.inRef, ie.Record)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Len(t, incs, tt.left, "an incident with a bad row is left out whole")
		})
	}
	_, err := migrate.ServiceNow{}.Read(strings.NewReader("a,b\n1,2\n"))
	require.ErrorIs(t, err, itsm.ErrInvalid, "not an incident export")
	var ies operation.ImportErrors
	assert.False(t, errors.As(err, &ies))
}

func TestServiceNowReadsHistory(t *testing.T) {
	f, err := os.Open("testdata/servicenow_incident_history.csv")
	require.NoError(t, err)
	defer f.Close()
	incs, err := migrate.ServiceNow{}.Read(f)
	require.NoError(t, err)
	require.Len(t, incs, 3)
	first := incs[0]
	assert.Equal(t, "INC0010001", first.Ref)
	assert.Equal(t, "abel.tuter", first.Incident.CallerID)
	assert.Equal(t, 2, first.Incident.Impact)
	require.Len(t, first.History, 7)
	assert.Equal(t, "On Hold", first.History[2].State)
	assert.Equal(t, operation.HoldAwaitingCaller, first.History[2].HoldReason)
	assert.Equal(t, "Please restart Outlook and tell us if it syncs", first.History[2].Comment)
	assert.Empty(t, first.History[3].Comment, "a repeated journal text adds nothing")
	assert.Equal(t, operation.ResolvedPermanently, first.History[5].ResolutionCode)
	assert.Equal(t, "Duplicate of INC0010001", incs[2].History[1].Reason, "a cancel's reason")
}

const jsmHeader = "Issue key,Summary,Status,Priority,Created,Updated,Resolved,Assignee,Reporter,Resolution,Comment\n"

func TestJSMBadRows(t *testing.T) {
	tests := []struct {
		name, rows, rule string
	}{
		{"unparseable created", "IT-1,x,Open,High,someday,,,,jane,,\n", "time"},
		{"missing created", "IT-1,x,Open,High,,,,,jane,,\n", "time"},
		{"unknown status", "IT-1,x,Limbo,High,04/Mar/24 9:15 AM,,,,jane,,\n", "state_map"},
		{"unknown priority", "IT-1,x,Open,Urgentest,04/Mar/24 9:15 AM,,,,jane,,\n", "priority"},
		{"comment without author", "IT-1,x,Open,High,04/Mar/24 9:15 AM,,,,jane,,just text\n", "comment"},
		{"comment with bad date", "IT-1,x,Open,High,04/Mar/24 9:15 AM,,,,jane,,later;jane;hi\n", "time"},
		{"missing key", ",x,Open,High,04/Mar/24 9:15 AM,,,,jane,,\n", "source_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			incs, err := migrate.JSM{}.Read(strings.NewReader(jsmHeader + tt.rows + "IT-2,y,Open,High,04/Mar/24 9:15 AM,,,,jane,,\n"))
			var ie *operation.ImportError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tt.rule, ie.Rule)
			assert.Equal(t, 2, ie.Row)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			require.Len(t, incs, 1, "only the good issue is read")
			assert.Equal(t, "IT-2", incs[0].Ref)
		})
	}
}

// checkRead holds a reader's answer to any input: no panic, every
// incident keyed and opened, every error per row and matching ErrInvalid.
func checkRead(t *testing.T, incs []operation.ImportIncident, err error) {
	for _, in := range incs {
		if in.Ref == "" || in.OpenedAt.IsZero() {
			t.Fatalf("incident without key or opening: %+v", in)
		}
	}
	if err == nil {
		return
	}
	if !errors.Is(err, itsm.ErrInvalid) {
		t.Fatalf("error not matching ErrInvalid: %v", err)
	}
	var ies operation.ImportErrors
	if errors.As(err, &ies) {
		for _, e := range ies {
			if e.Rule == "" || e.Row < 1 {
				t.Fatalf("row error without rule or line: %+v", e)
			}
		}
	}
}

func FuzzServiceNowCSV(f *testing.F) {
	data, err := os.ReadFile("testdata/servicenow_incident_history.csv")
	require.NoError(f, err)
	f.Add(string(data))
	f.Add(snHeader + "INC1,2024-01-01 10:00:00,ann,6,carl,x,2,2,g,a,Solved (Permanently),ok\n")
	f.Add(snHeader + "INC1,\"2024,\",ann,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		incs, err := migrate.ServiceNow{}.Read(strings.NewReader(in))
		checkRead(t, incs, err)
	})
}

func FuzzJSMCSV(f *testing.F) {
	data, err := os.ReadFile("testdata/jsm_issues.csv")
	require.NoError(f, err)
	f.Add(string(data))
	f.Add(jsmHeader + "IT-1,x,Closed,High,04/Mar/24 9:15 AM,05/Mar/24 9:15 AM,05/Mar/24 9:00 AM,ann,jane,Done,04/Mar/24 9:30 AM;ann;hi\n")
	f.Fuzz(func(t *testing.T, in string) {
		incs, err := migrate.JSM{}.Read(strings.NewReader(in))
		checkRead(t, incs, err)
	})
}

// The shape of public ServiceNow event logs: older column names,
// day-first times, "?" for no value, a placeholder state, close codes of
// the host's own and no close notes.
func TestServiceNowEventLogShape(t *testing.T) {
	const log = `number,incident_state,active,reassignment_count,reopen_count,caller_id,opened_by,opened_at,sys_updated_by,sys_updated_at,category,impact,urgency,priority,assignment_group,assigned_to,closed_code,resolved_at,closed_at
INC0000045,New,true,0,0,Caller 2403,Opened by 8,29/2/2016 01:16,Updated by 21,29/2/2016 01:23,Category 55,2 - Medium,2 - Medium,3 - Moderate,Group 56,?,code 5,?,?
INC0000045,Resolved,true,0,0,Caller 2403,Opened by 8,29/2/2016 01:16,Updated by 804,29/2/2016 11:29,Category 55,2 - Medium,2 - Medium,3 - Moderate,Group 56,Resolver 89,code 5,29/2/2016 11:29,?
INC0000045,-100,true,0,0,Caller 2403,Opened by 8,29/2/2016 01:16,Updated by 804,29/2/2016 11:29,Category 55,2 - Medium,2 - Medium,3 - Moderate,Group 56,Resolver 89,code 5,29/2/2016 11:29,?
INC0000045,Active,true,0,1,Caller 2403,Opened by 8,29/2/2016 01:16,Updated by 908,1/3/2016 09:00,Category 55,2 - Medium,2 - Medium,3 - Moderate,Group 70,Resolver 31,code 5,?,?
INC0000045,Closed,false,1,1,Caller 2403,Opened by 8,29/2/2016 01:16,Updated by 908,5/3/2016 12:00,Category 55,2 - Medium,2 - Medium,3 - Moderate,Group 70,Resolver 31,code 5,2/3/2016 10:00,5/3/2016 12:00
`
	_, err := migrate.ServiceNow{}.Read(strings.NewReader(log))
	var ie *operation.ImportError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "state_map", ie.Rule)
	assert.Contains(t, ie.Error(), `"-100"`, "the unknown state is named")

	states := migrate.ServiceNowStates()
	states["-100"] = ""
	sn := migrate.ServiceNow{States: states, CloseCodes: map[string]string{"code 5": operation.ResolvedPermanently},
		MissingNotes: "no close notes in the export"}
	incs, err := sn.Read(strings.NewReader(log))
	require.NoError(t, err)
	require.Len(t, incs, 1)
	assert.Equal(t, "Caller 2403", incs[0].Incident.CallerID)
	assert.Equal(t, "Opened by 8", incs[0].OpenedBy)
	assert.Equal(t, "2016-02-29T01:16:00Z", incs[0].OpenedAt.Format(time.RFC3339))

	desk, importer := newDesk(t)
	rep, err := desk.Import(importer, incs, sn.Options())
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	list, err := desk.Incidents().All(importer, storage.Query{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	got := list[0]
	assert.Equal(t, operation.StateClosed, got.State, "resolved, reopened, closed (resolve and close at the closing row)")
	assert.Equal(t, 1, got.ReopenCount)
	assert.Equal(t, 1, got.ReassignmentCount)
	assert.Equal(t, "Resolver 31", got.AssignedTo)
}

func newDesk(t *testing.T) (*operation.Desk, context.Context) {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock})
	require.NoError(t, err)
	return desk, itsm.WithActor(ctx, itsm.Actor{ID: "migration", Roles: []string{itsm.RoleImporter}})
}
