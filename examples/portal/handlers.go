package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// routes declares every page and form of the portal.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("GET /app.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(appJS)
	})
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("GET /{$}", s.authed(s.home))
	m.HandleFunc("GET /my", s.authed(s.myTickets))
	m.HandleFunc("GET /incidents", s.authed(s.listIncidents))
	m.HandleFunc("GET /incidents/new", s.authed(s.newIncident))
	m.HandleFunc("POST /incidents", s.authed(s.raiseIncident))
	m.HandleFunc("GET /incidents/{id}", s.authed(s.showIncident))
	m.HandleFunc("POST /incidents/{id}/attachments", s.authed(s.attachTo(operation.KindIncident)))
	m.HandleFunc("POST /requests/{id}/attachments", s.authed(s.attachTo(operation.KindRequest)))
	m.HandleFunc("GET /attachments/{id}", s.authed(s.download))
	m.HandleFunc("POST /incidents/{id}/{action}", s.authed(s.incidentAction))
	m.HandleFunc("GET /queue", s.authed(s.queue))
	m.HandleFunc("GET /catalog", s.authed(s.catalogPage))
	m.HandleFunc("GET /catalog/{id}", s.authed(s.itemPage))
	m.HandleFunc("POST /catalog/{id}", s.authed(s.order))
	m.HandleFunc("GET /requests/{id}", s.authed(s.showRequest))
	m.HandleFunc("POST /tasks/{id}/{action}", s.authed(s.taskAction))
	m.HandleFunc("POST /requests/{id}/cancel", s.authed(s.cancelRequest))
	m.HandleFunc("GET /changes/{id}", s.authed(s.showChange))
	m.HandleFunc("POST /changes/{id}/reject", s.authed(s.rejectChange))
	m.HandleFunc("GET /changes", s.authed(s.calendar))
	m.HandleFunc("POST /changes/{id}/approve", s.authed(s.approveChange))
	m.HandleFunc("GET /search", s.authed(s.searchPage))
	m.HandleFunc("GET /knowledge/suggest", s.authed(s.suggestJSON))
	m.HandleFunc("GET /knowledge/{id}", s.authed(s.showArticle))
	m.HandleFunc("GET /notifications", s.authed(s.notifications))
	m.HandleFunc("GET /profile", s.authed(s.profilePage))
	m.HandleFunc("POST /profile", s.authed(s.saveProfileForm))
	m.HandleFunc("GET /dashboard", s.authed(s.dashboard))
	m.HandleFunc("GET /charts/{name}", s.authed(s.chart))
	s.mux = m
}

// --- login stand-in: a user picker in place of the host's single sign-on ---

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", page{Title: "Log in", Data: s.users})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	u, ok := s.byID[r.PostForm.Get("user")]
	if !ok {
		s.render(w, r, http.StatusUnprocessableEntity, "login", page{Title: "Log in", Data: s.users,
			Fields: map[string]string{"user": "choose one of the listed users"}})
		return
	}
	// A new session id on login: a session fixed before login is worthless.
	s.startSession(w, r, u.ID)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, u User) {
	switch {
	case u.IsChangeManager():
		http.Redirect(w, r, "/changes", http.StatusSeeOther)
	case u.IsAgent():
		http.Redirect(w, r, "/queue", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/my", http.StatusSeeOther)
	}
}

// --- caller: my tickets, raise an incident ---

// myData is the caller's page: their open incidents, paged like every
// list, and their requests.
type myData struct {
	listData
	Requests []*operation.Request
}

func (s *Server) myTickets(w http.ResponseWriter, r *http.Request, u User) {
	ctx := r.Context()
	f, problems := parseFilter(r.URL.Query(), s.desk.Incidents().Machine())
	if r.URL.Query().Get("state") == "" {
		f.State = "open"
	}
	f.Mine = true
	list, err := s.incidentList(r, u, f, "/my")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	reqs, _, err := s.desk.Requests().Query(ctx, storage.Query{Kind: operation.KindRequest,
		Filters: []storage.Filter{storage.Eq("requested_for", storage.String(u.ID))},
		Sort:    []storage.Sort{{Field: "created_at", Desc: true}}, Limit: 50})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "my", page{Title: "My tickets", Fields: problems, Data: myData{list, reqs}})
}

