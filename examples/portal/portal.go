package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/telemetry"
	"github.com/pillars-itsm/pillars/transition"
)

//go:embed templates/*.html
var templateFS embed.FS

// appJS is the portal's only script: it focuses the first invalid field.
//
//go:embed app.js
var appJS []byte

// MaxBody is the largest request body the portal reads; a bigger form post
// is refused with 413.
const MaxBody = 64 << 10

// MaxUpload is the largest attachment the portal takes (an upload's body
// may be this plus a little form overhead).
const MaxUpload = 2 << 20

// User is a person who can log in to the portal: the kernel actor (id, roles,
// assignment groups) plus what the user picker shows.
type User struct {
	itsm.Actor
	Title string // what the person does, shown by the user picker
	// TimeZone is the IANA zone the directory gives the person ("" for
	// UTC); the zone they choose on their settings page overrides it.
	TimeZone string
}

// IsAgent reports whether the user works tickets (the agent role).
func (u User) IsAgent() bool { return u.HasRole("agent") }

// IsChangeManager reports whether the user approves changes.
func (u User) IsChangeManager() bool { return u.InGroup(GroupChangeManagement) }

// Groups and roles of the seeded desk.
const (
	GroupServiceDesk      = "service_desk"
	GroupNetwork          = "network"
	GroupChangeManagement = "change_management"
)

// DefaultUsers are the people of the demo desk: two callers, two agents in
// assignment groups, a change requester and a change manager.
func DefaultUsers() []User {
	return []User{
		{Actor: itsm.Actor{ID: "carl", Name: "Carl Caller", Roles: []string{"caller"}}, Title: "caller (finance)"},
		{Actor: itsm.Actor{ID: "cora", Name: "Cora Caller", Roles: []string{"caller"}}, Title: "caller (sales)"},
		{Actor: itsm.Actor{ID: "ann", Name: "Ann Agent", Roles: []string{"agent"}, Groups: []string{GroupServiceDesk, GroupNetwork}}, Title: "agent, service desk and network"},
		{Actor: itsm.Actor{ID: "bob", Name: "Bob Agent", Roles: []string{"agent"}, Groups: []string{GroupNetwork}}, Title: "agent, network"},
		{Actor: itsm.Actor{ID: "rita", Name: "Rita Requester", Roles: []string{"agent"}, Groups: []string{GroupNetwork}}, Title: "network engineer, raises changes"},
		{Actor: itsm.Actor{ID: "mia", Name: "Mia Manager", Roles: []string{"agent", "change_manager"}, Groups: []string{GroupChangeManagement}}, Title: "change manager"},
	}
}

// Config configures a Server. The zero value works: the system clock,
// DefaultUsers and log output to the standard logger.
type Config struct {
	Clock  itsm.Clock
	Users  []User
	Logger *log.Logger
	// BreachWindow is how far ahead the "breaching soon" queue looks
	// (default 2 hours).
	BreachWindow time.Duration
	// Telemetry observes the pillars' commands (see metrics.go); nil: none.
	Telemetry *telemetry.Telemetry
	// SessionKey signs the session cookies and derives the CSRF tokens
	// (HMAC-SHA256); at least 32 bytes. Empty draws a random key, so
	// sessions end when the process restarts.
	SessionKey []byte
	// Search answers the search box; nil uses the library's full-text
	// search (storage.SearchService) over incidents, problems, requests
	// and changes, kept current by a background consumer.
	Search Searcher
}

// Server is the portal: an http.Handler composing the pillars over one store.
// Build it with NewServer; it is safe for concurrent use.
type Server struct {
	clock   itsm.Clock
	az      itsm.Authorizer
	users   []User
	byID    map[string]User
	logger  *log.Logger
	within  time.Duration
	mux     *http.ServeMux
	pages   *zonePages // the pages parsed per viewer's time zone
	desk    *operation.Desk
	cat     *design.Catalogue
	sla     *design.Engine
	cmdb    *transition.CMDB
	changes *transition.Changes
	kb      *transition.Knowledge // the knowledge articles suggested to callers
	kpi     *improvement.Engine
	syncMu  sync.Mutex // serialises the engines' Sync calls
	key     []byte     // the session key (Config.SessionKey)
	members map[string][]string
	inbox   *inbox // the in-app notifications, records in the store
	// instance names this server to the stream's leases: its background
	// consumers and CatchUp share them.
	instance string
	catchMu  sync.Mutex // one CatchUp at a time (they share the lease)
	search   Searcher
	text     *storage.SearchService // the library's search, when Config.Search is nil
	files    *storage.Attachments   // attachments on incidents and requests, blobs in the store
}

