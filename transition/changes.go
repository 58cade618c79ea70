package transition

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// ChangesConfig configures change enablement. Nil fields take the defaults.
type ChangesConfig struct {
	Lifecycle    *itsm.Lifecycle[*Change]     // ChangeLifecycle()
	CABLifecycle *itsm.Lifecycle[*CABMeeting] // CABLifecycle()
	Clock        itsm.Clock                   // the system clock
	Authorizer   itsm.Authorizer              // itsm.DefaultAuthorizer()
	// Policy decides the approver groups; DefaultApprovalPolicy() when it
	// has no rules.
	Policy    ApprovalPolicy
	Directory itsm.Directory // members of approver groups, for "all" and "N of M"
	RiskModel *RiskModel     // DefaultRiskModel()
	// CMDB supplies impact for risk assessment and connected CIs for
	// collision detection; Graph, when set, answers the walks faster (the
	// host refreshes it; it answers as of its last Graph.Refresh).
	CMDB  *CMDB
	Graph *Graph
	// ImpactDepth bounds the upstream walk of a risk assessment (default 10).
	ImpactDepth int
	// RequireMaintenanceWindow refuses to schedule a normal change outside
	// the maintenance windows of its services.
	RequireMaintenanceWindow bool
	// Dictionary declares the host's custom fields on changes, change templates,
	// change windows and CAB meetings, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// Changes is change enablement: change requests of the three types,
// standard change templates, risk assessment, approvals, the change
// calendar with its windows, and collision detection. Every write goes
// through storage.Records and is a domain event. It is safe for concurrent
// use.
type Changes struct {
	backend   storage.Backend
	cfg       ChangesConfig
	changes   *storage.Records[Change, *Change]
	changeCIs *storage.Records[ChangeCI, *ChangeCI]
	templates *storage.Records[ChangeTemplate, *ChangeTemplate]
	windows   *storage.Records[ChangeWindow, *ChangeWindow]
	cabs      *storage.Records[CABMeeting, *CABMeeting]
}

// NewChanges registers the change kinds on the backend and returns the
// service. The lifecycle receives the guards that need the store: the
// freeze-window check (and, when required, the maintenance-window check)
// on schedule, and the effect that requests approvals on authorize.
func NewChanges(ctx context.Context, b storage.Backend, cfg ChangesConfig) (*Changes, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("changes: nil context")
	}
	if b == nil {
		return nil, itsm.Invalidf("changes: backend is required")
	}
	if cfg.Lifecycle == nil {
		cfg.Lifecycle = ChangeLifecycle()
	}
	if cfg.CABLifecycle == nil {
		cfg.CABLifecycle = CABLifecycle()
	}
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = itsm.DefaultAuthorizer()
	}
	if len(cfg.Policy.Rules) == 0 {
		cfg.Policy = DefaultApprovalPolicy()
	}
	if cfg.RiskModel == nil {
		cfg.RiskModel = DefaultRiskModel()
	}
	if cfg.ImpactDepth == 0 {
		cfg.ImpactDepth = 10
	}
	if err := cfg.Policy.check(cfg.Directory); err != nil {
		return nil, err
	}
	if err := cfg.RiskModel.Check(); err != nil {
		return nil, err
	}
	m := &Changes{backend: b, cfg: cfg}
	lc := cfg.Lifecycle.Clone().
		Guard(ChangeEventSchedule, "outside_freeze", m.freezeGuard).
		Guard(ChangeEventSchedule, "inside_maintenance_window", m.maintenanceGuard).
		Effect(ChangeEventAuthorize, "request_approvals", m.requestApprovals)
	chM, err := lc.Compile()
	if err != nil {
		return nil, err
	}
	ciM, err := ChangeCILifecycle().Compile()
	if err != nil {
		return nil, err
	}
	tM, err := TemplateLifecycle().Compile()
	if err != nil {
		return nil, err
	}
	wM, err := WindowLifecycle().Compile()
	if err != nil {
		return nil, err
	}
	cabM, err := cfg.CABLifecycle.Compile()
	if err != nil {
		return nil, err
	}
	chC, ciC, tC, wC, cabC := ChangeCollection().WithDictionary(cfg.Dictionary), ChangeCICollection(), TemplateCollection().WithDictionary(cfg.Dictionary), WindowCollection().WithDictionary(cfg.Dictionary), CABCollection().WithDictionary(cfg.Dictionary)
	for _, reg := range []func(context.Context, storage.Backend) error{chC.Register, ciC.Register, tC.Register, wC.Register, cabC.Register} {
		if err := reg(ctx, b); err != nil {
			return nil, err
		}
	}
	rc := storage.RecordsConfig{Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry}
	if m.changeCIs, err = storage.NewRecords(b, ciC, ciM, rc); err != nil {
		return nil, err
	}
	if m.windows, err = storage.NewRecords(b, wC, wM, rc); err != nil {
		return nil, err
	}
	rc.Prefix = "STD"
	if m.templates, err = storage.NewRecords(b, tC, tM, rc); err != nil {
		return nil, err
	}
	rc.Prefix = "CHG"
	if m.changes, err = storage.NewRecords(b, chC, chM, rc); err != nil {
		return nil, err
	}
	rc.Prefix = "CAB"
	if m.cabs, err = storage.NewRecords(b, cabC, cabM, rc); err != nil {
		return nil, err
	}
	return m, nil
}

