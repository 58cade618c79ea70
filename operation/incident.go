package operation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// States shared by several record kinds of the pillar.
const (
	StateNew        = "new"
	StateInProgress = "in_progress"
	StateOnHold     = "on_hold"
	StateResolved   = "resolved"
	StateClosed     = "closed"
	StateCanceled   = "canceled"
)

// Incident lifecycle events. Assignment and other field edits are
// itsm.EventUpdate events.
const (
	EventStart        = "start"
	EventHold         = "hold"
	EventResume       = "resume"
	EventResolve      = "resolve"
	EventReopen       = "reopen"
	EventClose        = "close"
	EventCancel       = "cancel"
	EventProposeMajor = "propose_major"
	EventAcceptMajor  = "accept_major"
	EventRejectMajor  = "reject_major"
)

// The default hold reasons; hosts add their own through IncidentPolicy.
const (
	HoldAwaitingCaller  = "awaiting_caller"
	HoldAwaitingChange  = "awaiting_change"
	HoldAwaitingProblem = "awaiting_problem"
	HoldAwaitingVendor  = "awaiting_vendor"
)

// The default resolution codes (ServiceNow's close codes).
const (
	ResolvedPermanently      = "solved_permanently"
	ResolvedWorkaround       = "solved_workaround"
	ResolvedRemotely         = "solved_remotely"
	NotSolvedNotReproducible = "not_solved_not_reproducible"
	NotSolvedTooCostly       = "not_solved_too_costly"
	ClosedByCaller           = "closed_by_caller"
)

// The states of a major-incident proposal (Incident.MajorState).
const (
	MajorProposed = "proposed"
	MajorAccepted = "accepted"
	MajorRejected = "rejected"
)

// Field limits of an incident.
const (
	MaxShortDescription = 160
	MaxText             = 32000
)

// defaultOpenStates are the incident states in which work is still to be
// done, unless IncidentPolicy.OpenStates says otherwise.
func defaultOpenStates() []string { return []string{StateNew, StateInProgress, StateOnHold} }

