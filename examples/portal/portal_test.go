package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// desk is a seeded portal behind an httptest server, on a fake clock.
type desk struct {
	t      *testing.T
	srv    *Server
	store  storage.Backend
	clock  *itsm.FakeClock
	seeded Seeded
	url    string
}

// newStore makes the store of each test desk; TestOnSQLite and
// TestOnPostgres swap it.
var newStore = func(testing.TB) storage.Backend { return memory.New() }

func newDesk(t *testing.T) *desk {
	t.Helper()
	ctx := context.Background()
	store := newStore(t)
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	srv, err := NewServer(ctx, store, Config{Clock: clock})
	require.NoError(t, err)
	seeded, ok, err := srv.Seed(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	_, again, err := srv.Seed(ctx)
	require.NoError(t, err)
	require.False(t, again, "seeding twice must do nothing")
	// The portal's consumers catch the engines up in the background; the
	// tests' server stands in for them having done so before each page is
	// read, so what a page shows is deterministic.
	ts := httptest.NewServer(caughtUp(t, srv))
	t.Cleanup(ts.Close)
	return &desk{t: t, srv: srv, store: store, clock: clock, seeded: seeded, url: ts.URL}
}

// browser is one person's HTTP client: a cookie jar, no redirects followed.
type browser struct {
	d  *desk
	c  *http.Client
	jr *cookiejar.Jar
}

type response struct {
	status   int
	body     string
	location string
}

func (d *desk) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(d.t, err)
	return &browser{d: d, jr: jar, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// as returns a browser logged in as user.
func (d *desk) as(user string) *browser {
	b := d.browser()
	b.get("/login")
	r := b.post("/login", url.Values{"user": {user}})
	require.Equal(d.t, http.StatusSeeOther, r.status, r.body)
	return b
}

func (b *browser) do(req *http.Request) response {
	b.d.t.Helper()
	res, err := b.c.Do(req)
	require.NoError(b.d.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(b.d.t, err)
	return response{res.StatusCode, string(body), res.Header.Get("Location")}
}

func (b *browser) get(path string) response {
	req, err := http.NewRequest(http.MethodGet, b.d.url+path, nil)
	require.NoError(b.d.t, err)
	return b.do(req)
}

// csrf returns the CSRF token the portal puts in the browser's forms (it
// is bound to the browser's session, so it is read from a page).
func (b *browser) csrf() string {
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(b.get("/login").body)
	if m == nil {
		return ""
	}
	return m[1]
}

// post sends a form with the browser's CSRF token.
func (b *browser) post(path string, form url.Values) response {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf())
	}
	return b.postRaw(path, form.Encode())
}

func (b *browser) postRaw(path, body string) response {
	req, err := http.NewRequest(http.MethodPost, b.d.url+path, strings.NewReader(body))
	require.NoError(b.d.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// snapshot returns the domain events of the desk's records (the SLA and KPI
// engines' own bookkeeping left out): every accepted command writes one, so
// an unchanged snapshot means an unchanged store.
func (d *desk) snapshot() []itsm.Event {
	d.t.Helper()
	evs, err := d.store.ReadEvents(context.Background(), 0, 1_000_000)
	require.NoError(d.t, err)
	var out []itsm.Event
	for _, e := range evs {
		switch e.Kind {
		case design.ClockKind, design.CheckpointKind, improvement.CheckpointKind:
		default:
			out = append(out, e)
		}
	}
	return out
}

// reader returns a context whose actor may read every record and its
// internal fields but write none (the manager role): what the tests check
// the store with.
func reader() context.Context {
	return itsm.WithActor(context.Background(), itsm.Actor{ID: "reader", Roles: []string{itsm.RoleManager}})
}

func (d *desk) incident(id string) *operation.Incident {
	d.t.Helper()
	inc, err := d.srv.desk.Incidents().Get(reader(), id)
	require.NoError(d.t, err)
	return inc
}

// text strips tags and folds spaces, to check what a person reads.
func text(html string) string {
	s := regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`).ReplaceAllString(html, " ")
	return strings.Join(strings.Fields(s), " ")
}

func TestLoginPickerAndRoles(t *testing.T) {
	d := newDesk(t)
	anon := d.browser()
	r := anon.get("/queue")
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/login", r.location)
	r = anon.get("/login")
	require.Equal(t, http.StatusOK, r.status)
	for _, u := range DefaultUsers() {
		assert.Contains(t, r.body, `value="`+u.ID+`"`)
	}
	r = anon.post("/incidents", url.Values{"short_description": {"x"}})
	assert.Equal(t, http.StatusUnauthorized, r.status)
	r = anon.post("/login", url.Values{"user": {"mallory"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, text(r.body), "choose one of the listed users")

	for user, home := range map[string]string{"carl": "/my", "ann": "/queue", "mia": "/changes"} {
		r := d.as(user).get("/")
		assert.Equal(t, http.StatusSeeOther, r.status, user)
		assert.Equal(t, home, r.location, user)
	}
	carl := d.as("carl")
	r = carl.post("/logout", nil)
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/login", carl.get("/my").location)
}

func TestRaiseIncident(t *testing.T) {
	long := strings.Repeat("x", operation.MaxShortDescription+1)
	tests := []struct {
		name   string
		form   url.Values
		status int
		field  string // the field whose problem is shown next to it
		msg    string
	}{
		{"no short description", url.Values{"impact": {"2"}, "urgency": {"2"}}, 422, "short_description", "say in a few words"},
		{"impact out of range", url.Values{"short_description": {"Printer"}, "impact": {"9"}, "urgency": {"2"}}, 422, "impact", "choose 1 (high)"},
		{"urgency not a number", url.Values{"short_description": {"Printer"}, "impact": {"1"}, "urgency": {"high"}}, 422, "urgency", "choose 1 (high)"},
		{"unknown service", url.Values{"short_description": {"Printer"}, "impact": {"1"}, "urgency": {"1"}, "service_id": {"nope"}}, 422, "service_id", "choose one of the listed services"},
		{"too long for the pillar", url.Values{"short_description": {long}, "impact": {"1"}, "urgency": {"1"}}, 422, "short_description", "160"},
	}
	d := newDesk(t)
	carl := d.as("carl")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			r := carl.post("/incidents", tc.form)
			assert.Equal(t, tc.status, r.status)
			// The problem sits right after its field.
			re := regexp.MustCompile(`(?s)name="` + tc.field + `".*?<span class="field-error">([^<]*)</span>`)
			m := re.FindStringSubmatch(r.body)
			require.NotNil(t, m, "no field error after %s in %s", tc.field, r.body)
			assert.Contains(t, m[1], tc.msg)
			assert.Equal(t, before, d.snapshot(), "a refused form changes nothing")
		})
	}

	r := carl.post("/incidents", url.Values{"short_description": {"VPN drops"}, "description": {"every ten minutes"},
		"impact": {"2"}, "urgency": {"1"}, "service_id": {d.seeded.NetworkService}})
	require.Equal(t, http.StatusSeeOther, r.status, r.body)
	id := strings.TrimPrefix(r.location, "/incidents/")
	inc := d.incident(id)
	assert.Equal(t, "carl", inc.CallerID)
	assert.Equal(t, GroupNetwork, inc.AssignmentGroup, "routed to the service's support group")
	assert.Equal(t, 2, inc.Priority)
	page := text(carl.get(r.location).body)
	assert.Contains(t, page, inc.Number)
	assert.Contains(t, page, "State New")
	assert.Contains(t, page, "incident-resolution", "the SLA clocks are shown")
	my := text(carl.get("/my").body)
	assert.Contains(t, my, inc.Number+" VPN drops 2 - High Network nobody New")
}

func TestUserStringsAreEscaped(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	evil := `<script>alert("x")</script>`
	r := carl.post("/incidents", url.Values{"short_description": {evil}, "description": {`<img src=x onerror=alert(1)>`},
		"impact": {"3"}, "urgency": {"3"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	for _, path := range []string{r.location, "/my"} {
		body := carl.get(path).body
		assert.NotContains(t, body, evil)
		assert.NotContains(t, body, "<img src=x")
		assert.Contains(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", path)
	}
	body := d.as("ann").get("/queue").body
	assert.NotContains(t, body, evil)
	assert.Contains(t, body, "&lt;script&gt;")
	// Re-rendered forms escape the echoed value too.
	r = carl.post("/incidents", url.Values{"short_description": {evil}, "impact": {"7"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.NotContains(t, r.body, evil)
}

func TestForgedAndBadPosts(t *testing.T) {
	d := newDesk(t)
	ann := d.as("ann")
	id := d.seeded.Incident
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		msg    string
	}{
		{"no CSRF token", "/incidents/" + id + "/take", "", 403, "CSRF"},
		{"wrong CSRF token", "/incidents/" + id + "/take", "csrf=0123456789abcdef0123456789abcdef", 403, "CSRF"},
		{"body too large", "/incidents/" + id + "/comment", "csrf=" + ann.csrf() + "&text=" + strings.Repeat("a", MaxBody), 413, "too large"},
		{"malformed form", "/incidents/" + id + "/comment", "csrf=%zz", 400, "could not be read"},
		{"unknown action", "/incidents/" + id + "/explode", "csrf=" + ann.csrf(), 404, "No such action"},
		{"unknown incident", "/incidents/0190a0a0-0000-7000-8000-000000000000/take", "csrf=" + ann.csrf(), 404, "No such record"},
		{"garbage id", "/incidents/..%2f..%2fetc/take", "csrf=" + ann.csrf(), 404, ""},
		{"empty comment", "/incidents/" + id + "/comment", "csrf=" + ann.csrf() + "&text=+", 422, "a note needs"},
		{"unknown change", "/changes/nope/approve", "csrf=" + ann.csrf() + "&group=change_management", 404, "No such record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			r := ann.postRaw(tc.path, tc.body)
			assert.Equal(t, tc.status, r.status)
			assert.Contains(t, text(r.body), tc.msg)
			assert.NotContains(t, r.body, "goroutine")
			assert.NotContains(t, r.body, ".go:")
			assert.Equal(t, before, d.snapshot())
		})
	}
	assert.Equal(t, http.StatusNotFound, ann.get("/no/such/page").status)
	assert.Equal(t, http.StatusNotFound, ann.get("/incidents/nope").status)
	assert.Equal(t, http.StatusNotFound, ann.get("/requests/nope").status)
	assert.Equal(t, http.StatusNotFound, ann.get("/catalog/nope").status)
	assert.Equal(t, http.StatusNotFound, ann.get("/charts/nope.svg").status)
}

func TestCallerIsRefusedAgentActions(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	id := d.seeded.Incident
	for _, action := range []string{"take", "start", "hold", "resolve", "work_note"} {
		t.Run(action, func(t *testing.T) {
			before := d.snapshot()
			r := carl.post("/incidents/"+id+"/"+action, url.Values{"hold_reason": {operation.HoldAwaitingVendor},
				"resolution_code": {operation.ResolvedWorkaround}, "resolution_notes": {"done"}, "text": {"hi"}})
			assert.Equal(t, http.StatusForbidden, r.status)
			assert.Regexp(t, `forbidden: carl may not \w+ incident`, text(r.body))
			assert.Equal(t, before, d.snapshot())
		})
	}
	r := carl.get("/queue")
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Contains(t, text(r.body), "agent role")
	r = carl.post("/changes/"+d.seeded.FirmwareChange+"/approve", url.Values{"group": {GroupChangeManagement}})
	assert.Equal(t, http.StatusForbidden, r.status)
	// Cora may not read Carl's incident: the desk refuses the read itself.
	r = d.as("cora").get("/incidents/" + id)
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Contains(t, text(r.body), "cora may not read incident")
	assert.Contains(t, text(r.body), "outside the actor&#39;s read scope")
	// Carl sees no work forms on his own incident.
	assert.NotContains(t, carl.get("/incidents/"+id).body, `id="take"`)
}

// Each person sees an incident's page only when the desk lets them read
// it: its caller, the agents of its assignment group; not another caller,
// not an agent of another group, not a change manager outside it.
func TestIncidentPageIsScoped(t *testing.T) {
	d := newDesk(t)
	path := "/incidents/" + d.seeded.Incident // carl's, assigned to service_desk
	tests := []struct {
		user   string
		status int
	}{
		{"carl", http.StatusOK},
		{"ann", http.StatusOK},
		{"cora", http.StatusForbidden},
		{"bob", http.StatusForbidden},
		{"mia", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			r := d.as(tc.user).get(path)
			assert.Equal(t, tc.status, r.status)
			if tc.status == http.StatusForbidden {
				assert.Contains(t, text(r.body), tc.user+" may not read incident")
				assert.NotContains(t, r.body, "Outlook keeps asking", "nothing of the incident is shown")
			} else {
				assert.Contains(t, r.body, "Outlook keeps asking")
			}
		})
	}
}

// The caller comments on their own incident from its page; agents read the
// comment and keep work notes the caller never sees; another caller may not
// comment on it.
func TestCallerComments(t *testing.T) {
	d := newDesk(t)
	carl, ann := d.as("carl"), d.as("ann")
	id := d.seeded.Incident
	page := carl.get("/incidents/" + id).body
	assert.Contains(t, page, `id="comment-form"`)
	assert.Contains(t, page, "Add a comment for the service desk")
	assert.NotContains(t, page, `id="work-note-form"`)

	r := carl.post("/incidents/"+id+"/comment", url.Values{"text": {"It fails again <since> 10:05"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	page = carl.get(r.location).body
	assert.Contains(t, text(page), "Carl Caller Wed 25 Nov 09:00 UTC: It fails again &lt;since&gt; 10:05")

	r = ann.post("/incidents/"+id+"/work_note", url.Values{"text": {"Looks like the proxy"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	assert.Contains(t, text(ann.get("/incidents/"+id).body), "Ann Agent Wed 25 Nov 09:00 UTC: Looks like the proxy")
	assert.Contains(t, text(ann.get("/incidents/"+id).body), "It fails again")
	assert.NotContains(t, carl.get("/incidents/"+id).body, "Looks like the proxy", "work notes are internal")

	before := d.snapshot()
	r = carl.post("/incidents/"+id+"/comment", url.Values{"text": {" "}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	assert.Contains(t, text(r.body), "a note needs")
	// Cora may not even read Carl's incident, so she is refused before the
	// comment rule is asked.
	r = d.as("cora").post("/incidents/"+id+"/comment", url.Values{"text": {"me too"}})
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Contains(t, text(r.body), "cora may not read incident")
	assert.Equal(t, before, d.snapshot())
	inc := d.incident(id)
	require.Len(t, inc.Comments, 1)
	assert.Equal(t, "carl", inc.Comments[0].Author)
	require.Len(t, inc.WorkNotes, 1)
}

func TestAgentWorksAnIncident(t *testing.T) {
	d := newDesk(t)
	ann, bob := d.as("ann"), d.as("bob")
	id, num := d.seeded.Incident, d.incident(d.seeded.Incident).Number
	section := func(body, id string) string {
		i := strings.Index(body, `id="`+id+`"`)
		if i < 0 {
			return ""
		}
		return body[i : i+strings.Index(body[i:], "</table>")]
	}

	q := ann.get("/queue").body
	assert.Contains(t, section(q, "unassigned"), num, "unassigned in ann's group service_desk")
	assert.Contains(t, section(q, "breaching"), num, "a P3 response is due within the hour")
	assert.NotContains(t, bob.get("/queue").body, num, "bob is not in service_desk")

	step := func(action string, form url.Values, status int) string {
		t.Helper()
		before := d.snapshot()
		r := ann.post("/incidents/"+id+"/"+action, form)
		require.Equal(t, status, r.status, text(r.body))
		if status != http.StatusSeeOther {
			assert.Equal(t, before, d.snapshot(), "refused %s changed the store", action)
			return text(r.body)
		}
		return text(ann.get(r.location).body)
	}
	page := step("take", nil, http.StatusSeeOther)
	assert.Contains(t, page, "State In progress")
	assert.Contains(t, page, "Service desk / Ann Agent")
	q = ann.get("/queue").body
	assert.Contains(t, section(q, "mine"), num)
	assert.Empty(t, section(q, "unassigned"))

	// Refusals show the lifecycle's reason and the incident, not a trace.
	page = step("resume", nil, http.StatusConflict)
	assert.Contains(t, page, "resume")
	assert.Contains(t, page, "in_progress")
	assert.Contains(t, page, "State In progress", "the incident is shown again")
	page = step("hold", url.Values{"hold_reason": {"lunch"}}, http.StatusConflict)
	assert.Contains(t, page, "lunch")
	page = step("hold", url.Values{"hold_reason": {operation.HoldAwaitingCaller}, "reason": {"need the error text"}}, http.StatusSeeOther)
	assert.Contains(t, page, "State On hold (awaiting caller)")
	assert.Contains(t, page, "need the error text")
	page = step("hold", url.Values{"reason": {"typed note"}}, http.StatusUnprocessableEntity)
	assert.Contains(t, page, "Choose a hold reason.")
	page = step("resolve", url.Values{"resolution_code": {""}, "resolution_notes": {""}}, http.StatusUnprocessableEntity)
	assert.Contains(t, page, "Choose how it was resolved.", "the missing fields are named for a person")
	assert.Contains(t, page, "Say what fixed it")
	page = step("comment", url.Values{"text": {"Please send a screenshot"}}, http.StatusSeeOther)
	assert.Contains(t, page, "Please send a screenshot")
	page = step("resolve", url.Values{"resolution_code": {operation.ResolvedWorkaround}, "resolution_notes": {"Cleared the credential cache"}}, http.StatusSeeOther)
	assert.Contains(t, page, "State Resolved")
	assert.Contains(t, page, "solved workaround: Cleared the credential cache")
	inc := d.incident(id)
	assert.Equal(t, operation.StateResolved, inc.State)
	assert.Equal(t, "ann", inc.AssignedTo)

	// The caller sees the state and the comment, and confirms.
	carl := d.as("carl")
	page = text(carl.get("/incidents/" + id).body)
	assert.Contains(t, page, "State Resolved")
	assert.Contains(t, page, "Ann Agent Wed 25 Nov 09:00 UTC: Please send a screenshot")
	r := carl.post("/incidents/"+id+"/close", nil)
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, operation.StateClosed, d.incident(id).State)
	evs, err := d.srv.desk.Incidents().History(reader(), id)
	require.NoError(t, err)
	var names []string
	for _, e := range evs {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"create", "update", "start", "hold", "update", "resolve", "close"}, names)
	require.NoError(t, d.srv.desk.Incidents().Verify(reader(), id))
}

func TestOrderFromTheCatalogue(t *testing.T) {
	d := newDesk(t)
	cora := d.as("cora")
	cat := text(cora.get("/catalog").body)
	assert.Contains(t, cat, "hardware Laptop")
	assert.Contains(t, cat, "1200.00 EUR")
	item := "/catalog/" + d.seeded.LaptopItem
	assert.Equal(t, http.StatusOK, cora.get(item).status)

	tests := []struct {
		name   string
		form   url.Values
		fields map[string]string
	}{
		{"nothing answered", url.Values{}, map[string]string{"model": "required", "quantity": "required", "justification": "required"}},
		{"bad choice and bounds", url.Values{"model": {"gaming"}, "quantity": {"7"}, "justification": {"x"}},
			map[string]string{"model": "not one of", "quantity": "3"}},
		{"not a number", url.Values{"model": {"standard"}, "quantity": {"two"}, "justification": {"x"}}, map[string]string{"quantity": "number"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			r := cora.post(item, tc.form)
			require.Equal(t, http.StatusUnprocessableEntity, r.status)
			for field, msg := range tc.fields {
				re := regexp.MustCompile(`(?s)name="` + field + `".*?<span class="field-error">([^<]*)</span>`)
				m := re.FindStringSubmatch(r.body)
				require.NotNil(t, m, "no error next to %s", field)
				assert.Contains(t, m[1], msg)
			}
			assert.Equal(t, before, d.snapshot())
		})
	}

	r := cora.post(item, url.Values{"model": {"developer"}, "quantity": {"1"}, "justification": {"new starter <Dana>"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	page := cora.get(r.location)
	require.Equal(t, http.StatusOK, page.status)
	body := text(page.body)
	assert.Contains(t, body, "State In fulfillment")
	assert.Contains(t, body, "1 Prepare the laptop service_desk Open")
	assert.Contains(t, body, "2 Deliver the laptop service_desk waits for the earlier stage")
	assert.Contains(t, body, "Answers Model developer Quantity 1 Business justification new starter &lt;Dana&gt;")
	assert.Contains(t, page.body, "new starter &lt;Dana&gt;")
	// The answers are the request's variables, not text in its description.
	id := strings.TrimPrefix(r.location, "/requests/")
	req, err := d.srv.desk.Requests().Get(reader(), id)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"model": "developer", "quantity": "1", "justification": "new starter <Dana>"}, req.Variables)
	assert.Empty(t, req.Description)
	// The second stage starts when the first is done.
	_, err = d.srv.desk.CompleteTask(itsm.WithActor(context.Background(), d.srv.byID["ann"].Actor), req.TaskIDs[0], "prepared", storage.Command{})
	require.NoError(t, err)
	body = text(cora.get(r.location).body)
	assert.Contains(t, body, "1 Prepare the laptop prepared service_desk Closed complete")
	assert.Contains(t, body, "2 Deliver the laptop service_desk Open")
	assert.Contains(t, text(cora.get("/my").body), "Laptop In fulfillment")
	assert.Equal(t, http.StatusForbidden, d.as("carl").get(r.location).status, "someone else's request")
}

func TestChangeCalendarAndApproval(t *testing.T) {
	d := newDesk(t)
	ctx := reader()
	mia := d.as("mia")
	r := mia.get("/changes")
	require.Equal(t, http.StatusOK, r.status)
	page := text(r.body)
	assert.Contains(t, page, "Year-end freeze freeze")
	fw, _ := d.srv.changes.Get(ctx, d.seeded.FirmwareChange)
	psu, _ := d.srv.changes.Get(ctx, d.seeded.PSUChange)
	mig, _ := d.srv.changes.Get(ctx, d.seeded.MigrationChange)
	row := func(body, number string) string {
		i := strings.Index(body, `id="row-`+number+`"`)
		require.GreaterOrEqual(t, i, 0, number)
		return text(body[i : i+strings.Index(body[i:], "</tr>")])
	}
	assert.Contains(t, row(r.body, fw.Number), "collides with "+psu.Number+" (same CI)")
	assert.Contains(t, row(r.body, fw.Number), "Approve for change_management")
	assert.Contains(t, row(r.body, psu.Number), "collides with "+fw.Number)
	assert.Contains(t, row(r.body, mig.Number), "in freeze: Year-end freeze")
	assert.NotContains(t, row(r.body, mig.Number), "collides")

	// Rita raised it and is not in change management: refused, nothing written.
	rita := d.as("rita")
	assert.NotContains(t, rita.get("/changes").body, "Approve for")
	before := d.snapshot()
	r = rita.post("/changes/"+fw.ID+"/approve", url.Values{"group": {GroupChangeManagement}, "comment": {"mine"}})
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Contains(t, text(r.body), "forbidden")
	assert.Equal(t, before, d.snapshot())

	r = mia.post("/changes/"+fw.ID+"/approve", url.Values{"group": {GroupChangeManagement}, "comment": {"go ahead"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	got, err := d.srv.changes.Get(ctx, fw.ID)
	require.NoError(t, err)
	assert.Equal(t, transition.ChangeScheduled, got.State)
	assert.Equal(t, transition.ApprovalApproved, got.Approval)
	assert.Contains(t, row(mia.get("/changes").body, fw.Number), "scheduled")

	r = mia.post("/changes/"+fw.ID+"/approve", url.Values{"group": {GroupChangeManagement}})
	assert.Contains(t, []int{http.StatusConflict, http.StatusUnprocessableEntity}, r.status, "a second decision is refused")
}

func TestDashboardShowsKPIs(t *testing.T) {
	d := newDesk(t)
	ann := d.as("ann")
	r := ann.get("/dashboard")
	require.Equal(t, http.StatusOK, r.status)
	assert.Regexp(t, `mttr\s+–\s+0`, text(r.body))
	assert.Contains(t, ann.get("/charts/mttr-by-priority.svg").body, ">No measurements yet<", "no measurement yet: the chart's empty state")

	id := d.seeded.Incident
	d.clock.Advance(20 * time.Minute)
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/take", nil).status)
	d.clock.Advance(100 * time.Minute)
	require.Equal(t, http.StatusSeeOther, ann.post("/incidents/"+id+"/resolve",
		url.Values{"resolution_code": {operation.ResolvedRemotely}, "resolution_notes": {"reset"}}).status)

	page := text(ann.get("/dashboard").body)
	assert.Contains(t, page, "mttr 2.00 h 1")
	assert.Contains(t, page, "mtta 0.33 h 1")
	assert.Contains(t, page, "sla compliance 100.0 % 2")
	for name := range charts {
		r := ann.get("/charts/" + name)
		require.Equal(t, http.StatusOK, r.status, name)
		assert.Contains(t, r.body, "<svg", name)
	}
}

func TestNewServerRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	_, err := NewServer(ctx, nil, Config{})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = NewServer(ctx, memory.New(), Config{Users: []User{{Title: "nobody"}}})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestClassifyNeverLeaksInternals(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"forbidden", &itsm.ForbiddenError{Actor: "carl", Kind: "incident", Action: "start", Reason: "no role grants incident:start"}, 403, "carl may not start incident"},
		{"transition", &itsm.TransitionError{Kind: "incident", Number: "INC0000001", From: "new", Event: "resume", Reason: "not allowed"}, 409, "resume"},
		{"validation", (&itsm.ValidationError{Kind: "incident"}).Add("impact", "must be 1..3"), 422, "impact"},
		{"not found", &itsm.NotFoundError{Kind: "incident", ID: "x"}, 404, "No such record."},
		{"conflict", &itsm.ConflictError{Kind: "incident", ID: "x"}, 409, "Someone changed this record"},
		{"anything else", errors.New("pq: connection refused at 10.0.0.7:5432 (/srv/app/db.go:42)"), 500, "Something went wrong on our side"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := classify(tc.err)
			assert.Equal(t, tc.status, status)
			assert.Contains(t, msg, tc.msg)
			assert.NotContains(t, msg, "10.0.0.7")
		})
	}
}

// TestConcurrentUse has callers raising incidents while agents read their
// queues and the dashboard: every request succeeds and every incident is
// counted once by the KPI engine.
func TestConcurrentUse(t *testing.T) {
	d := newDesk(t)
	const workers, each = 6, 8
	errs := make(chan error, workers)
	browsers := make([]*browser, workers)
	for w := range workers {
		browsers[w] = d.as([]string{"carl", "ann", "cora"}[w%3]) // log in before the goroutines: require stops only the test goroutine
	}
	for w, b := range browsers {
		go func() {
			var err error
			for i := range each {
				var r response
				switch w % 3 {
				case 1:
					if i%2 == 0 {
						r = b.get("/queue")
					} else {
						r = b.get("/dashboard")
					}
					if r.status != http.StatusOK {
						err = assert.AnError
					}
				default:
					r = b.post("/incidents", url.Values{"short_description": {"concurrent"}, "impact": {"3"}, "urgency": {"3"}})
					if r.status != http.StatusSeeOther {
						err = assert.AnError
					}
				}
			}
			errs <- err
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	page := text(d.as("ann").get("/dashboard").body)
	assert.Contains(t, page, "incident volume 33 33", "the seeded incident and 4×8 raised")
}

// testSession signs a session for user as the login would, for tests that
// drive the handler directly: the cookie and the session's CSRF token.
func (s *Server) testSession(user string) (*http.Cookie, string) {
	se := session{ID: "0123456789abcdef0123456789abcdef", User: user, Expires: s.clock.Now().Add(sessionTTL)}
	return &http.Cookie{Name: sessionCookie, Value: s.sign(se)}, s.csrfFor(se)
}

// caughtUp serves the portal as if its background consumers had caught up
// with the log before each page is read (CatchUp runs first), so what a
// page shows is deterministic.
func caughtUp(t *testing.T, srv *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if err := srv.CatchUp(context.Background()); err != nil {
				t.Errorf("catch up: %v", err)
			}
		}
		srv.ServeHTTP(w, r)
	})
}