type incidentForm struct {
	ShortDescription, Description, Impact, Urgency, ServiceID, Category string
	Services                                                            []*design.Service
	// Seen is "1" once the caller was shown the articles for the title
	// (by the similar-articles step, or live by app.js): the next post
	// raises the incident.
	Seen        string
	Suggestions []suggestion
	Step        bool // the similar-articles step: the form shown again with them
}

func (s *Server) services(r *http.Request) []*design.Service {
	svcs, _, err := s.cat.ServicesIn(r.Context(), design.ServiceCatalogue, storage.Paging{Limit: 100})
	if err != nil {
		s.logger.Printf("portal: services: %v", err)
	}
	return svcs
}

func (s *Server) newIncident(w http.ResponseWriter, r *http.Request, _ User) {
	s.render(w, r, http.StatusOK, "incident_new", page{Title: "Raise an incident",
		Data: incidentForm{Impact: "3", Urgency: "3", Services: s.services(r)}})
}

func (s *Server) raiseIncident(w http.ResponseWriter, r *http.Request, u User) {
	f := r.PostForm
	form := incidentForm{ShortDescription: f.Get("short_description"), Description: f.Get("description"),
		Impact: f.Get("impact"), Urgency: f.Get("urgency"), ServiceID: f.Get("service_id"), Category: f.Get("category"),
		Seen: f.Get("seen_articles")}
	fields := map[string]string{}
	impact, err := strconv.Atoi(form.Impact)
	if err != nil || impact < 1 || impact > 3 {
		fields["impact"] = "choose 1 (high), 2 (medium) or 3 (low)"
	}
	urgency, err := strconv.Atoi(form.Urgency)
	if err != nil || urgency < 1 || urgency > 3 {
		fields["urgency"] = "choose 1 (high), 2 (medium) or 3 (low)"
	}
	inc := &operation.Incident{ShortDescription: form.ShortDescription, Description: form.Description,
		Impact: impact, Urgency: urgency, Category: form.Category, ContactType: "self_service",
		AssignmentGroup: GroupServiceDesk}
	if form.ServiceID != "" {
		svc, err := s.cat.Services().Get(r.Context(), form.ServiceID)
		if err != nil {
			fields["service_id"] = "choose one of the listed services"
		} else {
			inc.ServiceID, inc.AssignmentGroup = svc.ID, svc.SupportGroup
		}
	}
	if strings.TrimSpace(form.ShortDescription) == "" {
		fields["short_description"] = "say in a few words what is wrong"
	}
	if len(fields) == 0 && form.Seen != "1" {
		// The similar-articles step: articles that may answer the title
		// are shown before the incident is raised (once).
		sug, serr := s.suggest(r.Context(), form.ShortDescription)
		if serr != nil {
			s.logger.Printf("portal: suggestions: %v", serr)
		}
		if len(sug) > 0 {
			form.Services, form.Suggestions, form.Step, form.Seen = s.services(r), sug, true, "1"
			s.render(w, r, http.StatusOK, "incident_new", page{Title: "Raise an incident", Data: form})
			return
		}
	}
	if len(fields) == 0 {
		err = s.desk.OpenIncident(r.Context(), inc, storage.Command{})
		if err == nil {
			http.Redirect(w, r, "/incidents/"+inc.ID, http.StatusSeeOther)
			return
		}
		fields = fieldErrors(err)
		if fields == nil {
			s.failErr(w, r, err)
			return
		}
	}
	form.Services = s.services(r)
	s.render(w, r, http.StatusUnprocessableEntity, "incident_new", page{Title: "Raise an incident",
		Error: "Please correct the fields marked below.", Fields: fields, Data: form})
}

// --- incident page and the agent's actions ---

