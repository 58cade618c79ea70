package operation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Problem states besides the shared new, resolved, closed and canceled.
const (
	StateAssess            = "assess"
	StateRootCauseAnalysis = "root_cause_analysis"
	StateFixInProgress     = "fix_in_progress"
)

// Problem lifecycle events; resolve, close and cancel are shared with
// incidents.
const (
	EventAssess  = "assess"
	EventAnalyze = "analyze"
	EventFix     = "fix"
)

// Known error states and events.
const (
	KEDraft      = "draft"
	KEPublished  = "published"
	KERetired    = "retired"
	EventPublish = "publish"
	EventRetire  = "retire"
)

// Problem is the unknown underlying cause of one or more incidents.
// Incidents link to it through their problem_id.
type Problem struct {
	itsm.Record
	ShortDescription string    `json:"short_description"`
	Description      string    `json:"description,omitempty"`
	ServiceID        string    `json:"service_id,omitempty"`
	CIID             string    `json:"ci_id,omitempty"`
	Category         string    `json:"category,omitempty"`
	Priority         int       `json:"priority"`
	AssignmentGroup  string    `json:"assignment_group,omitempty"`
	AssignedTo       string    `json:"assigned_to,omitempty"`
	RootCause        string    `json:"root_cause,omitempty"`
	Workaround       string    `json:"workaround,omitempty"`
	FixNotes         string    `json:"fix_notes,omitempty"`
	ResolutionCode   string    `json:"resolution_code,omitempty"` // fix_applied, risk_accepted, duplicate, canceled
	KnownErrorID     string    `json:"known_error_id,omitempty"`
	FixChangeID      string    `json:"fix_change_id,omitempty"`
	ResolvedAt       time.Time `json:"resolved_at,omitzero"`
	ClosedAt         time.Time `json:"closed_at,omitzero"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Problem resolution codes.
const (
	ProblemFixApplied   = "fix_applied"
	ProblemRiskAccepted = "risk_accepted"
	ProblemDuplicate    = "duplicate"
)

// Validate checks a problem's fields.
func (p *Problem) Validate() error {
	if p == nil {
		return itsm.Invalidf("problem: nil record")
	}
	ve := &itsm.ValidationError{Kind: KindProblem, ID: p.ID}
	if p.ShortDescription == "" || len(p.ShortDescription) > MaxShortDescription {
		ve.Add("short_description", fmt.Sprintf("is required, at most %d bytes", MaxShortDescription))
	}
	if p.Priority < 1 || p.Priority > 5 {
		ve.Add("priority", fmt.Sprintf("%d is not a priority (1..5)", p.Priority))
	}
	for f, v := range map[string]string{"description": p.Description, "root_cause": p.RootCause, "workaround": p.Workaround, "fix_notes": p.FixNotes} {
		if len(v) > MaxText {
			ve.Add(f, fmt.Sprintf("is %d bytes, at most %d", len(v), MaxText))
		}
	}
	return ve.Err()
}

// ProblemLifecycle returns the default problem lifecycle, not yet compiled:
// New → Assess → Root Cause Analysis → Fix in Progress → Resolved → Closed,
// with cancel from any open state and reopen from Resolved back to Root
// Cause Analysis. Analysis needs an assignee; fixing needs a root cause;
// resolving needs a resolution code (and a root cause for fix_applied).
func ProblemLifecycle() *itsm.Lifecycle[*Problem] {
	open := []string{StateNew, StateAssess, StateRootCauseAnalysis, StateFixInProgress}
	return itsm.NewLifecycle[*Problem](KindProblem).
		Initial(StateNew).
		States(StateAssess, StateRootCauseAnalysis, StateFixInProgress, StateResolved).
		Final(StateClosed, StateCanceled).
		Event(EventAssess, StateAssess, StateNew).
		Event(EventAnalyze, StateRootCauseAnalysis, StateAssess).
		Event(EventFix, StateFixInProgress, StateRootCauseAnalysis).
		Event(EventResolve, StateResolved, StateRootCauseAnalysis, StateFixInProgress).
		Event(EventReopen, StateRootCauseAnalysis, StateResolved).
		Event(EventClose, StateClosed, StateResolved).
		Event(EventCancel, StateCanceled, open...).
		Guard(EventAnalyze, "has_assignee", func(_ context.Context, p *Problem, _ itsm.Transition) error {
			if p.AssignmentGroup == "" {
				return errors.New("root cause analysis needs an assignment group")
			}
			return nil
		}).
		Guard(EventFix, "has_root_cause", func(_ context.Context, p *Problem, _ itsm.Transition) error {
			if strings.TrimSpace(p.RootCause) == "" {
				return errors.New("a root cause is required before the fix")
			}
			return nil
		}).
		Guard(EventResolve, "resolution_code", func(_ context.Context, p *Problem, _ itsm.Transition) error {
			switch p.ResolutionCode {
			case ProblemFixApplied:
				if strings.TrimSpace(p.RootCause) == "" {
					return errors.New("fix_applied needs a root cause")
				}
			case ProblemRiskAccepted, ProblemDuplicate:
			default:
				return fmt.Errorf("resolution code %q is not fix_applied, risk_accepted or duplicate", p.ResolutionCode)
			}
			return nil
		}).
		Effect(EventResolve, "stamp_resolved", itsm.StampAt(func(p *Problem) *time.Time { return &p.ResolvedAt })).
		Effect(EventReopen, "clear_resolution", func(_ context.Context, p *Problem, _ itsm.Transition) error {
			p.ResolvedAt, p.ResolutionCode = time.Time{}, ""
			return nil
		}).
		Effect(EventClose, "stamp_closed", itsm.StampAt(func(p *Problem) *time.Time { return &p.ClosedAt })).
		Effect(EventCancel, "stamp_closed", itsm.StampAt(func(p *Problem) *time.Time { return &p.ClosedAt }))
}

func problemCollection() *storage.Collection[Problem, *Problem] {
	return storage.NewCollection[Problem](KindProblem,
		storage.IntField("priority", func(p *Problem) int64 { return int64(p.Priority) }),
		storage.StringField("assignment_group", func(p *Problem) string { return p.AssignmentGroup }),
		storage.StringField("service_id", func(p *Problem) string { return p.ServiceID }),
	).WithIndex("problem_group_queue", "assignment_group", "state", "priority", "created_at")
}

// KnownError records a problem whose root cause or workaround is known, so
// the service desk can apply the workaround to new incidents at once. It is
// drafted, published and eventually retired.
type KnownError struct {
	itsm.Record
	ProblemID        string    `json:"problem_id"`
	ShortDescription string    `json:"short_description"`
	Symptoms         string    `json:"symptoms,omitempty"`
	RootCause        string    `json:"root_cause,omitempty"`
	Workaround       string    `json:"workaround"`
	ServiceID        string    `json:"service_id,omitempty"`
	CIID             string    `json:"ci_id,omitempty"`
	PublishedAt      time.Time `json:"published_at,omitzero"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks a known error's fields.
func (k *KnownError) Validate() error {
	if k == nil {
		return itsm.Invalidf("known error: nil record")
	}
	ve := &itsm.ValidationError{Kind: KindKnownError, ID: k.ID}
	if k.ProblemID == "" {
		ve.Add("problem_id", "is required")
	}
	if k.ShortDescription == "" || len(k.ShortDescription) > MaxShortDescription {
		ve.Add("short_description", fmt.Sprintf("is required, at most %d bytes", MaxShortDescription))
	}
	if len(k.Workaround) > MaxText || len(k.Symptoms) > MaxText || len(k.RootCause) > MaxText {
		ve.Add("workaround", fmt.Sprintf("texts are at most %d bytes", MaxText))
	}
	return ve.Err()
}

// KnownErrorLifecycle returns the known error lifecycle: draft → published
// (needs a workaround) → retired.
func KnownErrorLifecycle() *itsm.Lifecycle[*KnownError] {
	return itsm.NewLifecycle[*KnownError](KindKnownError).
		Initial(KEDraft).States(KEPublished).Final(KERetired).
		Event(EventPublish, KEPublished, KEDraft).
		Event(EventRetire, KERetired, KEDraft, KEPublished).
		Guard(EventPublish, "has_workaround", func(_ context.Context, k *KnownError, _ itsm.Transition) error {
			if strings.TrimSpace(k.Workaround) == "" {
				return errors.New("a known error is published with its workaround")
			}
			return nil
		}).
		Effect(EventPublish, "stamp_published", itsm.StampAt(func(k *KnownError) *time.Time { return &k.PublishedAt }))
}

func knownErrorCollection() *storage.Collection[KnownError, *KnownError] {
	return storage.NewCollection[KnownError](KindKnownError,
		storage.StringField("problem_id", func(k *KnownError) string { return k.ProblemID }),
		storage.StringField("ci_id", func(k *KnownError) string { return k.CIID }),
	)
}

// OpenProblem records a new problem. Priority defaults to 3.
func (d *Desk) OpenProblem(ctx context.Context, p *Problem, cmd storage.Command) error {
	if p == nil {
		return itsm.Invalidf("problem: nil record")
	}
	if p.Priority == 0 {
		p.Priority = PriorityModerate
	}
	p.ResolutionCode, p.KnownErrorID, p.ResolvedAt, p.ClosedAt = "", "", time.Time{}, time.Time{}
	return d.problems.Create(ctx, p, cmd)
}

// UpdateProblem edits a problem's fields (root cause, workaround, fix notes,
// assignment) without a state change.
func (d *Desk) UpdateProblem(ctx context.Context, id string, cmd storage.Command, edit func(*Problem) error) (*Problem, error) {
	if edit == nil {
		return nil, itsm.Invalidf("problem %s: update without an edit", id)
	}
	return d.problems.Change(ctx, id, cmd, func(p *Problem) error {
		if p.State == StateClosed || p.State == StateCanceled {
			return refuse(KindProblem, &p.Record, itsm.EventUpdate, "a "+p.State+" problem cannot be edited")
		}
		ke, res := p.KnownErrorID, p.ResolutionCode
		if err := edit(p); err != nil {
			return err
		}
		if p.KnownErrorID != ke || p.ResolutionCode != res {
			return (&itsm.ValidationError{Kind: KindProblem, ID: p.ID}).Add("update", "known error and resolution have their own commands")
		}
		return nil
	})
}

// MoveProblem fires a lifecycle event (assess, analyze, fix, reopen, close,
// cancel) on a problem. Use ResolveProblem to resolve.
func (d *Desk) MoveProblem(ctx context.Context, id, event string, cmd storage.Command) (*Problem, error) {
	switch event {
	case EventResolve:
		return nil, itsm.Invalidf("problem %s: resolve through ResolveProblem", id)
	case "":
		return nil, itsm.Invalidf("problem %s: no event to fire", id)
	}
	return d.problems.Fire(ctx, id, event, cmd, nil)
}

// LinkIncidentToProblem links an open incident to a problem that is not
// closed or canceled.
func (d *Desk) LinkIncidentToProblem(ctx context.Context, incidentID, problemID string, cmd storage.Command) (*Incident, error) {
	var out *Incident
	err := d.update(ctx, func(tx storage.Tx) error {
		p, err := d.problems.Collection().Get(ctx, tx, problemID)
		if err != nil {
			return err
		}
		if p.State == StateClosed || p.State == StateCanceled {
			return (&itsm.ValidationError{Kind: KindIncident, ID: incidentID}).Add("problem_id", p.Number+" is "+p.State)
		}
		out, err = d.incidents.ChangeTx(ctx, tx, incidentID, cmd, func(i *Incident) error {
			if !d.IsOpen(i) {
				return refuse(KindIncident, &i.Record, "link_problem", "a "+i.State+" incident cannot be linked")
			}
			i.ProblemID = problemID
			i.owns |= ownLinks
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PublishKnownError records the problem's root cause and workaround as a
// published known error and links the problem to it, in one unit of work.
// The problem must be in root cause analysis, fix in progress or resolved,
// and have a workaround.
func (d *Desk) PublishKnownError(ctx context.Context, problemID string, cmd storage.Command) (*KnownError, error) {
	var out *KnownError
	err := d.update(ctx, func(tx storage.Tx) error {
		p, err := d.problems.Collection().Get(ctx, tx, problemID)
		if err != nil {
			return err
		}
		switch p.State {
		case StateRootCauseAnalysis, StateFixInProgress, StateResolved:
		default:
			return refuse(KindProblem, &p.Record, EventPublish, "a known error is published from analysis, fix or resolution, not "+p.State)
		}
		if p.KnownErrorID != "" {
			return refuse(KindProblem, &p.Record, EventPublish, "the problem already has a known error")
		}
		ke := &KnownError{ProblemID: p.ID, ShortDescription: p.ShortDescription, Symptoms: p.Description,
			RootCause: p.RootCause, Workaround: p.Workaround, ServiceID: p.ServiceID, CIID: p.CIID}
		if err := d.knownErrors.CreateTx(ctx, tx, ke, cmd); err != nil {
			return err
		}
		if out, err = d.knownErrors.FireTx(ctx, tx, ke.ID, EventPublish, cmd, nil); err != nil {
			return err
		}
		_, err = d.problems.ChangeTx(ctx, tx, p.ID, cmd, func(p *Problem) error {
			p.KnownErrorID = ke.ID
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LinkedIncidents controls what resolving a problem does to its open
// incidents.
type LinkedIncidents uint8

// What ResolveProblem does with the problem's open incidents.
const (
	// NotifyLinked adds a work note to each open linked incident and
	// notifies its assignee (or group) through the Notifier.
	NotifyLinked LinkedIncidents = iota
	// ResolveLinked resolves each open linked incident (code
	// solved_permanently, the problem's fix notes), in the same unit of
	// work as the problem.
	ResolveLinked
)

// ResolveProblem resolves the problem with a resolution code and fix notes
// and then resolves or notifies its open incidents, all in one unit of
// work: if one incident cannot be resolved nothing is written. It returns
// the problem and the numbers of the incidents it touched.
func (d *Desk) ResolveProblem(ctx context.Context, id, code, fixNotes string, linked LinkedIncidents, cmd storage.Command) (*Problem, []string, error) {
	if linked != NotifyLinked && linked != ResolveLinked {
		return nil, nil, itsm.Invalidf("problem %s: unknown linked-incident action %d", id, linked)
	}
	var (
		out     *Problem
		touched []string
		notes   []Notification
	)
	err := d.update(ctx, func(tx storage.Tx) error {
		touched, notes = nil, nil
		var err error
		out, err = d.problems.FireTx(ctx, tx, id, EventResolve, cmd, func(p *Problem) error {
			p.ResolutionCode = code
			if fixNotes != "" {
				p.FixNotes = fixNotes
			}
			return nil
		})
		if err != nil {
			return err
		}
		ids, err := d.openIDsBy(ctx, tx, "problem_id", id)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("Problem %s resolved (%s): %s", out.Number, code, out.FixNotes)
		icmd := storage.Command{Reason: "problem " + out.Number + " resolved", At: cmd.At}
		for _, iid := range ids {
			cur, err := d.incidents.Collection().Get(ctx, tx, iid)
			if err != nil {
				return err
			}
			if !d.IsOpen(cur) {
				continue // resolved earlier in this unit with its parent
			}
			var inc *Incident
			if linked == ResolveLinked {
				inc, err = d.resolveTx(ctx, tx, iid, ResolvedPermanently, text, icmd)
			} else {
				actor, _ := itsm.ActorFrom(ctx)
				inc, err = d.incidents.ChangeTx(ctx, tx, iid, icmd, func(i *Incident) error {
					i.WorkNotes = append(i.WorkNotes, Note{At: d.now(), Author: actor.ID, Text: text})
					i.owns |= ownJournal
					return nil
				})
			}
			if err != nil {
				return fmt.Errorf("problem %s: incident %s: %w", out.Number, iid, err)
			}
			touched = append(touched, inc.Number)
			to := inc.AssignedTo
			if to == "" {
				to = inc.AssignmentGroup
			}
			notes = append(notes, Notification{Kind: KindIncident, RecordID: inc.ID, Number: inc.Number, Topic: "problem_resolved",
				To: []string{to}, Subject: inc.Number + ": problem " + out.Number + " resolved", Body: text})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, touched, d.notify(ctx, notes)
}