// NewServer wires the pillars to the store b (registering their record kinds)
// and returns the portal's handler. It does not seed data: call Seed.
func NewServer(ctx context.Context, b storage.Backend, cfg Config) (*Server, error) {
	if b == nil {
		return nil, itsm.Invalidf("portal: nil store")
	}
	s := &Server{clock: cfg.Clock, users: cfg.Users, logger: cfg.Logger, within: cfg.BreachWindow}
	if s.clock == nil {
		s.clock = itsm.SystemClock{}
	}
	if s.users == nil {
		s.users = DefaultUsers()
	}
	if s.logger == nil {
		s.logger = log.Default()
	}
	if s.within <= 0 {
		s.within = 2 * time.Hour
	}
	switch n := len(cfg.SessionKey); {
	case n == 0:
		s.key = make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, s.key); err != nil {
			return nil, fmt.Errorf("portal: session key: %w", err)
		}
	case n < 32:
		return nil, itsm.Invalidf("portal: the session key has %d bytes; it needs at least 32", n)
	default:
		s.key = append([]byte(nil), cfg.SessionKey...)
	}
	s.instance = "portal-" + hex.EncodeToString(s.key[:6])
	s.byID = map[string]User{}
	members := map[string][]string{}
	s.members = members
	for _, u := range s.users {
		if u.ID == "" {
			return nil, itsm.Invalidf("portal: a user without an id")
		}
		s.byID[u.ID] = u
		for _, g := range u.Groups {
			members[g] = append(members[g], u.ID)
		}
	}

	// One authorizer for every pillar: the service desk's role rules plus
	// separation of duties on change approvals.
	az := operation.DefaultAuthorizer()
	az.AddRule(transition.KindChange, transition.ActionApprove, transition.SeparationOfDuties)
	// Callers may cancel an incident they raised (raised in error, solved
	// itself); agents cancel any they work.
	az.Grant("caller", operation.KindIncident+":"+operation.EventCancel)
	az.AddRule(operation.KindIncident, operation.EventCancel, func(_ context.Context, req itsm.AccessRequest) string {
		if req.Actor.HasRole("agent") || req.Actor.HasRole("admin") || req.Actor.HasRole("system") {
			return ""
		}
		if inc, ok := req.Record.(*operation.Incident); ok && inc.CallerID == req.Actor.ID {
			return ""
		}
		return "a caller may only cancel an incident they raised"
	})
	s.az = az

	var err error
	if s.inbox, err = newInbox(ctx, b, s.clock); err != nil {
		return nil, fmt.Errorf("portal: inbox: %w", err)
	}
	var tel storage.Observer
	if cfg.Telemetry != nil {
		tel = cfg.Telemetry
	}
	if s.cat, err = design.NewCatalogue(ctx, b, design.CatalogueConfig{Clock: s.clock, Authorizer: az, Telemetry: tel}); err != nil {
		return nil, fmt.Errorf("portal: catalogue: %w", err)
	}
	if s.sla, err = design.NewEngine(ctx, b, design.EngineConfig{Clock: s.clock, Authorizer: az, Telemetry: tel,
		Definitions: slaDefinitions()}); err != nil {
		return nil, fmt.Errorf("portal: SLA engine: %w", err)
	}
	if s.desk, err = operation.New(ctx, b, operation.Config{Clock: s.clock, Authorizer: az, Telemetry: tel,
		Directory: itsm.StaticDirectory(members), SLA: s.sla, Catalog: s.cat,
		Escalation: EscalationRules(), Notifier: logNotifier{s}}); err != nil {
		return nil, fmt.Errorf("portal: service desk: %w", err)
	}
	if s.cmdb, err = transition.NewCMDB(ctx, b, transition.CMDBConfig{Clock: s.clock, Authorizer: az, Telemetry: tel}); err != nil {
		return nil, fmt.Errorf("portal: CMDB: %w", err)
	}
	if s.changes, err = transition.NewChanges(ctx, b, transition.ChangesConfig{Clock: s.clock, Authorizer: az, Telemetry: tel,
		CMDB: s.cmdb, Directory: itsm.StaticDirectory(members)}); err != nil {
		return nil, fmt.Errorf("portal: changes: %w", err)
	}
	// Callers read published articles only; agents read drafts too.
	az.AddRule(transition.KindKnowledge, itsm.ActionRead, publishedOnly)
	if s.kb, err = transition.NewKnowledge(ctx, b, transition.KnowledgeConfig{Clock: s.clock, Authorizer: az, Telemetry: tel}); err != nil {
		return nil, fmt.Errorf("portal: knowledge: %w", err)
	}
	if s.kpi, err = improvement.New(ctx, b, improvement.Config{}); err != nil {
		return nil, fmt.Errorf("portal: KPI engine: %w", err)
	}
	blobs, err := storage.NewDocBlobStore(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("portal: blob store: %w", err)
	}
	if s.files, err = storage.NewAttachments(ctx, b, storage.AttachmentsConfig{Blobs: blobs, Clock: s.clock, Authorizer: az,
		Parents: []storage.AttachmentParent{storage.AttachTo(s.desk.Incidents()), storage.AttachTo(s.desk.Requests())},
		Policy:  storage.AttachmentPolicy{MaxSize: MaxUpload}}); err != nil {
		return nil, fmt.Errorf("portal: attachments: %w", err)
	}
	s.search = cfg.Search
	if s.search == nil {
		if s.text, err = s.newSearch(); err != nil {
			return nil, fmt.Errorf("portal: search: %w", err)
		}
		s.search = s.text
	}
	if err := b.Register(ctx, storage.Schema{Kind: KindProfile}); err != nil {
		return nil, fmt.Errorf("portal: profiles: %w", err)
	}
	s.pages = &zonePages{extra: template.FuncMap{"name": s.name}}
	if _, err = s.pages.of(time.UTC); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// slaDefinitions are the desk's agreements: response and resolution targets
