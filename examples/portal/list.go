package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// Paging of the lists: perPage rows a page, read scanStep at a time up to
// the page asked for; pages go up to maxPage (the store counts the rest:
// Records.Count, one count(*) on the SQL stores).
const (
	perPage  = 50
	maxPage  = 200
	scanStep = 500
)

// listFilter is what a list page is asked for: the query string of
// /incidents, kept in the links of its pages and sort headers.
type listFilter struct {
	State    string // a state, "open", "done" (resolved, closed, canceled) or "" for all
	Priority string // "1".."5" or ""
	Group    string
	Assignee string // a user id, "me", "none" (unassigned) or ""
	Mine     bool   // the caller's own (raised by me)
	Sort     string // one of sortOrders' keys
	Page     int    // 1-based
}

// sortOrders are the list's sort choices, each a store sort with the id as
// the final tie-break (the store adds it).
var sortOrders = map[string]struct {
	Label string
	Sort  []storage.Sort
}{
	"newest":   {"Newest first", []storage.Sort{{Field: "created_at", Desc: true}}},
	"oldest":   {"Oldest first", []storage.Sort{{Field: "created_at"}}},
	"priority": {"Priority", []storage.Sort{{Field: "priority"}, {Field: "created_at"}}},
	"updated":  {"Recently updated", []storage.Sort{{Field: "updated_at", Desc: true}}},
}

// sortKeys is the order the sort choices are offered in.
var sortKeys = []string{"newest", "oldest", "priority", "updated"}

// parseFilter reads a list's query string; unknown values fall back to the
// defaults rather than failing (a list link typed by hand still lists).
func parseFilter(q url.Values, m *itsm.Machine[*operation.Incident]) (listFilter, map[string]string) {
	f := listFilter{State: q.Get("state"), Priority: q.Get("priority"), Group: q.Get("group"),
		Assignee: q.Get("assignee"), Mine: q.Get("mine") == "1", Sort: q.Get("sort"), Page: 1}
	problems := map[string]string{}
	if f.State != "" && f.State != "open" && f.State != "done" && !m.HasState(f.State) {
		problems["state"] = "Choose one of the listed states."
		f.State = ""
	}
	if p, err := strconv.Atoi(f.Priority); f.Priority != "" && (err != nil || p < 1 || p > 5) {
		problems["priority"] = "Choose a priority from 1 to 5."
		f.Priority = ""
	}
	if _, ok := sortOrders[f.Sort]; !ok {
		f.Sort = "newest"
	}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 && p <= maxPage {
		f.Page = p
	}
	return f, problems
}

