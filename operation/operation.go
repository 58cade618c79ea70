package operation

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Record kinds and human-number prefixes of the Service Operation pillar.
const (
	KindIncident        = "incident"
	KindProblem         = "problem"
	KindKnownError      = "known_error"
	KindRequest         = "request"
	KindRequestTask     = "request_task"
	KindAlert           = "alert"
	KindMonitoringEvent = "monitoring_event"
	KindAlertKey        = "alert_key"

	PrefixIncident    = "INC"
	PrefixProblem     = "PRB"
	PrefixKnownError  = "KE"
	PrefixRequest     = "REQ"
	PrefixRequestTask = "SCTASK"
	PrefixAlert       = "ALR"
)

// RoleApprover is the role the default authorizer lets approve or reject
// service requests (besides agents); membership of the item's approval
// group is checked as well.
const RoleApprover = "approver"

// Journal actions: what AddComment and AddWorkNote ask the Authorizer for
// (storage.Command.Action), narrower than itsm.ActionUpdate so a host can
// let callers comment without letting them edit the incident.
const (
	ActionComment  = "comment"
	ActionWorkNote = "work_note"
)

// ActionLinkChild is what linking a child incident (LinkChild, or
// OpenIncident with a ParentID) asks the Authorizer for on the parent,
// whose child count it writes; the default authorizer allows agents.
const ActionLinkChild = "link_child"

// RoleMajorIncidentManager is the role that the default authorizer allows to
// accept or reject a proposed major incident.
const RoleMajorIncidentManager = "major_incident_manager"

// SLAWatcher is what the "breaching soon" queue needs from the SLA pillar:
// the records of a kind whose SLA clocks breach before a deadline, soonest
// first, a page at a time. The design pillar's SLA clock engine satisfies it
// (through a small adapter if its names differ).
type SLAWatcher interface {
	// BreachingBefore returns up to p.Limit record ids of kind whose running
	// SLA clocks breach at or before deadline, soonest first, and the cursor
	// of the next page ("" on the last). p.Cursor is "" for the first page.
	BreachingBefore(ctx context.Context, kind string, deadline time.Time, p storage.Paging) (ids []string, next string, err error)
}

// Notification is a message the pillar asks the host to deliver.
type Notification struct {
	Kind     string   // record kind, for example "incident"
	RecordID string   // the record concerned
	Number   string   // its human number
	Topic    string   // what happened: "escalation", "problem_resolved", ...
	To       []string // user or group ids to notify
	Subject  string
	Body     string
	// EventID is the event that caused the notification, when it came
	// from the event log (Desk.Notifications): a Notifier drops a repeated
	// EventID and Topic, since the log is handed out at least once.
	EventID string
}

// Notifier delivers notifications (mail, chat, pager). The host implements
// it; the pillar never sends anything itself. It is called after the unit of
// work that caused the notification committed; an error is reported to the
// caller but does not undo the committed change.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Catalog is what a service request reads from the service catalogue: plain
// getters keyed by catalogue item id, so the design pillar's
// *design.Catalogue satisfies it as it is, without operation importing it.
// Each returns an error matching itsm.ErrNotFound for an unknown item.
type Catalog interface {
	// Orderable returns nil when the item may be ordered now, and an error
	// matching itsm.ErrInvalid naming the reason otherwise (retired item,
	// service out of the catalogue).
	Orderable(ctx context.Context, itemID string) error
	// ValidateOrder checks the requester's answers (the request's
	// variables) against the item's form. It refuses with an
	// *itsm.ValidationError whose Fields name each problem as
	// "variables.<name>".
	ValidateOrder(ctx context.Context, itemID string, values map[string]string) error
	// ItemApprovals returns the group whose members approve orders of the
	// item and how many of them must approve; count 0 means no approval.
	ItemApprovals(ctx context.Context, itemID string) (group string, count int, err error)
	// ItemService returns the service (and offering, if any) the item
	// belongs to.
	ItemService(ctx context.Context, itemID string) (serviceID, offeringID string, err error)
	// ItemTasks returns the fulfilment tasks an order creates as parallel
	// slices sorted by order: tasks of one order run in parallel, a later
	// order starts when every task of the earlier ones is closed.
	ItemTasks(ctx context.Context, itemID string) (names, groups []string, orders []int, err error)
}

// CMDB is what alert correlation needs from the configuration management
// database: the configuration items a CI depends on, transitively. The
// transition pillar's CMDB satisfies it.
type CMDB interface {
	// Upstream returns the ids of the CIs that ciID depends on, at any depth.
	Upstream(ctx context.Context, ciID string) ([]string, error)
}