type incidentData struct {
	Inc             *operation.Incident
	Caller          string
	Assignee        string
	Clocks          []*design.SLAClock
	History         []itsm.Event
	HoldReasons     []string
	ResolutionCodes []string
	Service         string
	Files           []*storage.Attachment
	Can             map[string]bool   // the commands offered: the lifecycle allows them from the state and the viewer may
	Form            map[string]string // what the viewer typed into a refused form, shown again
	TakeOver        string            // who holds it, when a take was refused because someone else does
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request, status int, id, msg string, fields map[string]string, form map[string]string) {
	ctx := r.Context()
	// The desk hands the incident only to who may read it: its caller, the
	// agents of its group (or of any group while unassigned), managers.
	inc, err := s.desk.Incidents().Get(ctx, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := incidentData{Form: form, Inc: inc, Caller: s.name(inc.CallerID), Assignee: s.name(inc.AssignedTo),
		HoldReasons: []string{operation.HoldAwaitingCaller, operation.HoldAwaitingChange, operation.HoldAwaitingProblem, operation.HoldAwaitingVendor},
		ResolutionCodes: []string{operation.ResolvedPermanently, operation.ResolvedWorkaround, operation.ResolvedRemotely,
			operation.NotSolvedNotReproducible, operation.NotSolvedTooCostly}}
	if d.Clocks, err = s.sla.ClocksOf(ctx, inc.ID); err != nil {
		s.failErr(w, r, err)
		return
	}
	if d.History, err = s.desk.Incidents().History(ctx, inc.ID); err != nil {
		s.failErr(w, r, err)
		return
	}
	if inc.ServiceID != "" {
		if svc, err := s.cat.Services().Get(ctx, inc.ServiceID); err == nil {
			d.Service = svc.Name
		}
	}
	d.Can = s.offered(ctx, inc)
	if d.Files, _, err = s.files.List(ctx, operation.KindIncident, inc.ID, storage.Paging{Limit: 50}); err != nil {
		s.failErr(w, r, err)
		return
	}
	if d.Form == nil {
		d.Form = map[string]string{}
	}
	if status == http.StatusConflict && inc.AssignedTo != "" {
		d.TakeOver = d.Assignee
	}
	s.render(w, r, status, "incident", page{Title: inc.Number + " " + inc.ShortDescription, Error: msg, Fields: fields, Data: d})
}

func (s *Server) name(id string) string {
	if u, ok := s.byID[id]; ok {
		return u.Name
	}
	return id
}

func (s *Server) showIncident(w http.ResponseWriter, r *http.Request, _ User) {
	s.incidentPage(w, r, http.StatusOK, r.PathValue("id"), "", nil, nil)
}

// incidentCommands are the commands the incident page can offer, each
// the lifecycle event it fires (take is assign-and-start).
var incidentCommands = []string{operation.EventStart, operation.EventHold, operation.EventResume, operation.EventResolve,
	operation.EventReopen, operation.EventClose, operation.EventCancel}

// offered returns the commands the page shows for the viewer: those the
// lifecycle allows from the incident's state (Machine.Available) that the
// authorizer grants the viewer on this incident. Take is offered to an
// agent of the incident's group while it is open and not theirs.
func (s *Server) offered(ctx context.Context, inc *operation.Incident) map[string]bool {
	can := map[string]bool{}
	avail := s.desk.Incidents().Machine().Available(inc.State)
	for _, ev := range incidentCommands {
		if slices.Contains(avail, ev) && itsm.Authorize(ctx, s.az, operation.KindIncident, ev, inc) == nil {
			can[ev] = true
		}
	}
	a, _ := itsm.ActorFrom(ctx)
	if s.desk.IsOpen(inc) && inc.AssignedTo != a.ID && a.HasRole("agent") &&
		itsm.Authorize(ctx, s.az, operation.KindIncident, itsm.ActionUpdate, inc) == nil {
		can["take"] = true
	}
	if inc.State == operation.StateNew && inc.AssignedTo != a.ID {
		delete(can, operation.EventStart) // a new incident is taken, not started by a bystander
	}
	return can
}

// incidentAction runs one of the agent's (or the caller's) commands on an
// incident. A refusal re-renders the incident with the lifecycle's reason
// (409), the field problems (422) or the authoriser's message (403).
func (s *Server) incidentAction(w http.ResponseWriter, r *http.Request, u User) {
	ctx, id, f := r.Context(), r.PathValue("id"), r.PostForm
	cmd := storage.Command{Reason: strings.TrimSpace(f.Get("reason"))}
	form := map[string]string{}
	for _, k := range []string{"hold_reason", "reason", "resolution_code", "resolution_notes", "text", "cancel_reason", "reopen_reason"} {
		form[k] = f.Get(k)
	}
	// Refusals a person can fix are caught before the desk is asked, in
	// their words, with the field marked.
	fields := map[string]string{}
	var err error
	switch action := r.PathValue("action"); action {
	case "take":
		// One unit of work: assigned to the taker and started, or refused
		// (someone else holds it: the page offers to take it over).
		// The desk checks the taker's group before the actor's rights, so
		// a caller's take would read as a bad assignee: ask the authorizer
		// first.
		var inc *operation.Incident
		if inc, err = s.desk.Incidents().Get(ctx, id); err != nil {
			break
		}
		if err = itsm.Authorize(ctx, s.az, operation.KindIncident, itsm.ActionUpdate, inc); err != nil {
			break
		}
		_, err = s.desk.TakeIncident(ctx, id, f.Get("reassign") == "1", cmd)
	case "start":
		_, err = s.desk.StartIncident(ctx, id, cmd)
	case "hold":
		if f.Get("hold_reason") == "" {
			fields["hold_reason"] = "Choose a hold reason."
			break
		}
		_, err = s.desk.HoldIncident(ctx, id, f.Get("hold_reason"), cmd)
	case "resume":
		_, err = s.desk.ResumeIncident(ctx, id, cmd)
	case "resolve":
		if f.Get("resolution_code") == "" {
			fields["resolution_code"] = "Choose how it was resolved."
		}
		if strings.TrimSpace(f.Get("resolution_notes")) == "" {
			fields["resolution_notes"] = "Say what fixed it; the caller reads this."
		}
		if len(fields) > 0 {
			break
		}
		_, err = s.desk.ResolveIncident(ctx, id, f.Get("resolution_code"), f.Get("resolution_notes"), cmd)
	case "close":
		_, err = s.desk.CloseIncident(ctx, id, cmd)
	case "reopen":
		cmd.Reason = strings.TrimSpace(f.Get("reopen_reason"))
		if cmd.Reason == "" {
			fields["reopen_reason"] = "Say what is still wrong."
			break
		}
		_, err = s.desk.ReopenIncident(ctx, id, cmd)
	case "cancel":
		cmd.Reason = strings.TrimSpace(f.Get("cancel_reason"))
		if cmd.Reason == "" {
			fields["cancel_reason"] = "Say why it is no longer needed."
			break
		}
		_, err = s.desk.CancelIncident(ctx, id, cmd)
	case "comment":
		_, err = s.desk.AddComment(ctx, id, f.Get("text"), storage.Command{})
	case "work_note":
		_, err = s.desk.AddWorkNote(ctx, id, f.Get("text"), storage.Command{})
	default:
		s.fail(w, r, http.StatusNotFound, "No such action.")
		return
	}
	if len(fields) > 0 {
		// The viewer must still be allowed to see the incident and do this:
		// a caller's empty hold form is a 403, not advice on hold reasons.
		inc, gerr := s.desk.Incidents().Get(ctx, id)
		if gerr != nil {
			s.failErr(w, r, gerr)
			return
		}
		if !s.offered(ctx, inc)[r.PathValue("action")] {
			if aerr := itsm.Authorize(ctx, s.az, operation.KindIncident, r.PathValue("action"), inc); aerr != nil {
				s.failErr(w, r, aerr)
				return
			}
		}
		s.incidentPage(w, r, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.", fields, form)
		return
	}
	if err == nil {
		http.Redirect(w, r, "/incidents/"+id, http.StatusSeeOther)
		return
	}
	status, msg := classify(err)
	if r.PathValue("action") == "take" && errors.Is(err, itsm.ErrConflict) {
		if inc, gerr := s.desk.Incidents().Get(ctx, id); gerr == nil && inc.AssignedTo != "" && inc.AssignedTo != u.ID {
			msg = s.name(inc.AssignedTo) + " is already working on this incident. Take it over only if you agreed with them."
		}
	}
	switch status {
	case http.StatusConflict, http.StatusUnprocessableEntity:
		s.incidentPage(w, r, status, id, msg, fieldErrors(err), form)
	default:
		s.failErr(w, r, err)
	}
}

// --- agent queues ---

type queueData struct {
	Unassigned, Mine, Breaching []row
	Within                      time.Duration
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request, u User) {
	ctx := r.Context()
	if !u.IsAgent() {
		s.fail(w, r, http.StatusForbidden, "forbidden: "+u.ID+" has no agent queues (the agent role is needed)")
		return
	}
	var d queueData
	d.Within = s.within
	for _, q := range []struct {
		into *[]row
		get  func() ([]*operation.Incident, string, error)
	}{
		{&d.Unassigned, func() ([]*operation.Incident, string, error) {
			return s.desk.UnassignedInMyGroups(ctx, storage.Paging{Limit: perPage})
		}},
		{&d.Mine, func() ([]*operation.Incident, string, error) {
			return s.desk.MyOpenIncidents(ctx, storage.Paging{Limit: perPage})
		}},
		{&d.Breaching, func() ([]*operation.Incident, string, error) {
			return s.desk.BreachingSoonInMyGroups(ctx, s.within, storage.Paging{Limit: perPage})
		}},
	} {
		incs, _, err := q.get()
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		*q.into = s.rows(ctx, incs)
	}
	s.render(w, r, http.StatusOK, "queue", page{Title: "My queues", Data: d})
}

// --- catalogue and requests ---

func (s *Server) catalogPage(w http.ResponseWriter, r *http.Request, _ User) {
	// Every published item, by category and name, on the catalogue's index.
	items, _, err := s.cat.PublishedItems(r.Context(), "", storage.Paging{Limit: 100})
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	items = slices.DeleteFunc(items, func(it *design.CatalogItem) bool { return s.cat.Orderable(r.Context(), it.ID) != nil })
	s.render(w, r, http.StatusOK, "catalog", page{Title: "Service catalogue", Data: items})
}

type itemData struct {
	Item   *design.CatalogItem
	Values map[string]string
}

func (s *Server) itemPage(w http.ResponseWriter, r *http.Request, _ User) {
	it, err := s.cat.Items().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "item", page{Title: "Order " + it.Name, Data: itemData{it, map[string]string{}}})
}

func (s *Server) order(w http.ResponseWriter, r *http.Request, _ User) {
	ctx := r.Context()
	it, err := s.cat.Items().Get(ctx, r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	values := map[string]string{}
	for _, fld := range it.Fields {
		if v := strings.TrimSpace(r.PostForm.Get(fld.Name)); v != "" {
			values[fld.Name] = v
		}
	}
	// The desk validates the answers through the catalogue and keeps them
	// as the request's variables.
	req := &operation.Request{CatalogItemID: it.ID, ShortDescription: it.Name, Variables: values}
	if err = s.desk.SubmitRequest(ctx, req, storage.Command{}); err == nil {
		http.Redirect(w, r, "/requests/"+req.ID, http.StatusSeeOther)
		return
	}
	fields := fieldErrors(err)
	if fields == nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusUnprocessableEntity, "item", page{Title: "Order " + it.Name,
		Error: "Please correct the fields marked below.", Fields: fields, Data: itemData{it, values}})
}

type requestData struct {
	Req     *operation.Request
	Answers []answer
	Tasks   []taskRow
	Fields  map[string]string       // task id -> problem
	Notes   map[string]string       // task id -> typed notes
	Cancel  bool                    // the viewer may cancel the request
	Waiting []operation.PlannedTask // planned tasks of later stages, not yet created
	Files   []*storage.Attachment   // the request's attachments
	Open    bool                    // not closed: files may still be attached
}

// answer is one of the request's variables with its question's label.
type answer struct{ Label, Value string }

// answers lists the request's variables in the order of the item's form,
// labelled by its questions; a variable the form no longer asks is shown by
// name after them.
func (s *Server) answers(r *http.Request, req *operation.Request) []answer {
	var out []answer
	seen := map[string]bool{}
	if it, err := s.cat.Items().Get(r.Context(), req.CatalogItemID); err == nil {
		for _, f := range it.Fields {
			if v, ok := req.Variables[f.Name]; ok {
				out = append(out, answer{f.Label, v})
				seen[f.Name] = true
			}
		}
	}
	var rest []string
	for name := range req.Variables {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		out = append(out, answer{name, req.Variables[name]})
	}
	return out
}

// taskRow is a fulfilment task with the commands its state allows the
// viewer.
type taskRow struct {
	*operation.RequestTask
	Can map[string]bool
}

func (s *Server) showRequest(w http.ResponseWriter, r *http.Request, _ User) {
	s.requestPage(w, r, http.StatusOK, r.PathValue("id"), "", nil, nil)
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request, status int, id, msg string, fields, notes map[string]string) {
	ctx := r.Context()
	// The desk hands a caller only the requests made for them.
	req, err := s.desk.Requests().Get(ctx, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	d := requestData{Req: req, Answers: s.answers(r, req), Waiting: req.Plan[min(len(req.TaskIDs), len(req.Plan)):],
		Fields: fields, Notes: notes}
	rm := s.desk.Requests().Machine()
	d.Open = !rm.IsFinal(req.State)
	if d.Files, _, err = s.files.List(ctx, operation.KindRequest, req.ID, storage.Paging{Limit: 50}); err != nil {
		s.failErr(w, r, err)
		return
	}
	d.Cancel = slices.Contains(rm.Available(req.State), operation.EventCancel) &&
		itsm.Authorize(ctx, s.az, operation.KindRequest, operation.EventCancel, req) == nil
	tm := s.desk.RequestTasks().Machine()
	for _, tid := range req.TaskIDs {
		t, err := s.desk.RequestTasks().Get(ctx, tid)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		row := taskRow{RequestTask: t, Can: map[string]bool{}}
		a, _ := itsm.ActorFrom(ctx)
		if a.HasRole("agent") && (t.AssignmentGroup == "" || a.InGroup(t.AssignmentGroup)) {
			for _, ev := range tm.Available(t.State) {
				if itsm.Authorize(ctx, s.az, operation.KindRequestTask, ev, t) == nil {
					row.Can[ev] = true
				}
			}
		}
		d.Tasks = append(d.Tasks, row)
	}
	s.render(w, r, status, "request", page{Title: req.Number + " " + req.ShortDescription, Error: msg, Data: d})
}

// notifications shows the viewer's in-app notifications, newest first,
// delivered by the notifications consumer from the event stream.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request, u User) {
	notes, err := s.inbox.of(r.Context(), u.ID)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "notifications", page{Title: "Notifications", Data: notes})
}

