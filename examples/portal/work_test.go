package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// An agent works the fulfilment tasks from the request page, stage by
// stage, until the request completes; notes are required and kept.
func TestFulfilmentTasksComplete(t *testing.T) {
	d := newDesk(t)
	cora, ann := d.as("cora"), d.as("ann")
	r := cora.post("/catalog/"+d.seeded.LaptopItem, url.Values{"model": {"developer"}, "quantity": {"1"}, "justification": {"new starter"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	reqPath := r.location
	assert.NotContains(t, cora.get(reqPath).body, "task-complete", "the requester does not work tasks")
	taskID := func() string {
		m := regexp.MustCompile(`action="/tasks/([^/]+)/complete"`).FindStringSubmatch(ann.get(reqPath).body)
		require.NotNil(t, m)
		return m[1]
	}
	for stage := range 2 {
		id := taskID()
		before := d.snapshot()
		r = ann.post("/tasks/"+id+"/complete", url.Values{"notes": {" "}})
		assert.Equal(t, http.StatusUnprocessableEntity, r.status)
		assert.Contains(t, r.body, "Say what was done")
		assert.Equal(t, before, d.snapshot())
		r = ann.post("/tasks/"+id+"/complete", url.Values{"notes": {"stage done"}})
		require.Equal(t, http.StatusSeeOther, r.status, "stage %d: %s", stage, text(r.body))
		assert.Equal(t, reqPath, r.location)
	}
	req, err := d.srv.desk.Requests().Get(reader(), strings.TrimPrefix(reqPath, "/requests/"))
	require.NoError(t, err)
	assert.Equal(t, operation.StateClosedComplete, req.State)
	assert.Contains(t, text(cora.get(reqPath).body), "State Closed complete")
	r = d.as("carl").post("/tasks/"+req.TaskIDs[0]+"/start", nil)
	assert.Equal(t, http.StatusForbidden, r.status, "someone else's request")
}

// The change page shows approvals with comments; a rejection needs a
// comment; approving a change inside a freeze says why it did not
// schedule.
func TestChangePageDecisions(t *testing.T) {
	d := newDesk(t)
	mia := d.as("mia")
	mig, err := d.srv.changes.Get(reader(), d.seeded.MigrationChange)
	require.NoError(t, err)
	// The seeded migration is new: its requester sends it for approval.
	rita := itsm.WithActor(context.Background(), d.srv.byID["rita"].Actor)
	_, err = d.srv.changes.Fire(rita, mig.ID, transition.ChangeEventAssess, storage.Command{}, nil)
	require.NoError(t, err)
	_, _, err = d.srv.changes.AssessRisk(rita, mig.ID, map[string]string{"outage": "partial", "tested": "yes", "backout": "yes", "done_before": "once"}, storage.Command{})
	require.NoError(t, err)
	mig, err = d.srv.changes.Fire(rita, mig.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	require.NoError(t, err)
	require.Equal(t, transition.ChangeAuthorize, mig.State)
	path := "/changes/" + mig.ID
	page := mia.get(path)
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, text(page.body), "In freeze: Year-end freeze")
	before := d.snapshot()
	r := mia.post(path+"/reject", url.Values{"group": {GroupChangeManagement}, "comment": {""}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, r.body, "Say why it is rejected")
	assert.Equal(t, before, d.snapshot())

	r = mia.post(path+"/approve", url.Values{"group": {GroupChangeManagement}, "comment": {"fine after the freeze"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	page = mia.get(r.location)
	body := text(page.body)
	assert.Contains(t, body, "Mia Manager approved")
	assert.Contains(t, body, "fine after the freeze")
	assert.Contains(t, body, "Approved, but not scheduled: its planned window falls in the freeze")
	got, err := d.srv.changes.Get(reader(), mig.ID)
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeAuthorize, got.State)

	// Rejecting the firmware change with a comment cancels it and shows it.
	fw := "/changes/" + d.seeded.FirmwareChange
	r = mia.post(fw+"/reject", url.Values{"group": {GroupChangeManagement}, "comment": {"no backout plan"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	body = text(mia.get(fw).body)
	assert.Contains(t, body, "Mia Manager rejected")
	assert.Contains(t, body, "no backout plan")
	assert.Contains(t, body, "State Canceled")
}