// values returns the filter as a query string, with a page.
func (f listFilter) query(page int) string {
	v := url.Values{}
	set := func(k, x string) {
		if x != "" {
			v.Set(k, x)
		}
	}
	set("state", f.State)
	set("priority", f.Priority)
	set("group", f.Group)
	set("assignee", f.Assignee)
	if f.Mine {
		v.Set("mine", "1")
	}
	if f.Sort != "newest" {
		set("sort", f.Sort)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return v.Encode()
}

// openStates returns the incident states the desk's policy counts as open
// (open true) or as done (false).
func (s *Server) openStates(open bool) []storage.Value {
	var out []storage.Value
	for _, st := range s.desk.Incidents().Machine().States() {
		if s.desk.IsOpen(openProbe(st)) == open {
			out = append(out, storage.String(st))
		}
	}
	return out
}

// storeQuery turns the filter into the store's query for user u.
func (s *Server) storeQuery(f listFilter, u User) storage.Query {
	q := storage.Query{Kind: operation.KindIncident, Sort: sortOrders[f.Sort].Sort}
	switch f.State {
	case "":
	case "open":
		q.Filters = append(q.Filters, storage.In("state", s.openStates(true)...))
	case "done":
		q.Filters = append(q.Filters, storage.In("state", s.openStates(false)...))
	default:
		q.Filters = append(q.Filters, storage.Eq("state", storage.String(f.State)))
	}
	if p, err := strconv.Atoi(f.Priority); err == nil {
		q.Filters = append(q.Filters, storage.Eq("priority", storage.Int(int64(p))))
	}
	if f.Group != "" {
		q.Filters = append(q.Filters, storage.Eq("assignment_group", storage.String(f.Group)))
	}
	switch f.Assignee {
	case "":
	case "me":
		q.Filters = append(q.Filters, storage.Eq("assigned_to", storage.String(u.ID)))
	case "none":
		q.Filters = append(q.Filters, storage.Eq("assigned_to", storage.String("")))
	default:
		q.Filters = append(q.Filters, storage.Eq("assigned_to", storage.String(f.Assignee)))
	}
	if f.Mine || !u.IsAgent() {
		// A caller's list is what they raised (the desk would hand them
		// nothing else anyway).
		q.Filters = append(q.Filters, storage.Eq("caller_id", storage.String(u.ID)))
	}
	return q
}

// pageOf reads the rows of the 1-based page, walking the query's results
// only up to that page, and asks count how many there are in all.
func pageOf[P any](ctx context.Context, query func(storage.Query) ([]P, string, error), count func(storage.Query) (int, error),
	q storage.Query, page int) (rows []P, total int, err error) {
	from := (page - 1) * perPage
	walk := q
	walk.Limit = scanStep
	for seen := 0; ; {
		recs, next, err := query(walk)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range recs {
			if seen >= from && seen < from+perPage {
				rows = append(rows, r)
			}
			seen++
		}
		if next == "" || seen >= from+perPage {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		walk.Cursor = next
	}
	total, err = count(q)
	return rows, total, err
}

// row is one incident of a list with what a person reads about it.
type row struct {
	Inc      *operation.Incident
	Assignee string
	SLA      *slaInfo // the most pressing running clock, or nil
	// Escalated lists the escalation rules that fired on the incident, as
	// people read them ("SLA warning"), flagged next to the countdown.
	Escalated []string
}

// slaInfo is a clock's countdown as the queue shows it.
type slaInfo struct {
	Name     string
	Left     string // "42 min left", "breached 1 h 5 min ago"
	Breached bool
	Soon     bool // within the breach window
}

// rows decorates incidents with names and SLA countdowns.
func (s *Server) rows(ctx context.Context, incs []*operation.Incident) []row {
	now := s.clock.Now()
	out := make([]row, 0, len(incs))
	for _, inc := range incs {
		r := row{Inc: inc, Assignee: s.name(inc.AssignedTo)}
		for _, e := range inc.Escalations {
			r.Escalated = append(r.Escalated, escalationLabel(e))
		}
		if s.desk.IsOpen(inc) {
			clocks, err := s.sla.ClocksOf(ctx, inc.ID)
			if err != nil {
				s.logger.Printf("portal: clocks of %s: %v", inc.Number, err)
			}
			r.SLA = countdown(clocks, now, s.within)
		}
		out = append(out, r)
	}
	return out
}

// countdown picks the clock a person must act on first: a breached one,
// else the running one due soonest.
func countdown(clocks []*design.SLAClock, now time.Time, within time.Duration) *slaInfo {
	var best *design.SLAClock
	for _, c := range clocks {
		if c.DueAt.IsZero() && !c.Breached {
			continue
		}
		if !c.StopTime.IsZero() && !c.Breached {
			continue
		}
		switch {
		case best == nil:
			best = c
		case c.Breached && !best.Breached:
			best = c
		case c.Breached == best.Breached && !c.DueAt.IsZero() && (best.DueAt.IsZero() || c.DueAt.Before(best.DueAt)):
			best = c
		}
	}
	if best == nil {
		return nil
	}
	name := strings.TrimPrefix(best.DefinitionID, "incident-")
	if best.Breached || (!best.DueAt.IsZero() && !best.DueAt.After(now)) {
		at := best.BreachedAt
		if at.IsZero() {
			at = best.DueAt
		}
		return &slaInfo{Name: name, Breached: true, Left: "breached " + human(now.Sub(at)) + " ago"}
	}
	left := best.DueAt.Sub(now)
	return &slaInfo{Name: name, Left: human(left) + " left", Soon: left <= within}
}

// human writes a duration as a person reads it: "3 d 4 h", "1 h 5 min",
// "42 min", "under a minute".
func human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}

// option is one choice of a filter's select.
type option struct{ Value, Label string }

// listData is what the list template receives.
type listData struct {
	Filter   listFilter
	Rows     []row
	From, To int    // 1-based positions of the page's rows
	Total    string // "2,143" or "10,000+"
	Empty    bool
	Prev     string // link of the previous page, or ""
	Next     string
	Base     string // the list's path
	States   []option
	Groups   []option
	People   []option
	Sorts    []option
	Caption  string
}

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// listIncidents serves /incidents: the incidents the viewer may read,
// filtered, sorted and paged.
func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, u User) {
	f, problems := parseFilter(r.URL.Query(), s.desk.Incidents().Machine())
	d, err := s.incidentList(r, u, f, "/incidents")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	title := "Incidents"
	if !u.IsAgent() || f.Mine {
		title = "My incidents"
	}
	status, msg := http.StatusOK, ""
	if len(problems) > 0 {
		status, msg = http.StatusUnprocessableEntity, "Some filters were not understood and are left out."
	}
	s.render(w, r, status, "list", page{Title: title, Error: msg, Fields: problems, Data: d})
}