// Records returns the command runner of changes, for hosts that need its
// lower-level operations: reads, lifecycle events and field edits, but not
// the members the Changes commands own (risk, approvals, review; see
// storage.Records.Public).
func (m *Changes) Records() *storage.Records[Change, *Change] { return m.changes.Public() }

// Machine returns the compiled change lifecycle (for diagrams: Mermaid).
func (m *Changes) Machine() *itsm.Machine[*Change] { return m.changes.Machine() }

// Get reads one change.
func (m *Changes) Get(ctx context.Context, id string) (*Change, error) { return m.changes.Get(ctx, id) }

// Create raises a normal or emergency change in state new. RequestedBy
// defaults to the actor. A standard change comes from CreateStandard.
func (m *Changes) Create(ctx context.Context, c *Change, cmd storage.Command) error {
	if c == nil || ctx == nil {
		return itsm.Invalidf("change: nil change or context")
	}
	if c.Type == TypeStandard {
		return (&itsm.ValidationError{Kind: KindChange}).Add("type", "a standard change is created from its template with CreateStandard")
	}
	return m.create(ctx, c, cmd)
}

func (m *Changes) create(ctx context.Context, c *Change, cmd storage.Command) error {
	if c.RequestedBy == "" {
		if a, ok := itsm.ActorFrom(ctx); ok {
			c.RequestedBy = a.ID
		}
	}
	if c.Type != TypeStandard {
		c.Approval, c.Approvals = ApprovalNotRequested, nil
	}
	c.PlannedStart, c.PlannedEnd = itsm.NormalizeTime(c.PlannedStart), itsm.NormalizeTime(c.PlannedEnd)
	work := *c
	var out Change
	err := m.backend.Update(ctx, func(tx storage.Tx) error {
		out = work
		out.CIIDs = slices.Clone(work.CIIDs)
		if err := m.checkCIs(ctx, tx, out.CIIDs); err != nil {
			return err
		}
		if err := m.changes.CreateTx(ctx, tx, &out, cmd); err != nil {
			return err
		}
		return m.syncCIs(ctx, tx, &out)
	})
	if err != nil {
		return err
	}
	*c = out
	return nil
}

// checkCIs refuses affected CIs the CMDB does not know (when there is one).
func (m *Changes) checkCIs(ctx context.Context, tx storage.Tx, ids []string) error {
	if m.cfg.CMDB == nil {
		return nil
	}
	for _, id := range ids {
		if id == "" {
			continue // Validate names it
		}
		if _, err := tx.Get(ctx, KindCI, id); err != nil {
			if errors.Is(err, itsm.ErrNotFound) {
				return fmt.Errorf("change affected CIs: %w", &itsm.NotFoundError{Kind: KindCI, ID: id})
			}
			return err
		}
	}
	return nil
}