// Note is one journal entry: a work note (internal) or a comment (visible to
// the caller).
type Note struct {
	At     time.Time `json:"at"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

// Incident is an unplanned interruption or reduction in quality of an IT
// service. Its JSON names are the ones the improvement pillar's KPI engine
// reads from event changes. "Opened" is Record.CreatedAt.
type Incident struct {
	itsm.Record
	ShortDescription string `json:"short_description"`
	Description      string `json:"description,omitempty"`
	CallerID         string `json:"caller_id"`
	OpenedBy         string `json:"opened_by,omitempty"`
	ContactType      string `json:"contact_type,omitempty"` // phone, email, self_service, chat, walk_in, monitoring
	ServiceID        string `json:"service_id,omitempty"`
	CIID             string `json:"ci_id,omitempty"`
	Category         string `json:"category,omitempty"`
	Subcategory      string `json:"subcategory,omitempty"`

	Impact   int `json:"impact"`   // 1 (high) .. matrix size
	Urgency  int `json:"urgency"`  // 1 (high) .. matrix size
	Priority int `json:"priority"` // 1 (critical) .. 5 (planning)
	// PriorityOverrideReason is set when a person overrode the priority the
	// matrix gives; while set, impact and urgency changes keep the priority.
	PriorityOverrideReason string `json:"priority_override_reason,omitempty"`

	AssignmentGroup   string `json:"assignment_group,omitempty"`
	AssignedTo        string `json:"assigned_to,omitempty"`
	ReassignmentCount int    `json:"reassignment_count"`
	ReopenCount       int    `json:"reopen_count"`
	HoldReason        string `json:"hold_reason,omitempty"`
	ResolutionCode    string `json:"resolution_code,omitempty"`
	ResolutionNotes   string `json:"resolution_notes,omitempty"`

	Major           bool   `json:"major"`
	MajorState      string `json:"major_state,omitempty"` // proposed, accepted, rejected
	MajorProposedBy string `json:"major_proposed_by,omitempty"`

	ParentID string `json:"parent_id,omitempty"`
	// Children counts the incidents linked as this one's children. Linking
	// writes it, so a link and the parent's resolution (or a link of the
	// parent itself) running at once conflict instead of missing each other.
	Children         int    `json:"children,omitempty"`
	ProblemID        string `json:"problem_id,omitempty"`
	KnownErrorID     string `json:"known_error_id,omitempty"`
	CausedByChangeID string `json:"caused_by_change_id,omitempty"`
	Workaround       string `json:"workaround,omitempty"` // copied from the known error

	FirstResponseAt time.Time `json:"first_response_at,omitzero"`
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
	ClosedAt        time.Time `json:"closed_at,omitzero"`

	// Escalations lists the escalation rules already applied, by name.
	Escalations []string `json:"escalations,omitempty"`
	WorkNotes   []Note   `json:"work_notes,omitempty"`
	Comments    []Note   `json:"comments,omitempty"`

	// owns marks the lifecycle-owned fields this write may change: set by
	// the desk's commands and the default lifecycle's effects, checked and
	// cleared by the desk's write check, never stored.
	owns owned

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the fields every incident must have whatever the policy;
// storage.Records calls it before every write.
func (i *Incident) Validate() error {
	if i == nil {
		return itsm.Invalidf("incident: nil record")
	}
	// The error is built at the first problem: a valid incident, checked
	// before every write, costs no allocation.
	var ve *itsm.ValidationError
	add := func(field, problem string) {
		if ve == nil {
			ve = &itsm.ValidationError{Kind: KindIncident, ID: i.ID}
		}
		ve.Add(field, problem)
	}
	switch {
	case i.ShortDescription == "":
		add("short_description", "is required")
	case len(i.ShortDescription) > MaxShortDescription:
		add("short_description", fmt.Sprintf("is %d bytes, at most %d", len(i.ShortDescription), MaxShortDescription))
	}
	if len(i.Description) > MaxText {
		add("description", fmt.Sprintf("is %d bytes, at most %d", len(i.Description), MaxText))
	}
	if i.CallerID == "" {
		add("caller_id", "is required")
	}
	if i.Impact < 1 {
		add("impact", fmt.Sprintf("%d is not a known impact", i.Impact))
	}
	if i.Urgency < 1 {
		add("urgency", fmt.Sprintf("%d is not a known urgency", i.Urgency))
	}
	if i.Priority < 1 || i.Priority > 5 {
		add("priority", fmt.Sprintf("%d is not a priority (1..5)", i.Priority))
	}
	if i.ReassignmentCount < 0 || i.ReopenCount < 0 {
		add("reassignment_count", "counts cannot be negative")
	}
	if i.AssignedTo != "" && i.AssignmentGroup == "" {
		add("assignment_group", "is required when assigned_to is set")
	}
	if i.State == StateOnHold && i.HoldReason == "" {
		add("hold_reason", "is required while on hold")
	}
	if i.ParentID != "" && i.ParentID == i.ID {
		add("parent_id", "an incident cannot be its own parent")
	}
	if len(i.ResolutionNotes) > MaxText {
		add("resolution_notes", fmt.Sprintf("is %d bytes, at most %d", len(i.ResolutionNotes), MaxText))
	}
	if ve == nil {
		return nil
	}
	return ve.Err()
}

// IncidentPolicy holds what a host configures about incidents, per desk.
// Zero fields take the defaults; each list has an Extra field that adds to
// whichever list applies, so a host adds a code or a reason without
// re-listing the defaults.
type IncidentPolicy struct {
	// Matrix derives priority from impact and urgency; DefaultPriorityMatrix
	// when nil.
	Matrix *PriorityMatrix
	// OpenStates are the states in which an incident still needs work: the
	// queues list them, hold, resolve and cancel leave them, commands that
	// edit an incident need one. Empty: new, in_progress and on_hold.
	OpenStates      []string
	ExtraOpenStates []string
	// HoldReasons are the reasons an incident may be put on hold. Empty: the
	// four defaults.
	HoldReasons      []string
	ExtraHoldReasons []string
	// ResolutionCodes are the accepted resolution codes; empty: the defaults.
	ResolutionCodes      []string
	ExtraResolutionCodes []string
	// ReopenWindow is how long after resolution (or, in a lifecycle that
	// reopens closed incidents, after closure) a caller or agent may reopen
	// (default 7 days). It is measured from now: a backdated import row is
	// not held to it unless its command is strict.
	ReopenWindow time.Duration
	// AutoCloseAfter is how long a resolved incident waits for the caller's
	// confirmation before CloseResolved closes it (default 7 days).
	AutoCloseAfter time.Duration
}

// filled returns the policy with defaults in every zero field.
func (p IncidentPolicy) filled() IncidentPolicy {
	if p.Matrix == nil {
		p.Matrix = DefaultPriorityMatrix()
	}
	merge := func(list, extra []string, defaults func() []string) []string {
		if len(list) == 0 {
			list = defaults()
		}
		out := slices.Clone(list)
		for _, e := range extra {
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
		return out
	}
	p.OpenStates = merge(p.OpenStates, p.ExtraOpenStates, defaultOpenStates)
	p.HoldReasons = merge(p.HoldReasons, p.ExtraHoldReasons, func() []string {
		return []string{HoldAwaitingCaller, HoldAwaitingChange, HoldAwaitingProblem, HoldAwaitingVendor}
	})
	p.ResolutionCodes = merge(p.ResolutionCodes, p.ExtraResolutionCodes, func() []string {
		return []string{ResolvedPermanently, ResolvedWorkaround, ResolvedRemotely,
			NotSolvedNotReproducible, NotSolvedTooCostly, ClosedByCaller}
	})
	p.ExtraOpenStates, p.ExtraHoldReasons, p.ExtraResolutionCodes = nil, nil, nil
	if p.ReopenWindow == 0 {
		p.ReopenWindow = 7 * 24 * time.Hour
	}
	if p.AutoCloseAfter == 0 {
		p.AutoCloseAfter = 7 * 24 * time.Hour
	}
	return p
}

func (p IncidentPolicy) withDefaults() (IncidentPolicy, error) {
	if p.ReopenWindow < 0 || p.AutoCloseAfter < 0 {
		return p, itsm.Invalidf("operation: reopen window and auto-close period cannot be negative")
	}
	p = p.filled()
	if p.Matrix.Impacts() == 0 || p.Matrix.Urgencies() == 0 {
		return p, itsm.Invalidf("operation: the priority matrix is empty (build it with NewPriorityMatrix)")
	}
	for _, s := range p.OpenStates {
		if !storage.ValidName(s) {
			return p, itsm.Invalidf("operation: open state %q is not a lower-case identifier", s)
		}
	}
	for _, r := range p.HoldReasons {
		if !storage.ValidName(r) {
			return p, itsm.Invalidf("operation: hold reason %q is not a lower-case identifier", r)
		}
	}
	for _, c := range p.ResolutionCodes {
		if !storage.ValidName(c) {
			return p, itsm.Invalidf("operation: resolution code %q is not a lower-case identifier", c)
		}
	}
	return p, nil
}

// IsOpen reports whether an incident in state still needs work under the
// policy (one of its open states, with the defaults when the policy leaves
// them empty).
func (p IncidentPolicy) IsOpen(state string) bool {
	if len(p.OpenStates) == 0 {
		if state == StateNew || state == StateInProgress || state == StateOnHold {
			return true
		}
	} else if slices.Contains(p.OpenStates, state) {
		return true
	}
	return slices.Contains(p.ExtraOpenStates, state)
}

// IncidentLifecycle returns the default incident lifecycle for the policy,
// not yet compiled, so a host can extend it (states, events, guards,
// effects) and pass it as Config.IncidentLifecycle.
//
// New → In Progress (start); any open state → On Hold (hold, also to change
// the reason while on hold), → Resolved (resolve, needs a known resolution
// code and notes) or → Canceled (cancel, needs a reason); On Hold → In
// Progress (resume); Resolved → In Progress (reopen, within the reopen
// window) or → Closed (close: the caller's confirmation, or CloseResolved
// after the auto-close period). propose_major, accept_major and
// reject_major (needs a reason) keep the state and run the major-incident
// approval.
//
// The guards and effects are named so a host reuses them on events of its
// own with Lifecycle.GuardFrom and EffectFrom. Guards: known_hold_reason
// (hold), resolution_code_and_notes (resolve), within_reopen_window
// (reopen), needs_reason (cancel, reject_major), not_yet_major
// (propose_major), proposed_by_another (accept_major, reject_major).
// Effects: stamp_first_response (start), keep_hold_reason (hold),
// clear_hold_reason (resume, cancel), stamp_resolved (resolve),
// count_reopen (reopen), stamp_closed (close, cancel), mark_proposed,
// mark_major, mark_rejected (the major events).
//
// To let closed incidents be reopened, make closed not final and add the
// reopen event from it; the reopen guard and effect apply to it:
//
//	IncidentLifecycle(p).NotFinal(StateClosed).Event(EventReopen, StateInProgress, StateClosed)
//
// The effects are the only way a generic write changes the fields the
// lifecycle owns (hold reason, resolution, reopen count, stamps, major
// approval): a host effect of its own that sets one of them is refused by
// the desk's write check, so reuse the default effects by name.
func IncidentLifecycle(p IncidentPolicy) *itsm.Lifecycle[*Incident] {
	checked, err := p.withDefaults()
	if err == nil {
		p = checked
	} else {
		p = p.filled()
	}
	open := p.OpenStates
	lc := itsm.NewLifecycle[*Incident](KindIncident)
	if err != nil {
		lc.Invalid("policy: " + err.Error()) // reported by Compile
	}
	lc.
		Initial(StateNew).
		States(StateInProgress, StateOnHold, StateResolved).
		Final(StateClosed, StateCanceled).
		Event(EventStart, StateInProgress, StateNew).
		Event(EventHold, StateOnHold, open...).
		Event(EventResume, StateInProgress, StateOnHold).
		Event(EventResolve, StateResolved, open...).
		Event(EventReopen, StateInProgress, StateResolved).
		Event(EventClose, StateClosed, StateResolved).
		Event(EventCancel, StateCanceled, open...)
	for _, s := range open {
		lc.Event(EventProposeMajor, s, s).Event(EventAcceptMajor, s, s).Event(EventRejectMajor, s, s)
	}
	lc.Guard(EventHold, "known_hold_reason", func(_ context.Context, i *Incident, _ itsm.Transition) error {
		if !slices.Contains(p.HoldReasons, i.HoldReason) {
			return (&itsm.ValidationError{Kind: KindIncident, ID: i.ID}).Add("hold_reason",
				fmt.Sprintf("%q is not one of %v", i.HoldReason, p.HoldReasons))
		}
		return nil
	}).
		Guard(EventResolve, "resolution_code_and_notes", func(_ context.Context, i *Incident, _ itsm.Transition) error {
			ve := &itsm.ValidationError{Kind: KindIncident, ID: i.ID}
			if !slices.Contains(p.ResolutionCodes, i.ResolutionCode) {
				ve.Add("resolution_code", fmt.Sprintf("%q is not one of %v", i.ResolutionCode, p.ResolutionCodes))
			}
			if strings.TrimSpace(i.ResolutionNotes) == "" {
				ve.Add("resolution_notes", "are required")
			}
			return ve.Err()
		}).
		Guard(EventReopen, "within_reopen_window", func(_ context.Context, i *Incident, tr itsm.Transition) error {
			if !tr.Live() {
				return nil // history is fact: the other tool reopened it then
			}
			since, what := i.ResolvedAt, "resolved"
			if tr.From == StateClosed && !i.ClosedAt.IsZero() {
				since, what = i.ClosedAt, "closed"
			}
			if tr.At.Sub(since) > p.ReopenWindow {
				return fmt.Errorf("%s at %s, more than %s before: the reopen window has passed",
					what, since.Format(time.RFC3339), p.ReopenWindow)
			}
			return nil
		}).
		Guard(EventCancel, "needs_reason", itsm.NeedsReason[*Incident]("canceling an incident needs a reason")).
		Guard(EventProposeMajor, "not_yet_major", func(_ context.Context, i *Incident, _ itsm.Transition) error {
			if i.MajorState == MajorProposed || i.MajorState == MajorAccepted {
				return fmt.Errorf("already %s as a major incident", i.MajorState)
			}
			return nil
		}).
		Guard(EventAcceptMajor, "proposed_by_another", proposedByAnother).
		Guard(EventRejectMajor, "needs_reason", itsm.NeedsReason[*Incident]("rejecting a major incident needs a reason")).
		Guard(EventRejectMajor, "proposed_by_another", proposedByAnother).
		Effect(EventStart, "stamp_first_response", func(_ context.Context, i *Incident, tr itsm.Transition) error {
			i.owns |= ownStamps
			if i.FirstResponseAt.IsZero() {
				i.FirstResponseAt = tr.At
			}
			return nil
		}).
		Effect(EventHold, "keep_hold_reason", func(_ context.Context, i *Incident, _ itsm.Transition) error {
			i.owns |= ownHold // known_hold_reason checked it
			return nil
		}).
		Effect(EventResume, "clear_hold_reason", clearHold).
		Effect(EventResolve, "stamp_resolved", func(_ context.Context, i *Incident, tr itsm.Transition) error {
			i.owns |= ownHold | ownResolution | ownStamps
			i.HoldReason, i.ResolvedAt = "", tr.At
			if i.FirstResponseAt.IsZero() {
				i.FirstResponseAt = tr.At
			}
			return nil
		}).
		Effect(EventReopen, "count_reopen", func(_ context.Context, i *Incident, _ itsm.Transition) error {
			i.owns |= ownReopen | ownResolution | ownStamps
			i.ReopenCount++
			i.ResolvedAt, i.ClosedAt, i.ResolutionCode, i.ResolutionNotes = time.Time{}, time.Time{}, "", ""
			return nil
		}).
		Effect(EventClose, "stamp_closed", stampClosed).
		Effect(EventCancel, "clear_hold_reason", clearHold).
		Effect(EventCancel, "stamp_closed", stampClosed).
		Effect(EventProposeMajor, "mark_proposed", func(_ context.Context, i *Incident, tr itsm.Transition) error {
			i.owns |= ownMajor
			i.MajorState, i.MajorProposedBy = MajorProposed, tr.Actor.ID
			return nil
		}).
		Effect(EventAcceptMajor, "mark_major", func(_ context.Context, i *Incident, _ itsm.Transition) error {
			i.owns |= ownMajor
			i.MajorState, i.Major = MajorAccepted, true
			return nil
		}).
		Effect(EventRejectMajor, "mark_rejected", func(_ context.Context, i *Incident, _ itsm.Transition) error {
			i.owns |= ownMajor
			i.MajorState, i.Major = MajorRejected, false
			return nil
		})
	return lc
}

func proposedByAnother(_ context.Context, i *Incident, tr itsm.Transition) error {
	if i.MajorState != MajorProposed {
		return errors.New("the incident is not proposed as a major incident")
	}
	if tr.Actor.ID == i.MajorProposedBy && !tr.Import {
		return errors.New("the proposer of a major incident cannot decide on it")
	}
	return nil
}

func clearHold(_ context.Context, i *Incident, _ itsm.Transition) error {
	i.owns |= ownHold
	i.HoldReason = ""
	return nil
}

func stampClosed(_ context.Context, i *Incident, tr itsm.Transition) error {
	i.owns |= ownStamps
	i.ClosedAt = tr.At
	return nil
}

// incidentCollection declares the incident kind's indexed fields and the
// composite indexes behind its queues.
func incidentCollection() *storage.Collection[Incident, *Incident] {
	str := func(name string, get func(*Incident) string) storage.FieldSpec[Incident] {
		return storage.StringField(name, get)
	}
	return storage.NewCollection[Incident](KindIncident,
		storage.IntField("priority", func(i *Incident) int64 { return int64(i.Priority) }),
		// The queues' leading fields are asked for by equality only, so the
		// composite indexes they lead serve them (CompositeOnly): one index
		// fewer each to maintain on every write and import.
		str("assignment_group", func(i *Incident) string { return i.AssignmentGroup }).CompositeOnly(),
		str("assigned_to", func(i *Incident) string { return i.AssignedTo }).CompositeOnly(),
		str("caller_id", func(i *Incident) string { return i.CallerID }).CompositeOnly(),
		str("service_id", func(i *Incident) string { return i.ServiceID }),
		str("ci_id", func(i *Incident) string { return i.CIID }),
		str("parent_id", func(i *Incident) string { return i.ParentID }).CompositeOnly(),
		str("problem_id", func(i *Incident) string { return i.ProblemID }).CompositeOnly(),
		str("known_error_id", func(i *Incident) string { return i.KnownErrorID }),
		storage.TimeField("resolved_at", func(i *Incident) time.Time { return i.ResolvedAt }),
	).
		// "my open incidents": assigned_to = me, state IN open, by priority, oldest first.
		WithIndex("incident_assignee_queue", "assigned_to", "state", "priority", "created_at").
		// "unassigned in my groups": group IN mine, assigned_to = "", state IN open.
		WithIndex("incident_group_queue", "assignment_group", "assigned_to", "state", "priority", "created_at").
		// auto-close: state = resolved, resolved_at <= cutoff.
		WithIndex("incident_auto_close", "state", "resolved_at").
		// escalation: priority = p, state IN open, created_at <= cutoff.
		WithIndex("incident_escalation", "priority", "state", "created_at").
		// the caller's "my incidents": caller_id = me, state = s, newest first.
		WithIndex("incident_caller", "caller_id", "state", "created_at").
		WithIndex("incident_children", "parent_id", "state").
		WithIndex("incident_by_problem", "problem_id", "state").
		// A note's event carries that note, not the whole thread.
		WithJournal("comments", "work_notes").
		// Callers read their own incidents, agents their groups' (and the
		// unassigned); work notes are for the desk only.
		WithAudience(itsm.Audience{Owner: "caller_id", Group: "assignment_group"}).
		WithInternal("work_notes").
		// A note is authorised as a comment or a work note, linking a
		// child as link_child, whatever else the command could claim.
		WithAction(ActionComment, "comments").
		WithAction(ActionWorkNote, "work_notes").
		WithAction(ActionLinkChild, "children")
}