// Config configures a Desk. The zero value works: a system clock, the
// pillar's DefaultAuthorizer, the default priority matrix, hold reasons,
// resolution codes and lifecycles, no directory check, no SLA, catalogue,
// CMDB or notifier.
type Config struct {
	Clock      itsm.Clock
	Authorizer itsm.Authorizer
	// Directory checks that an assignee belongs to the assignment group.
	// Without one the membership is not checked.
	Directory itsm.Directory
	SLA       SLAWatcher
	// SLAProgress answers escalation rules by SLA percentage; when nil, SLA
	// is used if it implements SLAProgress too.
	SLAProgress SLAProgress
	Catalog     Catalog
	CMDB        CMDB
	Notifier    Notifier
	// Incident holds the incident policy: matrix, reasons, codes, windows.
	Incident IncidentPolicy
	// PriorityMatrices holds, by tenant id, the priority matrices of the
	// tenants whose matrix differs from Incident.Matrix: an incident's
	// priority is derived (and an override checked) with the matrix of the
	// tenant of the command's context (itsm.TenantFrom; a context without
	// one is itsm.DefaultTenant's). A tenant not listed uses
	// Incident.Matrix. Each matrix must be built with NewPriorityMatrix, and
	// an AlertRule's Impact and Urgency must lie within it; New reports a
	// mistake naming the tenant. The rest of the incident policy (states,
	// reasons, codes, windows) shapes the lifecycle and is shared.
	PriorityMatrices map[string]*PriorityMatrix
	// IncidentLifecycle, when set, replaces the default incident lifecycle
	// (usually IncidentLifecycle(policy) extended by the host).
	IncidentLifecycle *itsm.Lifecycle[*Incident]
	// AlertRule decides which alerts raise incidents.
	AlertRule AlertRule
	// Escalation rules, checked by Desk.Escalate.
	Escalation []EscalationRule
	// Dictionary declares the host's custom fields on the desk's record
	// kinds (incident, problem, known_error, request, request_task, alert),
	// per tenant; nil declares none. Their values travel in each record's
	// Custom member and are checked on every write. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// DefaultAuthorizer returns itsm.DefaultAuthorizer with what a service desk
// adds: callers may comment on, confirm (close) or reopen their own
// incidents (not add work notes or update other fields), submit
// requests (which fires request_approval or fulfil) and cancel their own;
// approvers may approve and reject requests; and only
// the major_incident_manager and admin roles may accept or reject a proposed
// major incident.
func DefaultAuthorizer() *itsm.RoleAuthorizer {
	a := itsm.DefaultAuthorizer().
		Grant("caller", KindIncident+":"+ActionComment, KindIncident+":"+EventClose, KindIncident+":"+EventReopen,
			KindRequest+":"+EventRequestApproval, KindRequest+":"+EventFulfil, KindRequest+":"+EventCancel, KindRequestTask+":"+EventSkip).
		Grant(RoleApprover, KindRequest+":"+EventApprove, KindRequest+":"+EventReject, KindRequest+":"+itsm.ActionUpdate,
			KindRequest+":"+itsm.ActionRead, KindRequestTask+":"+itsm.ActionCreate).
		// A major incident manager decides on incidents of every group.
		Grant(RoleMajorIncidentManager, KindIncident+":"+itsm.ActionRead, KindIncident+":"+itsm.ActionReadInternal).
		ScopeReads(itsm.ReadAll, RoleMajorIncidentManager)
	a.AddRule(KindRequest, EventCancel, func(_ context.Context, req itsm.AccessRequest) string {
		a := req.Actor
		if a.HasRole("agent") || a.HasRole("admin") {
			return ""
		}
		if r, ok := req.Record.(*Request); ok && (r.RequestedBy == a.ID || r.RequestedFor == a.ID) {
			return ""
		}
		return "a caller may only cancel their own request"
	})
	a.AddRule(KindIncident, ActionComment, ownIncident("comment on"))
	a.AddRule(KindIncident, EventClose, ownIncident("confirm"))
	a.AddRule(KindIncident, EventReopen, ownIncident("reopen"))
	for _, ev := range []string{EventAcceptMajor, EventRejectMajor} {
		a.AddRule(KindIncident, ev, func(_ context.Context, req itsm.AccessRequest) string {
			if req.Actor.HasRole(RoleMajorIncidentManager) || req.Actor.HasRole("admin") {
				return ""
			}
			return "only a major incident manager may decide on a major incident"
		})
	}
	return a
}

// ownIncident returns the rule that lets a caller act only on incidents
// they raised; agents and admins (and importers and the system) act on any.
func ownIncident(verb string) itsm.Rule {
	return func(_ context.Context, req itsm.AccessRequest) string {
		a := req.Actor
		if a.HasRole("agent") || a.HasRole("admin") || a.HasRole(itsm.RoleImporter) || a.HasRole("system") {
			return ""
		}
		if inc, ok := req.Record.(*Incident); ok && inc.CallerID == a.ID {
			return ""
		}
		return "a caller may only " + verb + " their own incident"
	}
}

// Desk is the Service Operation pillar bound to one store: incidents,
// problems and known errors, service requests and their tasks, alerts and
// escalation. Build it once with New; it is safe for concurrent use.
type Desk struct {
	backend  storage.Backend
	cfg      Config
	clock    itsm.Clock
	progress SLAProgress

	incidents   *storage.Records[Incident, *Incident]
	importing   *storage.Records[Incident, *Incident] // incidents under the import lifecycle (reopen from final states)
	problems    *storage.Records[Problem, *Problem]
	knownErrors *storage.Records[KnownError, *KnownError]
	requests    *storage.Records[Request, *Request]
	tasks       *storage.Records[RequestTask, *RequestTask]
	alerts      *storage.Records[Alert, *Alert]
	mevents     *storage.Records[MonitoringEvent, *MonitoringEvent]
	alertKeys   *storage.Records[AlertKey, *AlertKey]
}

// New registers the pillar's record kinds with the backend, compiles the
// lifecycles and returns the Desk. Configuration mistakes are reported as
// errors matching itsm.ErrInvalid.
func New(ctx context.Context, b storage.Backend, cfg Config) (*Desk, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("operation: context and backend are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = DefaultAuthorizer()
	}
	pol, err := cfg.Incident.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Incident = pol
	if err := cfg.AlertRule.check(pol); err != nil {
		return nil, err
	}
	if cfg.PriorityMatrices, err = tenantMatrices(cfg.PriorityMatrices, pol, cfg.AlertRule); err != nil {
		return nil, err
	}
	if cfg.SLAProgress == nil {
		cfg.SLAProgress, _ = cfg.SLA.(SLAProgress)
	}
	names := map[string]bool{}
	for i, r := range cfg.Escalation {
		if err := r.check(pol, cfg.SLAProgress); err != nil {
			return nil, itsm.Invalidf("operation: escalation rule %d (%q): %v", i, r.Name, err)
		}
		if names[r.Name] {
			return nil, itsm.Invalidf("operation: escalation rule %q declared twice", r.Name)
		}
		names[r.Name] = true
	}
	d := &Desk{backend: b, cfg: cfg, clock: cfg.Clock, progress: cfg.SLAProgress}
	rc := func(prefix string) storage.RecordsConfig {
		return storage.RecordsConfig{Prefix: prefix, Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry}
	}

	lc := cfg.IncidentLifecycle
	if lc == nil {
		lc = IncidentLifecycle(pol)
	}
	irc := rc(PrefixIncident)
	irc.Check = d.checkWrite
	if d.incidents, err = newRecords(ctx, b, incidentCollection().WithDictionary(cfg.Dictionary), lc, irc); err != nil {
		return nil, err
	}
	im, err := importMachine(lc, d.incidents.Machine())
	if err != nil {
		return nil, err
	}
	if d.importing, err = storage.NewRecords(b, d.incidents.Collection(), im, irc); err != nil {
		return nil, err
	}
	if d.problems, err = newRecords(ctx, b, problemCollection().WithDictionary(cfg.Dictionary), ProblemLifecycle(), rc(PrefixProblem)); err != nil {
		return nil, err
	}
	if d.knownErrors, err = newRecords(ctx, b, knownErrorCollection().WithDictionary(cfg.Dictionary), KnownErrorLifecycle(), rc(PrefixKnownError)); err != nil {
		return nil, err
	}
	if d.requests, err = newRecords(ctx, b, requestCollection().WithDictionary(cfg.Dictionary), RequestLifecycle(), rc(PrefixRequest)); err != nil {
		return nil, err
	}
	if d.tasks, err = newRecords(ctx, b, requestTaskCollection().WithDictionary(cfg.Dictionary), RequestTaskLifecycle(), rc(PrefixRequestTask)); err != nil {
		return nil, err
	}
	if d.alerts, err = newRecords(ctx, b, alertCollection().WithDictionary(cfg.Dictionary), AlertLifecycle(), rc(PrefixAlert)); err != nil {
		return nil, err
	}
	if d.mevents, err = newRecords(ctx, b, monitoringEventCollection(), monitoringEventLifecycle(), rc("")); err != nil {
		return nil, err
	}
	if d.alertKeys, err = newRecords(ctx, b, storage.NewCollection[AlertKey](KindAlertKey), alertKeyLifecycle(), rc("")); err != nil {
		return nil, err
	}
	return d, nil
}

// tenantMatrices checks the per-tenant priority matrices of a Config and
// returns a copy of the map: every tenant id valid, every matrix built with
// NewPriorityMatrix and holding the alert rule's impact and urgency.
func tenantMatrices(in map[string]*PriorityMatrix, pol IncidentPolicy, rule AlertRule) (map[string]*PriorityMatrix, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]*PriorityMatrix, len(in))
	for _, tenant := range slices.Sorted(maps.Keys(in)) {
		m := in[tenant]
		if err := itsm.CheckTenant(tenant); err != nil {
			return nil, fmt.Errorf("operation: priority matrices: %w", err)
		}
		if m.Impacts() == 0 || m.Urgencies() == 0 {
			return nil, itsm.Invalidf("operation: the priority matrix of tenant %q is empty (build it with NewPriorityMatrix)", tenant)
		}
		pol.Matrix = m
		if err := rule.check(pol); err != nil {
			return nil, fmt.Errorf("operation: tenant %q: %w", tenant, err)
		}
		out[tenant] = m
	}
	return out, nil
}