// protected are the fields only the change service's own commands set.
func protectedFields(c *Change) any {
	return struct {
		Type, TemplateID, Approval, Risk string
		Approvals                        int
		Score                            int64
	}{c.Type, c.TemplateID, c.Approval, c.Risk, len(c.Approvals), c.RiskScore}
}

// Update changes a change's editable fields (descriptions, plans, planned
// window, affected CIs, assignment) through mutate and writes an update
// event. Type, template, risk and approvals are set only by their own
// commands; a mutation touching them is ErrInvalid. A scheduled change
// whose new window falls into a freeze is refused unless it is an
// emergency.
func (m *Changes) Update(ctx context.Context, id string, cmd storage.Command, mutate func(*Change) error) (*Change, error) {
	if mutate == nil {
		return nil, itsm.Invalidf("change %s: update without a mutation", id)
	}
	return m.write(ctx, id, "", cmd, func(tx storage.Tx, c *Change) error {
		before := protectedFields(c)
		if err := mutate(c); err != nil {
			return err
		}
		if protectedFields(c) != before {
			return (&itsm.ValidationError{Kind: KindChange, ID: c.Number}).Add("type", "type, template, risk and approvals are set by their own commands")
		}
		c.PlannedStart, c.PlannedEnd = itsm.NormalizeTime(c.PlannedStart), itsm.NormalizeTime(c.PlannedEnd)
		if err := m.checkCIs(ctx, tx, c.CIIDs); err != nil {
			return err
		}
		if c.State == ChangeScheduled {
			if err := m.freezeGuard(ctx, c, itsm.Transition{}); err != nil {
				return (&itsm.ValidationError{Kind: KindChange, ID: c.Number}).Add("planned_start", err.Error())
			}
		}
		return nil
	})
}

// Fire applies a lifecycle event to the change (mutate, which may be nil,
// first sets the fields the event needs) and keeps its affected-CI rows in
// step, in one unit of work.
func (m *Changes) Fire(ctx context.Context, id, event string, cmd storage.Command, mutate func(*Change) error) (*Change, error) {
	if event == "" {
		return nil, itsm.Invalidf("change %s: no event", id)
	}
	return m.write(ctx, id, event, cmd, func(_ storage.Tx, c *Change) error {
		if mutate == nil {
			return nil
		}
		before := protectedFields(c)
		if err := mutate(c); err != nil {
			return err
		}
		if protectedFields(c) != before {
			return (&itsm.ValidationError{Kind: KindChange, ID: c.Number}).Add("type", "type, template, risk and approvals are set by their own commands")
		}
		return nil
	})
}

