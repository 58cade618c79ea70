package transition

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Record kinds of change enablement.
const (
	KindChange         = "change"          // change requests, numbered CHG0000001
	KindChangeCI       = "change_ci"       // the CIs a change affects (ServiceNow task_ci), for collision detection
	KindChangeTemplate = "change_template" // pre-approved standard change templates
	KindChangeWindow   = "change_window"   // maintenance and freeze (blackout) windows
)

// Change types.
const (
	TypeStandard  = "standard"  // pre-approved, from a template; no CAB
	TypeNormal    = "normal"    // assessed and authorised by the CAB
	TypeEmergency = "emergency" // expedited; may be authorised after the fact
)

// Risk levels, lowest first.
const (
	RiskLow      = "low"
	RiskModerate = "moderate"
	RiskHigh     = "high"
	RiskVeryHigh = "very_high"
)

// RiskLevels returns the risk levels, lowest first.
func RiskLevels() []string {
	return []string{RiskLow, RiskModerate, RiskHigh, RiskVeryHigh}
}

// Change states.
const (
	ChangeNew       = "new"
	ChangeAssess    = "assess"
	ChangeAuthorize = "authorize"
	ChangeScheduled = "scheduled"
	ChangeImplement = "implement"
	ChangeReview    = "review"
	ChangeClosed    = "closed"
	ChangeCanceled  = "canceled"
)

// Change lifecycle events.
const (
	ChangeEventAssess    = "assess"    // new → assess (normal)
	ChangeEventAuthorize = "authorize" // assess → authorize (normal); new → authorize (emergency)
	ChangeEventSchedule  = "schedule"  // authorize → scheduled once approved; new → scheduled (standard)
	ChangeEventImplement = "implement" // scheduled → implement; authorize → implement (emergency, retrospective approval)
	ChangeEventReview    = "review"    // implement → review
	ChangeEventClose     = "close"     // review → closed, with a review outcome
	ChangeEventCancel    = "cancel"    // any open state → canceled
	ChangeEventReject    = "reject"    // an approver rejected: authorize (or a retrospective emergency) → canceled
)

// Approval states of a change (ServiceNow's approval field).
const (
	ApprovalNotRequested = "not_requested"
	ApprovalRequested    = "requested"
	ApprovalApproved     = "approved"
	ApprovalRejected     = "rejected"
)

// Review outcomes.
const (
	OutcomeSuccessful = "successful"
	OutcomeFailed     = "failed"
	OutcomeBackedOut  = "backed_out"
)