// PriorityMatrix returns the priority matrix of the tenant of ctx: its own
// (Config.PriorityMatrices) or the incident policy's. A context without a
// tenant is itsm.DefaultTenant's.
func (d *Desk) PriorityMatrix(ctx context.Context) *PriorityMatrix {
	return d.matrix(ctx)
}

// matrix is the priority matrix of the tenant of ctx.
func (d *Desk) matrix(ctx context.Context) *PriorityMatrix {
	tenant, _ := itsm.TenantFrom(ctx)
	if m := d.cfg.PriorityMatrices[tenant]; m != nil {
		return m
	}
	return d.cfg.Incident.Matrix
}

func newRecords[T any, P interface {
	*T
	itsm.Entity
}](ctx context.Context, b storage.Backend, coll *storage.Collection[T, P], lc *itsm.Lifecycle[P], rc storage.RecordsConfig) (*storage.Records[T, P], error) {
	m, err := lc.Compile()
	if err != nil {
		return nil, err
	}
	if err := coll.Register(ctx, b); err != nil {
		return nil, err
	}
	return storage.NewRecords(b, coll, m, rc)
}

// Backend returns the store the desk works on.
func (d *Desk) Backend() storage.Backend { return d.backend }

// Incidents returns the incident records, for reads (Get, Query, History,
// Verify) and for hosts that need the generic command runner.
func (d *Desk) Incidents() *storage.Records[Incident, *Incident] { return d.incidents.Public() }