// per priority, round the clock.
func slaDefinitions() []design.Definition {
	return []design.Definition{
		{ID: "incident-response", Name: "Incident response", Type: design.SLA, Metric: design.Response, Kind: operation.KindIncident,
			Targets: map[int]time.Duration{1: 15 * time.Minute, 2: 30 * time.Minute, 3: time.Hour, 4: 4 * time.Hour, 5: 8 * time.Hour}},
		{ID: "incident-resolution", Name: "Incident resolution", Type: design.SLA, Metric: design.Resolution, Kind: operation.KindIncident,
			Targets: map[int]time.Duration{1: 4 * time.Hour, 2: 8 * time.Hour, 3: 24 * time.Hour, 4: 72 * time.Hour, 5: 120 * time.Hour}},
	}
}

// The design pillar's Catalogue is the service desk's Catalog as it is: its
// getters take and return plain values.
var _ operation.Catalog = (*design.Catalogue)(nil)

// ServeHTTP serves the portal: it limits the body size, resolves the
// logged-in user and checks the CSRF token of every form post.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'")
	limit := int64(MaxBody)
	multipart := strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
	if multipart {
		limit = MaxUpload + MaxBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if r.Method == http.MethodPost {
		parse := r.ParseForm
		if multipart {
			parse = func() error { return r.ParseMultipartForm(MaxBody) }
		}
		if err := parse(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.fail(w, r, http.StatusRequestEntityTooLarge, "The form is too large.")
				return
			}
			s.fail(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !s.checkCSRF(r) {
			s.fail(w, r, http.StatusForbidden, "This form was not issued to you by the portal (missing or wrong CSRF token). Reload the page and try again.")
			return
		}
	}
	// A path the portal serves under other methods is a 405 naming them
	// (the mux knows them); an unknown path is a 404, both as pages.
	if h, pattern := s.mux.Handler(r); pattern == "" {
		rec := &allowRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			s.fail(w, r, http.StatusMethodNotAllowed, "This page does not take that kind of request.")
			return
		}
		s.fail(w, r, http.StatusNotFound, "No such page.")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// allowRecorder captures what the mux's own 404/405 handler would write.
type allowRecorder struct {
	header http.Header
	status int
}

func (a *allowRecorder) Header() http.Header         { return a.header }
func (a *allowRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (a *allowRecorder) WriteHeader(status int)      { a.status = status }

// user returns the logged-in user of a verified session, or false: a
// cookie that does not verify, has expired or names no portal user is no
// user.
func (s *Server) user(r *http.Request) (User, bool) {
	se, ok := s.session(r)
	if !ok || se.User == "" {
		return User{}, false
	}
	u, ok := s.byID[se.User]
	return u, ok
}

// authed wraps a handler that needs a logged-in user; it passes the user's
// actor in the request context.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, u User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.user(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "Log in first.")
			return
		}
		h(w, r.WithContext(itsm.WithActor(r.Context(), u.Actor)), u)
	}
}

