package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// buttons returns which command buttons a page shows.
func buttons(body string) []string {
	var out []string
	for _, id := range []string{"take", "take-over", "start", "resume", "hold", "resolve", "confirm", "reopen", "cancel"} {
		if strings.Contains(body, `id="`+id+`"`) {
			out = append(out, id)
		}
	}
	return out
}

// The page offers only what the lifecycle allows from the state and the
// viewer may do.
func TestOnlyAllowedActionsAreShown(t *testing.T) {
	d := newDesk(t)
	id := d.seeded.Incident
	ann, carl := d.as("ann"), d.as("carl")
	assert.Equal(t, []string{"take", "hold", "resolve", "cancel"}, buttons(ann.get("/incidents/"+id).body), "new, unassigned")
	assert.Equal(t, []string{"cancel"}, buttons(carl.get("/incidents/"+id).body), "the caller may only cancel their own")
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/take", nil).status)
	assert.Equal(t, []string{"hold", "resolve", "cancel"}, buttons(ann.get("/incidents/"+id).body), "in progress, ann's")
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/hold", url.Values{"hold_reason": {operation.HoldAwaitingCaller}}).status)
	assert.Equal(t, []string{"resume", "hold", "resolve", "cancel"}, buttons(ann.get("/incidents/"+id).body), "on hold (hold again changes the reason)")
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/resolve",
		url.Values{"resolution_code": {operation.ResolvedRemotely}, "resolution_notes": {"reset"}}).status)
	assert.Equal(t, []string{"confirm", "reopen"}, buttons(carl.get("/incidents/"+id).body), "resolved, for its caller")
	assert.Contains(t, buttons(ann.get("/incidents/"+id).body), "reopen", "agents can reopen")
}

// A refusal a person can fix names the field in their words, marks it and
// keeps what they typed; nothing is written.
func TestRefusalsKeepTypedInput(t *testing.T) {
	d := newDesk(t)
	id := d.seeded.Incident
	ann := d.as("ann")
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/take", nil).status)
	tests := []struct {
		action string
		form   url.Values
		field  string
		msg    string
		kept   string
	}{
		{"hold", url.Values{"reason": {"waiting for the <vendor> call"}}, "hold_reason", "Choose a hold reason.", "waiting for the &lt;vendor&gt; call"},
		{"resolve", url.Values{"resolution_notes": {"Reset the MFA token"}}, "resolution_code", "Choose how it was resolved.", "Reset the MFA token"},
		{"resolve", url.Values{"resolution_code": {operation.ResolvedRemotely}}, "resolution_notes", "Say what fixed it", `<option value="` + operation.ResolvedRemotely + `" selected>`},
		{"cancel", url.Values{}, "cancel_reason", "Say why it is no longer needed.", ""},
	}
	for _, tc := range tests {
		t.Run(tc.action+" "+tc.field, func(t *testing.T) {
			before := d.snapshot()
			r := ann.post("/incidents/"+id+"/"+tc.action, tc.form)
			assert.Equal(t, http.StatusUnprocessableEntity, r.status)
			assert.Contains(t, r.body, tc.msg)
			assert.Regexp(t, `name="`+tc.field+`"[^>]*aria-invalid="true"`, r.body)
			assert.Contains(t, r.body, tc.kept)
			assert.Equal(t, before, d.snapshot())
		})
	}
}

