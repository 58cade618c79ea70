package main

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// calendarDays is how far the change calendar looks ahead (and back a day).
const calendarDays = 30

// calendarRow is one change on the calendar with what the change manager
// must see: freezes it falls into and the changes it collides with.
type calendarRow struct {
	Change     *transition.Change
	Freezes    []*transition.ChangeWindow
	Collisions []transition.Collision
	CIs        []string // names of the affected CIs
	CanApprove bool     // the viewer may decide for a requested group
	Groups     []string // the approval groups still waiting
}

type calendarData struct {
	From, To time.Time
	Windows  []*transition.ChangeWindow
	Rows     []calendarRow
}

// calendar shows the change calendar: the open changes planned in the next
// month by planned start, the freeze and maintenance windows, and for each
// change its freeze overlaps and collisions (same or connected CIs).
func (s *Server) calendar(w http.ResponseWriter, r *http.Request, u User) {
	ctx := r.Context()
	now := s.clock.Now().UTC()
	d := calendarData{From: now.Add(-24 * time.Hour), To: now.Add(calendarDays * 24 * time.Hour)}
	var err error
	for _, kind := range []string{transition.WindowFreeze, transition.WindowMaintenance} {
		ws, err := s.changes.Windows(ctx, kind, d.From, d.To)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		d.Windows = append(d.Windows, ws...)
	}
	changes, _, err := s.changes.Records().Query(ctx, storage.Query{Kind: transition.KindChange,
		Filters: []storage.Filter{
			storage.In("state", storage.String(transition.ChangeNew), storage.String(transition.ChangeAssess),
				storage.String(transition.ChangeAuthorize), storage.String(transition.ChangeScheduled), storage.String(transition.ChangeImplement)),
			storage.Lt("planned_start", storage.Time(d.To)),
		},
		Sort: []storage.Sort{{Field: "planned_start"}}, Limit: 100})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	for _, c := range changes {
		if !c.PlannedEnd.IsZero() && c.PlannedEnd.Before(d.From) {
			continue
		}
		row := calendarRow{Change: c}
		for _, win := range d.Windows {
			if win.WindowType == transition.WindowFreeze && win.Start.Before(c.PlannedEnd) && c.PlannedStart.Before(win.End) &&
				(win.ServiceID == "" || win.ServiceID == c.ServiceID || slices.Contains(c.ImpactedServices, win.ServiceID)) {
				row.Freezes = append(row.Freezes, win)
			}
		}
		if row.Collisions, err = s.changes.Collisions(ctx, c.ID, 1); err != nil {
			s.failErr(w, r, err)
			return
		}
		for _, id := range c.CIIDs {
			name := id
			if ci, err := s.cmdb.CI(ctx, id); err == nil {
				name = ci.Name
			}
			row.CIs = append(row.CIs, name)
		}
		if c.State == transition.ChangeAuthorize {
			for _, g := range c.Approvals {
				if g.Status == transition.ApprovalRequested {
					row.Groups = append(row.Groups, g.Group)
					if u.InGroup(g.Group) {
						row.CanApprove = true
					}
				}
			}
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "changes", page{Title: "Change calendar", Data: d})
}

// changeData is the change detail page.
type changeData struct {
	Change    *transition.Change
	CIs       []string
	Freezes   []*transition.ChangeWindow
	Groups    []string // approval groups the viewer may decide for now
	NotQueued string   // why an approved change was not scheduled
	Comment   string   // the comment typed into a refused decision
}

// showChange is a change's page: its plan, approvals with every decision
// and comment, and approve/reject forms for the groups the viewer may
// decide for.
func (s *Server) showChange(w http.ResponseWriter, r *http.Request, u User) {
	s.changePage(w, r, u, http.StatusOK, r.PathValue("id"), "", nil, "")
}

func (s *Server) changePage(w http.ResponseWriter, r *http.Request, u User, status int, id, msg string, fields map[string]string, comment string) {
	ctx := r.Context()
	c, err := s.changes.Get(ctx, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := changeData{Change: c, Comment: comment}
	for _, ci := range c.CIIDs {
		name := ci
		if x, err := s.cmdb.CI(ctx, ci); err == nil {
			name = x.Name
		}
		d.CIs = append(d.CIs, name)
	}
	if !c.PlannedStart.IsZero() {
		if d.Freezes, err = s.changes.Windows(ctx, transition.WindowFreeze, c.PlannedStart, c.PlannedEnd); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	if c.State == transition.ChangeAuthorize && c.Approval == transition.ApprovalRequested &&
		transition.SeparationOfDuties(ctx, itsm.AccessRequest{Actor: u.Actor, Record: c}) == "" {
		for _, g := range c.Approvals {
			if g.Status == transition.ApprovalRequested && u.InGroup(g.Group) &&
				!slices.ContainsFunc(g.Decisions, func(x transition.Decision) bool { return x.Approver == u.ID }) {
				d.Groups = append(d.Groups, g.Group)
			}
		}
	}
	if c.State == transition.ChangeAuthorize && c.Approval == transition.ApprovalApproved && len(d.Freezes) > 0 {
		loc := s.zoneOf(ctx, u)
		d.NotQueued = "Approved, but not scheduled: its planned window falls in the freeze \"" + d.Freezes[0].Name +
			"\" (" + d.Freezes[0].Start.In(loc).Format("2 Jan 15:04") + " to " + d.Freezes[0].End.In(loc).Format("2 Jan 15:04 MST") +
			"). Move the planned window out of the freeze, or raise it as an emergency change."
	}
	s.render(w, r, status, "change", page{Title: c.Number + " " + c.ShortDescription, Error: msg, Fields: fields, Data: d})
}

// approveChange records the viewer's approval for a group; a refusal (not a
// member, the requester, a second decision) is shown with its reason. When
// the approval completes it, the change is scheduled unless a freeze
// forbids it, which its page then explains.
func (s *Server) approveChange(w http.ResponseWriter, r *http.Request, u User) {
	ctx, id := r.Context(), r.PathValue("id")
	c, err := s.changes.Approve(ctx, id, r.PostForm.Get("group"), strings.TrimSpace(r.PostForm.Get("comment")), storage.Command{})
	if err != nil {
		s.changeRefused(w, r, u, id, err)
		return
	}
	if c.State == transition.ChangeAuthorize && c.Approval == transition.ApprovalApproved {
		// A freeze refuses the schedule: the approval stands, and the
		// change page says why it did not schedule.
		if _, err := s.changes.Fire(ctx, id, transition.ChangeEventSchedule, storage.Command{}, nil); err != nil && !errors.Is(err, itsm.ErrInvalidTransition) {
			s.changeRefused(w, r, u, id, err)
			return
		}
	}
	http.Redirect(w, r, "/changes/"+id, http.StatusSeeOther)
}

// rejectChange rejects the change for a group; a rejection needs a
// comment.
func (s *Server) rejectChange(w http.ResponseWriter, r *http.Request, u User) {
	ctx, id := r.Context(), r.PathValue("id")
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	if comment == "" {
		c, err := s.changes.Get(ctx, id)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if err := itsm.Authorize(ctx, s.az, transition.KindChange, transition.ActionReject, c); err != nil {
			s.failErr(w, r, err)
			return
		}
		s.changePage(w, r, u, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.",
			map[string]string{"comment": "Say why it is rejected; the requester reads this."}, "")
		return
	}
	if _, err := s.changes.Reject(ctx, id, r.PostForm.Get("group"), comment, storage.Command{}); err != nil {
		s.changeRefused(w, r, u, id, err)
		return
	}
	http.Redirect(w, r, "/changes/"+id, http.StatusSeeOther)
}

// changeRefused shows a refused decision on the change page when the
// viewer may read it, else the error page.
func (s *Server) changeRefused(w http.ResponseWriter, r *http.Request, u User, id string, err error) {
	status, msg := classify(err)
	if status == http.StatusConflict || status == http.StatusUnprocessableEntity {
		s.changePage(w, r, u, status, id, msg, fieldErrors(err), r.PostForm.Get("comment"))
		return
	}
	s.failErr(w, r, err)
}

// dashboardRange is the period the dashboard reports on, ending today.
const dashboardDays = 30

// charts are the dashboard's charts: a KPI query each, drawn by the
// improvement pillar.
var charts = map[string]struct {
	Title string
	Query improvement.Query
}{
	"mttr-by-priority.svg":  {"Mean time to resolve by priority (hours)", improvement.Query{KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByPriority}}},
	"incidents-per-day.svg": {"Incidents opened per day", improvement.Query{KPI: improvement.IncidentVolume, Period: improvement.PeriodDay}},
	"sla-by-priority.svg":   {"SLA compliance by priority (target dashed)", improvement.Query{KPI: improvement.SLACompliance, By: []improvement.Dimension{improvement.ByPriority}}},
}

type dashboardData struct {
	From, To time.Time
	Lines    []improvement.SummaryLine
	Charts   []chartRef
}

// chartRef is a dashboard chart; Empty when its KPI has no measurement
// yet, so the page shows a note instead of a broken image.
type chartRef struct {
	Name, Title string
	Empty       bool
}

func (s *Server) kpiRange() (time.Time, time.Time) {
	today := s.clock.Now().UTC().Truncate(24 * time.Hour)
	return today.AddDate(0, 0, -dashboardDays+1), today.AddDate(0, 0, 1)
}

// dashboard shows every KPI of the last month, computed by the improvement
// engine from the event log, with charts.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, _ User) {
	from, to := s.kpiRange()
	sum, err := s.kpi.Summary(from, to)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := dashboardData{From: from, To: to, Lines: sum.Lines}
	for _, name := range []string{"incidents-per-day.svg", "mttr-by-priority.svg", "sla-by-priority.svg"} {
		q := charts[name].Query
		q.From, q.To = from, to
		res, err := s.kpi.Compute(q)
		d.Charts = append(d.Charts, chartRef{Name: name, Title: charts[name].Title, Empty: err != nil || len(res.Rows) == 0})
	}
	s.render(w, r, http.StatusOK, "dashboard", page{Title: "KPI dashboard", Data: d})
}

// chart serves one of the dashboard's charts as SVG, drawn by the
// improvement pillar; a KPI without measurements yet draws its empty state.
func (s *Server) chart(w http.ResponseWriter, r *http.Request, _ User) {
	c, ok := charts[r.PathValue("name")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "No such chart.")
		return
	}
	q := c.Query
	q.From, q.To = s.kpiRange()
	res, err := s.kpi.Compute(q)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := drawChart(&buf, res, c.Title); err != nil {
		s.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
