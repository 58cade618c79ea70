package migrate_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/operation/migrate"
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