// incidentList runs a filtered list for user u.
func (s *Server) incidentList(r *http.Request, u User, f listFilter, base string) (listData, error) {
	ctx := r.Context()
	incidents := s.desk.Incidents()
	recs, total, err := pageOf(ctx, func(q storage.Query) ([]*operation.Incident, string, error) {
		return incidents.Query(ctx, q)
	}, func(q storage.Query) (int, error) { return incidents.Count(ctx, q) }, s.storeQuery(f, u), f.Page)
	if err != nil {
		return listData{}, err
	}
	d := listData{Filter: f, Rows: s.rows(ctx, recs), Total: thousands(total), Base: base, Empty: total == 0}
	if len(recs) > 0 {
		d.From = (f.Page-1)*perPage + 1
		d.To = d.From + len(recs) - 1
	}
	if f.Page > 1 {
		d.Prev = base + "?" + f.query(f.Page-1)
	}
	if f.Page*perPage < total && f.Page < maxPage {
		d.Next = base + "?" + f.query(f.Page+1)
	}
	d.States = []option{{"", "Any state"}, {"open", "Open"}, {"done", "Done (resolved, closed, canceled)"}}
	for _, st := range s.desk.Incidents().Machine().States() {
		d.States = append(d.States, option{st, stateLabel(st)})
	}
	d.Groups = []option{{"", "Any group"}}
	groups := map[string]bool{}
	for _, x := range s.users {
		for _, g := range x.Groups {
			groups[g] = true
		}
	}
	for _, g := range slices.Sorted(mapsKeys(groups)) {
		d.Groups = append(d.Groups, option{g, groupLabel(g)})
	}
	d.People = []option{{"", "Anyone"}, {"me", "Me"}, {"none", "Unassigned"}}
	for _, x := range s.users {
		if x.IsAgent() {
			d.People = append(d.People, option{x.ID, x.Name})
		}
	}
	for _, k := range sortKeys {
		d.Sorts = append(d.Sorts, option{k, sortOrders[k].Label})
	}
	return d, nil
}

// mapsKeys returns a set's members.
func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// stateLabel is the human label of a lifecycle state: "in_progress" reads
// "In progress".
func stateLabel(st string) string {
	if st == "" {
		return ""
	}
	st = strings.ReplaceAll(st, "_", " ")
	return strings.ToUpper(st[:1]) + st[1:]
}

// groupLabel is the human name of an assignment group.
func groupLabel(g string) string {
	switch g {
	case GroupServiceDesk:
		return "Service desk"
	case GroupNetwork:
		return "Network"
	case GroupChangeManagement:
		return "Change management"
	}
	return stateLabel(g)
}

// openProbe is an incident in state st, to ask the desk's policy whether
// the state is open.
func openProbe(st string) *operation.Incident {
	inc := &operation.Incident{}
	inc.State = st
	return inc
}