// Change is a change request: the addition, modification or removal of
// anything that could affect services.
type Change struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	Description      string `json:"description,omitempty"`
	Type             string `json:"type"` // standard, normal, emergency
	TemplateID       string `json:"template_id,omitempty"`
	Category         string `json:"category,omitempty"`
	RequestedBy      string `json:"requested_by"`
	AssignmentGroup  string `json:"assignment_group,omitempty"`
	AssignedTo       string `json:"assigned_to,omitempty"` // the implementer
	ServiceID        string `json:"service_id,omitempty"`
	// CIIDs are the affected CIs (the CMDB ids); collision detection and
	// impact work on them.
	CIIDs []string `json:"ci_ids,omitempty"`

	Risk             string            `json:"risk,omitempty"` // low, moderate, high, very_high
	RiskScore        int64             `json:"risk_score,omitempty"`
	RiskAnswers      map[string]string `json:"risk_answers,omitempty"`
	ImpactedServices []string          `json:"impacted_services,omitempty"` // business service CIs reached upstream of CIIDs

	PlannedStart time.Time `json:"planned_start,omitzero"`
	PlannedEnd   time.Time `json:"planned_end,omitzero"`
	ActualStart  time.Time `json:"actual_start,omitzero"`
	ActualEnd    time.Time `json:"actual_end,omitzero"`

	ImplementationPlan string `json:"implementation_plan,omitempty"`
	BackoutPlan        string `json:"backout_plan,omitempty"`
	TestPlan           string `json:"test_plan,omitempty"`

	Approval  string          `json:"approval"`
	Approvals []ApprovalGroup `json:"approvals,omitempty"`
	// RetrospectiveReason justifies implementing an emergency change before
	// it is authorised.
	RetrospectiveReason string `json:"retrospective_reason,omitempty"`

	ReviewOutcome     string    `json:"review_outcome,omitempty"` // successful, failed, backed_out
	ReviewNotes       string    `json:"review_notes,omitempty"`
	CausedIncidentIDs []string  `json:"caused_incident_ids,omitempty"`
	ReleaseID         string    `json:"release_id,omitempty"`
	ClosedAt          time.Time `json:"closed_at,omitzero"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Open reports whether the change is neither closed nor canceled.
func (c *Change) Open() bool { return c.State != ChangeClosed && c.State != ChangeCanceled }

// Validate checks the change's own fields.
func (c *Change) Validate() error {
	ve := &itsm.ValidationError{Kind: KindChange, ID: c.ID}
	checkFields(ve, c)
	if c.ShortDescription == "" {
		ve.Add("short_description", "is required")
	}
	if !slices.Contains([]string{TypeStandard, TypeNormal, TypeEmergency}, c.Type) {
		ve.Add("type", fmt.Sprintf("%q is not standard, normal or emergency", c.Type))
	}
	if c.Type == TypeStandard && c.TemplateID == "" {
		ve.Add("template_id", "a standard change comes from a template")
	}
	if c.RequestedBy == "" {
		ve.Add("requested_by", "is required")
	}
	if c.Risk != "" && !slices.Contains(RiskLevels(), c.Risk) {
		ve.Add("risk", fmt.Sprintf("%q is not one of %v", c.Risk, RiskLevels()))
	}
	if !c.PlannedStart.IsZero() || !c.PlannedEnd.IsZero() {
		switch {
		case c.PlannedStart.IsZero() || c.PlannedEnd.IsZero():
			ve.Add("planned_end", "planned start and end go together")
		case !c.PlannedEnd.After(c.PlannedStart):
			ve.Add("planned_end", fmt.Sprintf("%s is not after planned start %s", c.PlannedEnd.Format(time.RFC3339), c.PlannedStart.Format(time.RFC3339)))
		}
	}
	if c.ReviewOutcome != "" && !slices.Contains([]string{OutcomeSuccessful, OutcomeFailed, OutcomeBackedOut}, c.ReviewOutcome) {
		ve.Add("review_outcome", fmt.Sprintf("%q is not successful, failed or backed_out", c.ReviewOutcome))
	}
	if slices.Contains(c.CIIDs, "") {
		ve.Add("ci_ids", "an empty CI id")
	}
	if len(c.CIIDs) > 500 {
		ve.Add("ci_ids", "more than 500 affected CIs")
	}
	return ve.Err()
}

// ChangeLifecycle returns the default change lifecycle, for a host to extend
// (extra states, guards) before passing it in ChangesConfig. The guards that
// need the store (approvals, freeze windows) are added by NewChanges.
//
//	normal:    new → assess → authorize → scheduled → implement → review → closed
//	standard:  new → scheduled → implement → review → closed
//	emergency: new → authorize → scheduled → implement → review → closed,
//	           or authorize → implement with a retrospective reason
//	any open state → canceled (cancel); authorize → canceled (reject)
func ChangeLifecycle() *itsm.Lifecycle[*Change] {
	typeIs := func(types ...string) itsm.Guard[*Change] {
		return func(_ context.Context, c *Change, tr itsm.Transition) error {
			if !slices.Contains(types, c.Type) {
				return fmt.Errorf("a %s change may not %s from %s", c.Type, tr.Event, tr.From)
			}
			return nil
		}
	}
	return itsm.NewLifecycle[*Change](KindChange).
		Initial(ChangeNew).
		States(ChangeAssess, ChangeAuthorize, ChangeScheduled, ChangeImplement, ChangeReview).
		Final(ChangeClosed, ChangeCanceled).
		Event(ChangeEventAssess, ChangeAssess, ChangeNew).
		Event(ChangeEventAuthorize, ChangeAuthorize, ChangeNew, ChangeAssess).
		Event(ChangeEventSchedule, ChangeScheduled, ChangeNew, ChangeAuthorize).
		Event(ChangeEventImplement, ChangeImplement, ChangeScheduled, ChangeAuthorize).
		Event(ChangeEventReview, ChangeReview, ChangeImplement).
		Event(ChangeEventClose, ChangeClosed, ChangeReview).
		Event(ChangeEventCancel, ChangeCanceled, ChangeNew, ChangeAssess, ChangeAuthorize, ChangeScheduled, ChangeImplement).
		Event(ChangeEventReject, ChangeCanceled, ChangeAuthorize, ChangeImplement, ChangeReview).
		Guard(ChangeEventAssess, "normal_only", typeIs(TypeNormal)).
		Guard(ChangeEventAuthorize, "path_by_type", func(_ context.Context, c *Change, tr itsm.Transition) error {
			switch {
			case c.Type == TypeStandard:
				return errors.New("a standard change is pre-approved and is never authorised")
			case tr.From == ChangeNew && c.Type != TypeEmergency:
				return errors.New("a normal change is assessed before it is authorised")
			}
			return nil
		}).
		Guard(ChangeEventAuthorize, "risk_assessed", func(_ context.Context, c *Change, _ itsm.Transition) error {
			if c.Type == TypeNormal && c.Risk == "" {
				return errors.New("a normal change needs a risk assessment before authorisation")
			}
			return nil
		}).
		Guard(ChangeEventSchedule, "approved", func(_ context.Context, c *Change, tr itsm.Transition) error {
			if tr.From == ChangeNew {
				if c.Type != TypeStandard {
					return fmt.Errorf("only a standard change is scheduled straight from new; a %s change is authorised first", c.Type)
				}
				return nil
			}
			if c.Approval != ApprovalApproved {
				return fmt.Errorf("approval is %s, not approved", c.Approval)
			}
			return nil
		}).
		Guard(ChangeEventSchedule, "planned_window", needsWindow).
		Guard(ChangeEventImplement, "retrospective_emergency", func(_ context.Context, c *Change, tr itsm.Transition) error {
			if tr.From != ChangeAuthorize {
				return nil
			}
			if c.Type != TypeEmergency {
				return fmt.Errorf("only an emergency change may be implemented before it is authorised")
			}
			if c.RetrospectiveReason == "" {
				return errors.New("implementing an emergency change before authorisation needs a retrospective reason")
			}
			return nil
		}).
		Guard(ChangeEventImplement, "planned_window", needsWindow).
		Guard(ChangeEventClose, "review_outcome", func(_ context.Context, c *Change, _ itsm.Transition) error {
			if c.ReviewOutcome == "" {
				return errors.New("closing needs a review outcome (successful, failed or backed_out)")
			}
			return nil
		}).
		Guard(ChangeEventClose, "authorised", func(_ context.Context, c *Change, _ itsm.Transition) error {
			if c.Approval != ApprovalApproved {
				return fmt.Errorf("approval is %s: an emergency change implemented early is authorised before it closes", c.Approval)
			}
			return nil
		}).
		Guard(ChangeEventCancel, "needs_reason", itsm.NeedsReason[*Change]("canceling a change needs a reason")).
		Effect(ChangeEventImplement, "stamp_actual_start", itsm.StampAt(func(c *Change) *time.Time { return &c.ActualStart })).
		Effect(ChangeEventReview, "stamp_actual_end", itsm.StampAt(func(c *Change) *time.Time { return &c.ActualEnd })).
		Effect(ChangeEventClose, "stamp_closed_at", itsm.StampAt(func(c *Change) *time.Time { return &c.ClosedAt })).
		Effect(ChangeEventReject, "mark_rejected", func(_ context.Context, c *Change, _ itsm.Transition) error {
			c.Approval = ApprovalRejected
			return nil
		})
}

func needsWindow(_ context.Context, c *Change, _ itsm.Transition) error {
	if c.PlannedStart.IsZero() || c.PlannedEnd.IsZero() {
		return errors.New("planned start and end are required")
	}
	return nil
}

// ChangeCollection declares how changes are stored: indexed by type, risk,
// service, assignment group, requester, release and planned window, with a
// queue index of a group's changes by state and planned start.
func ChangeCollection() *storage.Collection[Change, *Change] {
	return storage.NewCollection[Change](KindChange,
		storage.StringField("type", func(c *Change) string { return c.Type }),
		storage.StringField("risk", func(c *Change) string { return c.Risk }),
		storage.StringField("service_id", func(c *Change) string { return c.ServiceID }),
		storage.StringField("assignment_group", func(c *Change) string { return c.AssignmentGroup }),
		storage.StringField("requested_by", func(c *Change) string { return c.RequestedBy }),
		storage.StringField("approval", func(c *Change) string { return c.Approval }),
		storage.StringField("release_id", func(c *Change) string { return c.ReleaseID }),
		storage.TimeField("planned_start", func(c *Change) time.Time { return c.PlannedStart }),
		storage.TimeField("planned_end", func(c *Change) time.Time { return c.PlannedEnd }),
	).WithIndex("change_queue", "assignment_group", "state", "planned_start").
		WithIndex("change_calendar", "state", "planned_start").
		// Risk and approval are assessed and decided by the Changes
		// commands: a host's generic edit cannot approve a change or lower
		// its risk.
		WithOwned("requested_by", "risk", "risk_score", "risk_answers", "impacted_services", "approval", "approvals",
			"review_outcome", "caused_incident_ids", "release_id", "closed_at")
}