// taskAction works a fulfilment task: start it, complete it or close it
// incomplete (both with notes); completing the last task of a stage starts
// the next, and the last stage completes the request.
func (s *Server) taskAction(w http.ResponseWriter, r *http.Request, _ User) {
	ctx, id := r.Context(), r.PathValue("id")
	t, err := s.desk.RequestTasks().Get(ctx, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	notes := strings.TrimSpace(r.PostForm.Get("notes"))
	switch r.PathValue("action") {
	case "start":
		_, err = s.desk.StartTask(ctx, id, storage.Command{})
	case "complete", "close_incomplete":
		if notes == "" {
			if aerr := itsm.Authorize(ctx, s.az, operation.KindRequestTask, operation.EventComplete, t); aerr != nil {
				s.failErr(w, r, aerr)
				return
			}
			s.requestPage(w, r, http.StatusUnprocessableEntity, t.RequestID, "Please correct the fields marked below.",
				map[string]string{id: "Say what was done; the requester reads this."}, map[string]string{id: notes})
			return
		}
		if r.PathValue("action") == "complete" {
			_, err = s.desk.CompleteTask(ctx, id, notes, storage.Command{})
		} else {
			_, err = s.desk.CloseTaskIncomplete(ctx, id, notes, storage.Command{})
		}
	default:
		s.fail(w, r, http.StatusNotFound, "No such action.")
		return
	}
	if err == nil {
		http.Redirect(w, r, "/requests/"+t.RequestID, http.StatusSeeOther)
		return
	}
	if status, msg := classify(err); status == http.StatusConflict || status == http.StatusUnprocessableEntity {
		s.requestPage(w, r, status, t.RequestID, msg, nil, map[string]string{id: notes})
		return
	}
	s.failErr(w, r, err)
}

// cancelRequest cancels a request for its requester (or an agent); a
// reason is required.
func (s *Server) cancelRequest(w http.ResponseWriter, r *http.Request, _ User) {
	ctx, id := r.Context(), r.PathValue("id")
	reason := strings.TrimSpace(r.PostForm.Get("cancel_reason"))
	if reason == "" {
		req, err := s.desk.Requests().Get(ctx, id)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if err := itsm.Authorize(ctx, s.az, operation.KindRequest, operation.EventCancel, req); err != nil {
			s.failErr(w, r, err)
			return
		}
		s.requestPage(w, r, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.",
			map[string]string{"cancel_reason": "Say why it is no longer needed."}, nil)
		return
	}
	if _, err := s.desk.CancelRequest(ctx, id, storage.Command{Reason: reason}); err != nil {
		if status, msg := classify(err); status == http.StatusConflict || status == http.StatusUnprocessableEntity {
			s.requestPage(w, r, status, id, msg, nil, nil)
			return
		}
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/requests/"+id, http.StatusSeeOther)
}