// page is what every template receives.
type page struct {
	Title  string
	Me     *User
	CSRF   string
	Error  string            // a message for the whole page
	Fields map[string]string // field name -> problem, shown next to the field
	Zone   string            // the time zone the page shows times in
	Data   any
}

// render writes a page with a status code.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.CSRF = s.csrfToken(w, r)
	if u, ok := s.user(r); ok && p.Me == nil {
		p.Me = &u
	}
	loc := time.UTC
	if p.Me != nil {
		loc = s.zoneOf(r.Context(), *p.Me)
	}
	p.Zone = loc.String()
	pages, err := s.pages.of(loc)
	if err != nil {
		s.logger.Printf("portal: pages in %s: %v", loc, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	t, ok := pages[name]
	if !ok {
		s.logger.Printf("portal: no template %q", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.logger.Printf("portal: render %s: %v", name, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, buf.String())
}

// fail shows the error page with a status and a message for people.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
}

// failErr maps a pillar error to a status and a readable message: the
// kernel's typed errors carry messages meant for people; anything else is
// logged and shown as an internal error without detail.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := classify(err)
	if status == http.StatusInternalServerError {
		s.logger.Printf("portal: %s %s: %v", r.Method, r.URL.Path, err)
	}
	s.fail(w, r, status, msg)
}

// classify maps an error from a pillar to an HTTP status and the message
// shown to the user.
func classify(err error) (int, string) {
	var te *itsm.TransitionError
	var fe *itsm.ForbiddenError
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.As(err, &fe):
		return http.StatusForbidden, fe.Error()
	case errors.Is(err, itsm.ErrForbidden):
		return http.StatusForbidden, "You may not do that."
	case errors.As(err, &te):
		return http.StatusConflict, te.Error()
	case errors.Is(err, itsm.ErrNotFound):
		return http.StatusNotFound, "No such record."
	case errors.Is(err, itsm.ErrConflict):
		return http.StatusConflict, "Someone changed this record at the same time; reload and try again."
	case errors.Is(err, itsm.ErrInvalid):
		return http.StatusUnprocessableEntity, err.Error()
	}
	return http.StatusInternalServerError, "Something went wrong on our side; the error was logged."
}

// fieldErrors returns the per-field problems of a validation error, with the
// catalogue's "variables." prefix removed, or nil.
func fieldErrors(err error) map[string]string {
	var ve *itsm.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) == 0 {
		return nil
	}
	out := make(map[string]string, len(ve.Fields))
	for k, v := range ve.Fields {
		out[strings.TrimPrefix(k, "variables.")] = v
	}
	return out
}

// syncEngines brings the SLA clocks and the KPIs up to the event log and
// raises the warnings and breaches due by now.
func (s *Server) syncEngines(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for {
		n, err := s.sla.Sync(ctx)
		if err != nil {
			return fmt.Errorf("SLA sync: %w", err)
		}
		if n == 0 {
			break
		}
	}
	if _, err := s.sla.Check(ctx, s.clock.Now()); err != nil {
		return fmt.Errorf("SLA check: %w", err)
	}
	for {
		n, err := s.kpi.Sync(ctx)
		if err != nil {
			return fmt.Errorf("KPI sync: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}