// Take is one command: a second agent is told who holds the incident and
// may take it over explicitly; callers cancel their own, not others'.
func TestTakeReopenCancel(t *testing.T) {
	d := newDesk(t)
	id := d.seeded.Incident
	ann := d.as("ann")
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/take", nil).status)
	actx := itsm.WithActor(context.Background(), d.srv.byID["ann"].Actor)
	inc, err := d.srv.desk.TakeIncident(actx, id, false, storage.Command{})
	require.NoError(t, err, "taking one's own is a no-op")
	assert.Equal(t, "ann", inc.AssignedTo)

	// Resolve, then reopen as the agent.
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/resolve",
		url.Values{"resolution_code": {operation.ResolvedRemotely}, "resolution_notes": {"reset"}}).status)
	r := ann.post("/incidents/"+id+"/reopen", url.Values{"reopen_reason": {"caller says it is back"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	assert.Equal(t, operation.StateInProgress, d.incident(id).State)

	// Carl cancels his own new incident; Cora may not.
	carl := d.as("carl")
	r = carl.post("/incidents", url.Values{"short_description": {"Raised by mistake"}, "impact": {"3"}, "urgency": {"3"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	own := strings.TrimPrefix(r.location, "/incidents/")
	before := d.snapshot()
	r = d.as("cora").post("/incidents/"+own+"/cancel", url.Values{"cancel_reason": {"not mine"}})
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, before, d.snapshot())
	r = carl.post("/incidents/"+own+"/cancel", url.Values{"cancel_reason": {"raised by mistake"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	assert.Equal(t, operation.StateCanceled, d.incident(own).State)
}

// A second agent's take of a held incident is refused by name, and the
// page offers taking it over.
func TestTakeOfAHeldIncident(t *testing.T) {
	d := newDesk(t)
	// Bob is in network: move the seeded incident there, held by rita.
	rctx := itsm.WithActor(context.Background(), d.srv.byID["rita"].Actor)
	_, err := d.srv.desk.AssignIncident(itsm.WithActor(context.Background(), d.srv.byID["ann"].Actor), d.seeded.Incident, GroupNetwork, "", storage.Command{})
	require.NoError(t, err)
	_, err = d.srv.desk.TakeIncident(rctx, d.seeded.Incident, false, storage.Command{})
	require.NoError(t, err)
	bob := d.as("bob")
	before := d.snapshot()
	r := bob.post("/incidents/"+d.seeded.Incident+"/take", nil)
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Contains(t, text(r.body), "Rita Requester is already working on this incident")
	assert.Contains(t, r.body, `id="take-over"`)
	assert.Equal(t, before, d.snapshot())
	r = bob.post("/incidents/"+d.seeded.Incident+"/take", url.Values{"reassign": {"1"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	assert.Equal(t, "bob", d.incident(d.seeded.Incident).AssignedTo)
}

// The background consumers catch the SLA engine up and deliver in-app
// notifications without any page being asked.
func TestBackgroundCatchesUp(t *testing.T) {
	d := newDesk(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bg, err := d.srv.StartBackground(ctx, 10*time.Millisecond)
	require.NoError(t, err)
	defer func() { require.NoError(t, bg.Stop(context.Background())) }()
	ann := itsm.WithActor(context.Background(), d.srv.byID["ann"].Actor)
	_, err = d.srv.desk.TakeIncident(ann, d.seeded.Incident, false, storage.Command{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		notes, err := d.srv.inbox.of(context.Background(), "carl")
		return err == nil && len(notes) > 0
	}, 5*time.Second, 10*time.Millisecond, "carl hears his incident is in progress")
	require.Eventually(t, func() bool {
		clocks, err := d.srv.sla.ClocksOf(ann, d.seeded.Incident)
		return err == nil && len(clocks) > 0
	}, 5*time.Second, 10*time.Millisecond, "the SLA clocks exist without a page read")
	notes, err := d.srv.inbox.of(context.Background(), "carl")
	require.NoError(t, err)
	n := notes[0]
	assert.Equal(t, d.incident(d.seeded.Incident).Number, n.Number)
}

// Callers and agents read their in-app notifications, delivered from the
// event stream.
func TestInAppNotifications(t *testing.T) {
	d := newDesk(t)
	carl, ann := d.as("carl"), d.as("ann")
	assert.Contains(t, text(carl.get("/notifications").body), "Nothing new")
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+d.seeded.Incident+"/take", nil).status)
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+d.seeded.Incident+"/comment", url.Values{"text": {"On it"}}).status)
	num := d.incident(d.seeded.Incident).Number
	page := text(carl.get("/notifications").body)
	assert.Contains(t, page, num, "the caller hears of his incident")
	r := carl.post("/incidents", url.Values{"short_description": {"Scanner offline"}, "impact": {"3"}, "urgency": {"3"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	assert.Contains(t, text(ann.get("/notifications").body), "service_desk", "the group's agents hear of the new incident")
	assert.NotContains(t, text(d.as("cora").get("/notifications").body), num, "nobody else does")
}