// write runs one change command (an event, or an update when event is
// empty) with its affected-CI rows, retrying on a version conflict.
func (m *Changes) write(ctx context.Context, id, event string, cmd storage.Command, mutate func(storage.Tx, *Change) error) (*Change, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("change: nil context")
	}
	var out *Change
	err := storage.Retry(ctx, m.backend, maxAttempts, func(tx storage.Tx) error {
		mut := func(c *Change) error { return mutate(tx, c) }
		var err error
		if event == "" {
			out, err = m.changes.ChangeTx(ctx, tx, id, cmd, mut)
		} else {
			out, err = m.changes.FireTx(ctx, tx, id, event, cmd, mut)
		}
		if err != nil {
			return err
		}
		return m.syncCIs(ctx, tx, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AssessRisk scores the risk questionnaire for the change, adds the impact
// the CMDB reports upstream of its affected CIs (the business services
// reached, by criticality), and records risk, score, answers and impacted
// services on the change. It is allowed while the change is new, in assess
// or in authorize before any decision. The event's reason is cmd.Reason,
// "risk assessed: <risk>" when it is empty.
func (m *Changes) AssessRisk(ctx context.Context, id string, answers map[string]string, cmd storage.Command) (*Change, RiskAssessment, error) {
	if ctx == nil {
		return nil, RiskAssessment{}, itsm.Invalidf("change: nil context")
	}
	cur, err := m.changes.Get(ctx, id)
	if err != nil {
		return nil, RiskAssessment{}, err
	}
	if !slices.Contains([]string{ChangeNew, ChangeAssess}, cur.State) {
		return nil, RiskAssessment{}, &itsm.TransitionError{Kind: KindChange, ID: cur.ID, Number: cur.Number, From: cur.State,
			Event: "assess_risk", Reason: "risk is assessed while the change is new or in assess"}
	}
	var services []AffectedService
	if m.cfg.CMDB != nil && len(cur.CIIDs) > 0 {
		q := ImpactQuery{CIs: cur.CIIDs, Direction: Upstream, MaxDepth: m.cfg.ImpactDepth}
		var imp *Impact
		if m.cfg.Graph != nil {
			imp, err = m.cfg.Graph.Impact(ctx, m.cfg.CMDB, q)
		} else {
			imp, err = m.cfg.CMDB.Impact(ctx, q)
		}
		if err != nil {
			return nil, RiskAssessment{}, err
		}
		services = imp.Services
		for _, ci := range cur.CIIDs { // a business service changed directly counts too
			if cl, err := m.cfg.CMDB.CI(ctx, ci); err == nil && m.cfg.CMDB.classes.IsA(cl.Class, ClassBusinessService) {
				services = append(services, AffectedService{ID: cl.ID, Name: cl.Name, BusinessCriticality: cl.BusinessCriticality})
			}
		}
	}
	ra, err := m.cfg.RiskModel.Assess(answers, services)
	if err != nil {
		return nil, RiskAssessment{}, err
	}
	if cmd.Reason == "" {
		cmd.Reason = "risk assessed: " + ra.Risk
	}
	out, err := m.write(ctx, id, "", cmd, func(_ storage.Tx, c *Change) error {
		if c.Version != cur.Version {
			return fmt.Errorf("change %s changed during the assessment: %w", c.Number, itsm.ErrConflict)
		}
		c.Risk, c.RiskScore, c.RiskAnswers, c.ImpactedServices = ra.Risk, int64(ra.Score), maps.Clone(answers), ra.Services
		return nil
	})
	if err != nil {
		return nil, RiskAssessment{}, err
	}
	return out, ra, nil
}

// LinkIncident records that an incident was caused by the change (the
// operation pillar's incident id), once the change has been implemented.
// The event's reason is cmd.Reason, "incident caused by the change" when it
// is empty.
func (m *Changes) LinkIncident(ctx context.Context, id, incidentID string, cmd storage.Command) (*Change, error) {
	if incidentID == "" {
		return nil, (&itsm.ValidationError{Kind: KindChange, ID: id}).Add("caused_incident_ids", "an empty incident id")
	}
	if cmd.Reason == "" {
		cmd.Reason = "incident caused by the change"
	}
	return m.write(ctx, id, "", cmd, func(_ storage.Tx, c *Change) error {
		if c.ActualStart.IsZero() {
			return (&itsm.ValidationError{Kind: KindChange, ID: c.Number}).Add("caused_incident_ids", "the change has not been implemented")
		}
		if slices.Contains(c.CausedIncidentIDs, incidentID) {
			return nil
		}
		c.CausedIncidentIDs = append(c.CausedIncidentIDs, incidentID)
		return nil
	})
}

// Close records the review outcome (successful, failed, backed_out) and
// notes and closes the change, which must be in review. notes replaces
// cmd.Reason.
func (m *Changes) Close(ctx context.Context, id, outcome, notes string, cmd storage.Command) (*Change, error) {
	// The notes replace cmd.Reason, so the store never sees a bad one: it
	// is refused here rather than dropped.
	if err := checkReason(KindChange, id, cmd); err != nil {
		return nil, err
	}
	cmd.Reason = notes
	return m.Fire(ctx, id, ChangeEventClose, cmd, func(c *Change) error {
		c.ReviewOutcome, c.ReviewNotes = outcome, notes
		return nil
	})
}

// maxAttempts bounds how often a change command re-reads the change and
// tries again after a concurrent writer won the race.
const maxAttempts = 10
