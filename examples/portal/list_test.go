package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// raiseMany opens n incidents for carl a minute apart, "bulk 0" oldest.
func (d *desk) raiseMany(n int) []*operation.Incident {
	d.t.Helper()
	ctx := itsm.WithActor(reader(), d.srv.byID["carl"].Actor)
	var out []*operation.Incident
	for i := range n {
		d.clock.Advance(time.Minute)
		inc := &operation.Incident{ShortDescription: "bulk " + strconv.Itoa(i), Impact: 1 + i%3, Urgency: 3, AssignmentGroup: GroupServiceDesk}
		require.NoError(d.t, d.srv.desk.OpenIncident(ctx, inc, storage.Command{}))
		out = append(out, inc)
	}
	return out
}

// A caller with more tickets than a page reaches all of them: the count
// says where the page is, the pager walks on, and the oldest open tickets
// are a sort away.
func TestListsPageAndCount(t *testing.T) {
	d := newDesk(t)
	incs := d.raiseMany(120) // plus the seeded one: 121 open
	carl := d.as("carl")
	r := carl.get("/my")
	require.Equal(t, http.StatusOK, r.status)
	page := text(r.body)
	assert.Contains(t, page, "1–50 of 121")
	assert.Contains(t, page, "bulk 119", "newest first")
	assert.NotContains(t, page, "bulk 0 ")
	assert.Contains(t, r.body, `href="/my?mine=1&amp;page=2&amp;state=open"`)

	page = text(carl.get("/my?state=open&page=2").body)
	assert.Contains(t, page, "51–100 of 121")
	assert.Contains(t, page, "Previous 50")
	assert.Contains(t, page, "Next 50")
	page = text(carl.get("/my?state=open&page=3").body)
	assert.Contains(t, page, "101–121 of 121")
	assert.NotContains(t, page, "Next 50")
	assert.Contains(t, page, "Outlook keeps asking", "the oldest ticket is on the last page")

	page = text(carl.get("/my?sort=oldest").body)
	assert.Contains(t, page, "1–50 of 121")
	assert.Contains(t, page, "Outlook keeps asking", "oldest first puts the oldest on page one")

	// Closed tickets are their own list.
	ann := itsm.WithActor(reader(), d.srv.byID["ann"].Actor)
	_, err := d.srv.desk.TakeIncident(ann, incs[0].ID, false, storage.Command{})
	require.NoError(t, err)
	_, err = d.srv.desk.ResolveIncident(ann, incs[0].ID, operation.ResolvedRemotely, "done", storage.Command{})
	require.NoError(t, err)
	page = text(carl.get("/incidents?mine=1&state=done").body)
	assert.Contains(t, page, "1–1 of 1")
	assert.Contains(t, page, incs[0].Number+" bulk 0")
	assert.Contains(t, text(carl.get("/my").body), "1–50 of 120")

	// Another caller sees none of them.
	assert.Contains(t, text(d.as("cora").get("/incidents?state=open").body), "No incidents match")
}

// Agents filter by state, priority, group and assignee; a filter value
// the portal does not know is said so, not a 500.
func TestListFilters(t *testing.T) {
	d := newDesk(t)
	incs := d.raiseMany(9) // impact 1,2,3 repeating, urgency 3: priorities 3,4,5
	ann := d.as("ann")
	actx := itsm.WithActor(reader(), d.srv.byID["ann"].Actor)
	_, err := d.srv.desk.TakeIncident(actx, incs[4].ID, false, storage.Command{})
	require.NoError(t, err)
	tests := []struct {
		query string
		want  string
	}{
		{"state=open", "1–10 of 10"},
		{"state=in_progress", "1–1 of 1"},
		{"assignee=me", "1–1 of 1"},
		{"assignee=ann", "1–1 of 1"},
		{"assignee=none&state=open", "1–9 of 9"},
		{"group=network", "No incidents match"},
		{"group=service_desk&priority=" + strconv.Itoa(incs[0].Priority), "1–4 of 4"}, // and the seeded P3
		{"state=done", "No incidents match"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := ann.get("/incidents?" + tc.query)
			require.Equal(t, http.StatusOK, r.status)
			assert.Contains(t, text(r.body), tc.want)
		})
	}
	r := ann.get("/incidents?state=exploded&priority=9")
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, text(r.body), "Choose one of the listed states")
	assert.Contains(t, r.body, `aria-invalid="true"`)
	assert.Contains(t, text(r.body), "1–10 of 10", "the rest of the list still shows")
}

// Queues show names, state labels and SLA countdowns, and flag breaches.
func TestQueueShowsCountdowns(t *testing.T) {
	d := newDesk(t)
	ann := d.as("ann")
	page := text(ann.get("/queue").body)
	assert.Contains(t, page, "response: 1 h left")
	assert.Contains(t, page, "New")
	d.clock.Advance(2 * time.Hour)
	r := ann.get("/queue")
	assert.Contains(t, text(r.body), "⚠ response: breached 1 h ago")
	assert.Contains(t, r.body, `class="sla breached"`)
}

func TestHumanDurationsAndCounts(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "under a minute"},
		{42 * time.Minute, "42 min"},
		{65 * time.Minute, "1 h 5 min"},
		{2 * time.Hour, "2 h"},
		{76 * time.Hour, "3 d 4 h"},
		{-48 * time.Hour, "2 d"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, human(tc.d))
	}
	assert.Equal(t, "2,143", thousands(2143))
	assert.Equal(t, "51", thousands(51))
	assert.Equal(t, "1,000,000", thousands(1_000_000))
}

// The charts read at a glance: percentages with the SLA target drawn, a
// sans-serif font, days labelled once.
func TestChartsReadAtAGlance(t *testing.T) {
	d := newDesk(t)
	ann := d.as("ann")
	assert.Contains(t, ann.get("/dashboard").body, "No measurements yet", "an empty state, not a broken image")
	mttr := ann.get("/charts/mttr-by-priority.svg")
	assert.Equal(t, http.StatusOK, mttr.status, "the image itself has an empty state too")
	assert.Contains(t, mttr.body, ">No measurements yet<")
	id := d.seeded.Incident
	d.clock.Advance(20 * time.Minute)
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/take", nil).status)
	d.clock.Advance(100 * time.Minute)
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/resolve",
		url.Values{"resolution_code": {operation.ResolvedRemotely}, "resolution_notes": {"reset"}}).status)
	sla := ann.get("/charts/sla-by-priority.svg").body
	assert.Contains(t, sla, ">100%<")
	assert.Contains(t, sla, "target 95%")
	assert.Contains(t, sla, "Sans")
	assert.NotContains(t, sla, ">1.0<", "no bare ratios")
	assert.Contains(t, sla, ">compliance<")
	assert.Equal(t, 2, strings.Count(sla, ">100%</text>"), "the axis tick and the value on its bar")
	perDay := ann.get("/charts/incidents-per-day.svg").body
	assert.Contains(t, perDay, "25 Nov")
	assert.Equal(t, 1, strings.Count(perDay, ">25 Nov<"), "each day labelled once")
}