// Problems returns the problem records.
func (d *Desk) Problems() *storage.Records[Problem, *Problem] { return d.problems.Public() }

// KnownErrors returns the known error records.
func (d *Desk) KnownErrors() *storage.Records[KnownError, *KnownError] { return d.knownErrors.Public() }

// Requests returns the service request records: reads, lifecycle events
// and field edits, but not the members the desk's commands own (approvals,
// the fulfilment plan and tasks; see storage.Records.Public).
func (d *Desk) Requests() *storage.Records[Request, *Request] { return d.requests.Public() }

// RequestTasks returns the fulfilment task records, without writes of the
// members the desk owns (the request, the order, the close time).
func (d *Desk) RequestTasks() *storage.Records[RequestTask, *RequestTask] { return d.tasks.Public() }

// Alerts returns the alert records.
func (d *Desk) Alerts() *storage.Records[Alert, *Alert] { return d.alerts.Public() }

// notify sends n through the configured Notifier, if any.
func (d *Desk) notify(ctx context.Context, ns []Notification) error {
	if d.cfg.Notifier == nil {
		return nil
	}
	var first error
	for _, n := range ns {
		if err := d.cfg.Notifier.Notify(ctx, n); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// validRef reports whether s may name a group or person in configuration:
// empty, or what a store indexes (at most storage.MaxStringValue bytes of
// UTF-8 without NUL).
func validRef(s string) bool {
	return len(s) <= storage.MaxStringValue && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// now returns the clock's time at the store's precision.
func (d *Desk) now() time.Time { return itsm.NormalizeTime(d.clock.Now()) }
