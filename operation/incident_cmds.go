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

// update runs fn in one unit of work, trying again after a version conflict
// with a concurrent writer (fn re-reads everything it needs through its Tx):
// storage.Retry with its default attempts.
func (d *Desk) update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if ctx == nil {
		return itsm.Invalidf("operation: nil context")
	}
	return storage.Retry(ctx, d.backend, 0, fn)
}

// refuse builds the error for a command the record's state does not allow.
func refuse(kind string, m *itsm.Record, action, reason string) error {
	return &itsm.TransitionError{Kind: kind, ID: m.ID, Number: m.Number, From: m.State, Event: action, Reason: reason}
}

// OpenIncident raises an incident. The caller defaults to the actor; the
// priority comes from the policy's matrix unless inc.PriorityOverrideReason
// justifies the inc.Priority given; an assignee must belong to the
// assignment group; a known error (which must be published) gives the
// incident its workaround and problem; a parent must exist and be open.
// Fields the lifecycle owns (counts, hold reason, resolution, major-incident
// approval, timestamps, escalations) are cleared. On success inc holds the
// stored record (id, number, state "new").
func (d *Desk) OpenIncident(ctx context.Context, inc *Incident, cmd storage.Command) error {
	if ctx == nil || inc == nil {
		return itsm.Invalidf("incident: nil context or record")
	}
	actor, _ := itsm.ActorFrom(ctx)
	if inc.CallerID == "" {
		inc.CallerID = actor.ID
	}
	inc.OpenedBy = actor.ID
	inc.ReassignmentCount, inc.ReopenCount, inc.HoldReason = 0, 0, ""
	inc.ResolutionCode, inc.ResolutionNotes = "", ""
	inc.Major, inc.MajorState, inc.MajorProposedBy = false, "", ""
	inc.FirstResponseAt, inc.ResolvedAt, inc.ClosedAt = time.Time{}, time.Time{}, time.Time{}
	inc.Escalations, inc.Workaround, inc.Children = nil, "", 0
	if err := d.checkPriority(ctx, inc); err != nil {
		return err
	}
	if err := d.checkAssignee(ctx, inc, inc.AssignmentGroup, inc.AssignedTo); err != nil {
		return err
	}
	orig := *inc
	return d.update(ctx, func(tx storage.Tx) error {
		*inc = orig
		inc.owns = ownLinks // checked by linkOnOpen
		if err := d.linkOnOpen(ctx, tx, inc); err != nil {
			return err
		}
		if err := d.incidents.CreateTx(ctx, tx, inc, cmd); err != nil {
			return err
		}
		if inc.ParentID != "" {
			return d.countChildTx(ctx, tx, inc.ParentID, inc.Number, cmd)
		}
		return nil
	})
}

// countChildTx records on the parent that a child was linked, authorised
// as ActionLinkChild: the parent is written, so a concurrent resolution of
// the parent, or a link of the parent under another, conflicts with the
// link and its retry decides on fresh data.
func (d *Desk) countChildTx(ctx context.Context, tx storage.Tx, parentID, child string, cmd storage.Command) error {
	_, err := d.incidents.ChangeTx(ctx, tx, parentID, storage.Command{Reason: "child " + child + " linked", At: cmd.At},
		func(p *Incident) error {
			// Checked again on the version written: the store may have
			// moved on since the caller's checks read the parent.
			switch {
			case !d.IsOpen(p):
				return (&itsm.ValidationError{Kind: KindIncident}).Add("parent_id", p.Number+" is "+p.State+", not open")
			case p.ParentID != "":
				return (&itsm.ValidationError{Kind: KindIncident}).Add("parent_id", p.Number+" is itself a child incident")
			}
			p.Children++
			p.owns |= ownLinks
			return nil
		})
	return err
}

// linkOnOpen checks the known error and parent an incident names at
// creation and copies the known error's workaround.
func (d *Desk) linkOnOpen(ctx context.Context, tx storage.Tx, inc *Incident) error {
	if inc.KnownErrorID != "" {
		ke, err := d.knownErrors.Collection().Get(ctx, tx, inc.KnownErrorID)
		if err != nil {
			return fmt.Errorf("incident: known_error_id %s: %w", inc.KnownErrorID, err)
		}
		if ke.State != KEPublished {
			return (&itsm.ValidationError{Kind: KindIncident}).Add("known_error_id", ke.Number+" is "+ke.State+", not published")
		}
		inc.Workaround = ke.Workaround
		if inc.ProblemID == "" {
			inc.ProblemID = ke.ProblemID
		}
	}
	if inc.ProblemID != "" {
		if _, err := d.problems.Collection().Get(ctx, tx, inc.ProblemID); err != nil {
			return fmt.Errorf("incident: problem_id %s: %w", inc.ProblemID, err)
		}
	}
	if inc.ParentID != "" {
		p, err := d.incidents.Collection().Get(ctx, tx, inc.ParentID)
		if err != nil {
			return fmt.Errorf("incident: parent_id %s: %w", inc.ParentID, err)
		}
		if !d.IsOpen(p) {
			return (&itsm.ValidationError{Kind: KindIncident}).Add("parent_id", p.Number+" is "+p.State+", not open")
		}
		if p.ParentID != "" {
			return (&itsm.ValidationError{Kind: KindIncident}).Add("parent_id", p.Number+" is itself a child incident")
		}
	}
	return nil
}

// checkPriority derives the priority from impact and urgency, or checks an
// override.
func (d *Desk) checkPriority(ctx context.Context, inc *Incident) error {
	p, err := d.matrix(ctx).Priority(inc.Impact, inc.Urgency)
	if err != nil {
		var ve *itsm.ValidationError
		if errors.As(err, &ve) {
			ve.ID = inc.ID
		}
		return err
	}
	if inc.PriorityOverrideReason == "" {
		if inc.Priority != 0 && inc.Priority != p {
			return (&itsm.ValidationError{Kind: KindIncident, ID: inc.ID}).Add("priority",
				fmt.Sprintf("%d differs from the matrix's %d for impact %d and urgency %d; give priority_override_reason to override",
					inc.Priority, p, inc.Impact, inc.Urgency))
		}
		inc.Priority = p
		return nil
	}
	if inc.Priority < 1 || inc.Priority > 5 {
		return (&itsm.ValidationError{Kind: KindIncident, ID: inc.ID}).Add("priority", fmt.Sprintf("%d is not a priority (1..5)", inc.Priority))
	}
	return nil
}

// checkAssignee refuses an assignee outside the group, through the
// Directory.
func (d *Desk) checkAssignee(ctx context.Context, inc *Incident, group, person string) error {
	if person == "" {
		return nil
	}
	ve := &itsm.ValidationError{Kind: KindIncident, ID: inc.ID}
	if group == "" {
		return ve.Add("assignment_group", "is required to assign "+person)
	}
	if d.cfg.Directory == nil {
		return nil
	}
	ok, err := d.cfg.Directory.IsMember(ctx, group, person)
	if err != nil {
		return fmt.Errorf("incident %s: directory lookup of %s in %s: %w", inc.Number, person, group, err)
	}
	if !ok {
		return ve.Add("assigned_to", fmt.Sprintf("%s is not a member of assignment group %s", person, group))
	}
	return nil
}

// AssignIncident sets the assignment group and assignee (person may be ""
// to leave the incident with the group). Each change of an existing
// assignment counts one reassignment. The assignee must belong to the group.
// It writes an "update" event whose changes include assignment_group and
// assigned_to.
func (d *Desk) AssignIncident(ctx context.Context, id, group, person string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Change(ctx, id, cmd, func(i *Incident) error {
		if !d.IsOpen(i) {
			return refuse(KindIncident, &i.Record, "assign", "a "+i.State+" incident cannot be reassigned")
		}
		if group == "" {
			return (&itsm.ValidationError{Kind: KindIncident, ID: i.ID}).Add("assignment_group", "is required")
		}
		if group == i.AssignmentGroup && person == i.AssignedTo {
			return nil
		}
		if err := d.checkAssignee(ctx, i, group, person); err != nil {
			return err
		}
		if i.AssignmentGroup != "" && group != i.AssignmentGroup || i.AssignedTo != "" && person != i.AssignedTo {
			i.ReassignmentCount++
		}
		i.AssignmentGroup, i.AssignedTo = group, person
		return nil
	})
}

// TakeIncident assigns an open incident to the actor and, when it is new,
// starts it, in one unit of work: two agents pressing Take at once do not
// both succeed, and the one told success owns it. The incident must have
// an assignment group the actor belongs to (by the Directory when there is
// one, by the actor's groups otherwise); otherwise the take is refused with an *itsm.ValidationError
// naming assignment_group or assigned_to. When another person holds the
// incident the take is refused with an error matching itsm.ErrConflict,
// unless reassign is set, which takes it over (counting a reassignment).
// Taking an incident one already holds only starts it if it is new.
func (d *Desk) TakeIncident(ctx context.Context, id string, reassign bool, cmd storage.Command) (*Incident, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("incident: nil context")
	}
	actor, ok := itsm.ActorFrom(ctx)
	if !ok || actor.ID == "" {
		return nil, &itsm.ForbiddenError{Kind: KindIncident, Action: "take", Reason: "no actor in context"}
	}
	var out *Incident
	err := d.update(ctx, func(tx storage.Tx) error {
		var err error
		out, err = d.incidents.ChangeTx(ctx, tx, id, cmd, func(i *Incident) error {
			if !d.IsOpen(i) {
				return refuse(KindIncident, &i.Record, "take", "a "+i.State+" incident cannot be taken")
			}
			if i.AssignedTo == actor.ID {
				return nil
			}
			if i.AssignedTo != "" && !reassign {
				// No fresh read changes who holds it: not retried.
				return storage.Final(fmt.Errorf("incident %s: %w: held by %s; take it over with reassign",
					i.Number, itsm.ErrConflict, i.AssignedTo))
			}
			if i.AssignmentGroup == "" {
				return (&itsm.ValidationError{Kind: KindIncident, ID: i.ID}).Add("assignment_group", "is required to take the incident")
			}
			// The Directory, when there is one, decides membership, as it
			// does for every assignment; otherwise the actor's groups.
			member := actor.InGroup(i.AssignmentGroup)
			if d.cfg.Directory != nil {
				if member, err = d.cfg.Directory.IsMember(ctx, i.AssignmentGroup, actor.ID); err != nil {
					return fmt.Errorf("incident %s: directory lookup of %s in %s: %w", i.Number, actor.ID, i.AssignmentGroup, err)
				}
			}
			if !member {
				return (&itsm.ValidationError{Kind: KindIncident, ID: i.ID}).Add("assigned_to",
					fmt.Sprintf("%s is not a member of assignment group %s", actor.ID, i.AssignmentGroup))
			}
			if i.AssignedTo != "" {
				i.ReassignmentCount++
			}
			i.AssignedTo = actor.ID
			return nil
		})
		if err != nil || out.State != StateNew {
			return err
		}
		out, err = d.incidents.FireTx(ctx, tx, id, EventStart, storage.Command{Reason: cmd.Reason, At: cmd.At}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// protected lists what UpdateIncident may not change: the fields the
// lifecycle, assignment, journal and escalation commands own.
func protected(i *Incident) string {
	return fmt.Sprint(i.AssignmentGroup, "|", i.AssignedTo, "|", i.ReassignmentCount, "|", i.ReopenCount, "|",
		i.HoldReason, "|", i.ResolutionCode, "|", i.ResolutionNotes, "|", i.Major, i.MajorState, i.MajorProposedBy, "|",
		i.FirstResponseAt, i.ResolvedAt, i.ClosedAt, "|", i.Escalations, len(i.WorkNotes), len(i.Comments), "|",
		i.OpenedBy, "|", i.Workaround, "|", i.KnownErrorID, "|", i.ParentID, "|", i.ProblemID, "|", i.Children)
}

// UpdateIncident edits an open incident's descriptive fields (description,
// category, service, CI, impact, urgency, caused-by change, contact type,
// ...) through edit, and writes an "update" event listing the changes. The
// priority follows impact and urgency through the matrix unless it was
// overridden. Fields owned by other commands (assignment, hold, resolution,
// major approval, journal, links to parent and known error) are refused.
func (d *Desk) UpdateIncident(ctx context.Context, id string, cmd storage.Command, edit func(*Incident) error) (*Incident, error) {
	if edit == nil {
		return nil, itsm.Invalidf("incident %s: update without an edit", id)
	}
	return d.incidents.Change(ctx, id, cmd, func(i *Incident) error {
		if !d.IsOpen(i) {
			return refuse(KindIncident, &i.Record, itsm.EventUpdate, "a "+i.State+" incident cannot be edited")
		}
		before, prio, override := protected(i), i.Priority, i.PriorityOverrideReason
		if err := edit(i); err != nil {
			return err
		}
		if protected(i) != before {
			return (&itsm.ValidationError{Kind: KindIncident, ID: i.ID}).Add("update",
				"assignment, hold, resolution, major approval, journal and links have their own commands")
		}
		if i.PriorityOverrideReason != override || i.Priority != prio {
			return (&itsm.ValidationError{Kind: KindIncident, ID: i.ID}).Add("priority", "use OverridePriority to override the priority")
		}
		if override == "" {
			i.Priority = 0
		}
		return d.checkPriority(ctx, i)
	})
}

// OverridePriority sets a priority other than the matrix's and records the
// reason, on the incident (priority_override_reason) and on the event.
// An empty reason is refused; priority 0 removes the override and returns to
// the matrix's value. reason is the event's reason too: cmd.Reason must be
// empty or the same text (anything else is refused, not dropped).
func (d *Desk) OverridePriority(ctx context.Context, id string, priority int, reason string, cmd storage.Command) (*Incident, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, (&itsm.ValidationError{Kind: KindIncident, ID: id}).Add("priority_override_reason", "is required")
	}
	if err := reasonOnce(KindIncident, id, reason, cmd); err != nil {
		return nil, err
	}
	cmd.Reason = reason
	return d.incidents.Change(ctx, id, cmd, func(i *Incident) error {
		if !d.IsOpen(i) {
			return refuse(KindIncident, &i.Record, "override_priority", "a "+i.State+" incident keeps its priority")
		}
		if priority == 0 {
			i.Priority, i.PriorityOverrideReason = 0, ""
		} else {
			i.Priority, i.PriorityOverrideReason = priority, reason
		}
		return d.checkPriority(ctx, i)
	})
}

// reasonOnce refuses a command whose Reason differs from the reason a
// command takes as an argument, which replaces it: a caller's reason is
// never silently dropped.
func reasonOnce(kind, id, reason string, cmd storage.Command) error {
	if cmd.Reason != "" && cmd.Reason != reason {
		return (&itsm.ValidationError{Kind: kind, ID: id}).Add("reason", "is given as the argument; leave Command.Reason empty")
	}
	return nil
}

// AddWorkNote appends an internal work note, authorised as the action
// ActionWorkNote (the default authorizer allows agents, not callers).
func (d *Desk) AddWorkNote(ctx context.Context, id, text string, cmd storage.Command) (*Incident, error) {
	return d.journal(ctx, id, text, false, cmd)
}

// AddComment appends a comment visible to the caller, authorised as the
// action ActionComment: the default authorizer lets a caller comment on
// their own incident, without the right to update its other fields. A
// comment by anyone but the caller is the incident's first response if
// none was recorded.
func (d *Desk) AddComment(ctx context.Context, id, text string, cmd storage.Command) (*Incident, error) {
	return d.journal(ctx, id, text, true, cmd)
}

func (d *Desk) journal(ctx context.Context, id, text string, comment bool, cmd storage.Command) (*Incident, error) {
	field := "work_notes"
	if comment {
		field = "comments"
	}
	if strings.TrimSpace(text) == "" || len(text) > MaxText {
		return nil, (&itsm.ValidationError{Kind: KindIncident, ID: id}).Add(field, fmt.Sprintf("a note needs 1..%d bytes of text", MaxText))
	}
	actor, _ := itsm.ActorFrom(ctx)
	return d.incidents.Change(ctx, id, cmd, func(i *Incident) error {
		if i.State == StateClosed || i.State == StateCanceled {
			return refuse(KindIncident, &i.Record, field, "a "+i.State+" incident takes no more notes")
		}
		i.owns |= ownJournal | ownStamps
		n := Note{At: d.now(), Author: actor.ID, Text: text}
		if comment {
			i.Comments = append(i.Comments, n)
			if actor.ID != i.CallerID && i.FirstResponseAt.IsZero() {
				i.FirstResponseAt = n.At
			}
		} else {
			i.WorkNotes = append(i.WorkNotes, n)
		}
		return nil
	})
}

// StartIncident moves a new incident to In Progress.
func (d *Desk) StartIncident(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventStart, cmd, nil)
}

// HoldIncident puts an open incident on hold for reason (one of the
// policy's hold reasons), or changes the reason while on hold.
func (d *Desk) HoldIncident(ctx context.Context, id, reason string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventHold, cmd, func(i *Incident) error {
		i.HoldReason = reason
		return nil
	})
}

// ResumeIncident returns an incident on hold to In Progress.
func (d *Desk) ResumeIncident(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventResume, cmd, nil)
}

// ResolveIncident resolves an open incident with a resolution code and
// notes. Its open child incidents are resolved with the same code and notes
// in the same unit of work: all resolve or none does.
func (d *Desk) ResolveIncident(ctx context.Context, id, code, notes string, cmd storage.Command) (*Incident, error) {
	var out *Incident
	err := d.update(ctx, func(tx storage.Tx) error {
		var err error
		out, err = d.resolveTx(ctx, tx, id, code, notes, cmd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *Desk) resolveTx(ctx context.Context, tx storage.Tx, id, code, notes string, cmd storage.Command) (*Incident, error) {
	setRes := func(i *Incident) error {
		i.ResolutionCode, i.ResolutionNotes = code, notes
		return nil
	}
	parent, err := d.incidents.FireTx(ctx, tx, id, EventResolve, cmd, setRes)
	if err != nil {
		return nil, err
	}
	children, err := d.openChildren(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	childCmd := storage.Command{Reason: "resolved with parent " + parent.Number, At: cmd.At}
	for _, c := range children {
		cur, err := d.incidents.Collection().Get(ctx, tx, c)
		if err != nil {
			return nil, err
		}
		if !d.IsOpen(cur) {
			continue // already resolved earlier in this unit of work
		}
		if _, err := d.incidents.FireTx(ctx, tx, c, EventResolve, childCmd, setRes); err != nil {
			return nil, fmt.Errorf("resolving child of %s: %w", parent.Number, err)
		}
	}
	return parent, nil
}

// openChildren lists the ids of the open child incidents of parent.
func (d *Desk) openChildren(ctx context.Context, q storage.Querier, parent string) ([]string, error) {
	return d.openIDsBy(ctx, q, "parent_id", parent)
}

// openIDsBy lists the ids of the open incidents whose field equals value.
func (d *Desk) openIDsBy(ctx context.Context, q storage.Querier, field, value string) ([]string, error) {
	query := storage.Query{Kind: KindIncident, Limit: storage.MaxLimit, Filters: []storage.Filter{
		storage.Eq(field, storage.String(value)), storage.In("state", stateValues(d.cfg.Incident.OpenStates)...)}}
	var ids []string
	for {
		page, err := q.Query(ctx, query)
		if err != nil {
			return nil, err
		}
		for _, doc := range page.Docs {
			ids = append(ids, doc.ID)
		}
		if page.Next == "" {
			return ids, nil
		}
		query.Cursor = page.Next
	}
}

func stateValues(states []string) []storage.Value {
	vs := make([]storage.Value, len(states))
	for i, s := range states {
		vs[i] = storage.String(s)
	}
	return vs
}

// ReopenIncident returns a resolved incident to In Progress within the
// reopen window, counting the reopen.
func (d *Desk) ReopenIncident(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventReopen, cmd, nil)
}

// CloseIncident closes a resolved incident: the caller's confirmation.
func (d *Desk) CloseIncident(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventClose, cmd, nil)
}

// CancelIncident cancels an open incident (raised in error, a duplicate).
// The reason is required: without one the lifecycle's needs_reason guard
// refuses with a *itsm.TransitionError wrapping a *itsm.ValidationError on
// "reason" (matching both ErrInvalidTransition and ErrInvalid), as every
// pillar's cancel does.
func (d *Desk) CancelIncident(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventCancel, cmd, nil)
}

// ProposeMajor proposes an open incident as a major incident; a major
// incident manager other than the proposer accepts or rejects it.
func (d *Desk) ProposeMajor(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventProposeMajor, cmd, nil)
}

// AcceptMajor accepts a proposed major incident (major becomes true).
func (d *Desk) AcceptMajor(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventAcceptMajor, cmd, nil)
}

// RejectMajor rejects a proposed major incident; a reason is required.
func (d *Desk) RejectMajor(ctx context.Context, id string, cmd storage.Command) (*Incident, error) {
	return d.incidents.Fire(ctx, id, EventRejectMajor, cmd, nil)
}

// LinkChild makes child a child of parent: both must be open, the parent not
// itself a child, the child without children of its own and not the
// parent's child already (ErrInvalid).
func (d *Desk) LinkChild(ctx context.Context, parentID, childID string, cmd storage.Command) (*Incident, error) {
	var out *Incident
	err := d.update(ctx, func(tx storage.Tx) error {
		p, err := d.incidents.Collection().Get(ctx, tx, parentID)
		if err != nil {
			return err
		}
		switch {
		case parentID == childID:
			return (&itsm.ValidationError{Kind: KindIncident, ID: childID}).Add("parent_id", "an incident cannot be its own parent")
		case !d.IsOpen(p):
			return (&itsm.ValidationError{Kind: KindIncident, ID: childID}).Add("parent_id", p.Number+" is "+p.State+", not open")
		case p.ParentID != "":
			return (&itsm.ValidationError{Kind: KindIncident, ID: childID}).Add("parent_id", p.Number+" is itself a child incident")
		}
		grand, err := d.openChildren(ctx, tx, childID)
		if err != nil {
			return err
		}
		if len(grand) > 0 {
			return (&itsm.ValidationError{Kind: KindIncident, ID: childID}).Add("parent_id", "the incident has children of its own")
		}
		out, err = d.incidents.ChangeTx(ctx, tx, childID, cmd, func(c *Incident) error {
			if !d.IsOpen(c) {
				return refuse(KindIncident, &c.Record, "link_parent", "a "+c.State+" incident cannot be linked")
			}
			if c.ParentID == parentID {
				// Linked already: counting it again would make the
				// parent's child count a phantom write.
				return (&itsm.ValidationError{Kind: KindIncident, ID: childID}).Add("parent_id", "the incident is a child of "+p.Number+" already")
			}
			// Again on the version written: a child linked to this one
			// meanwhile has committed with the parent's count, so either
			// it shows here or the write conflicts.
			grand, err := d.openChildren(ctx, tx, childID)
			if err != nil {
				return err
			}
			if len(grand) > 0 {
				return (&itsm.ValidationError{Kind: KindIncident, ID: childID}).Add("parent_id", "the incident has children of its own")
			}
			c.ParentID = parentID
			c.owns |= ownLinks
			return nil
		})
		if err != nil {
			return err
		}
		return d.countChildTx(ctx, tx, parentID, out.Number, cmd)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CloseResolved closes every incident resolved at least the policy's
// AutoCloseAfter before now, as the host's scheduler calls it, and returns
// how many it closed. The actor in ctx (a system actor) is recorded on each
// close event. A record changed concurrently is left for the next run.
//
// As ServiceNow's auto-close job, it closes at its run time: each close is
// stamped with the desk's clock, and now only picks which incidents are
// due. A zero now, or one after the clock's now, is ErrInvalid and closes
// nothing: a close cannot be decided by a time that has not come.
func (d *Desk) CloseResolved(ctx context.Context, now time.Time) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("operation: nil context")
	}
	if now.IsZero() {
		return 0, itsm.Invalidf("operation: auto-close at the zero time")
	}
	if clock := d.clock.Now(); now.After(clock) {
		return 0, itsm.Invalidf("operation: auto-close at %s, after the clock's now %s",
			now.UTC().Format(time.RFC3339Nano), clock.UTC().Format(time.RFC3339Nano))
	}
	cutoff := now.Add(-d.cfg.Incident.AutoCloseAfter)
	q := storage.Query{Kind: KindIncident, Limit: 200,
		Filters: []storage.Filter{storage.Eq("state", storage.String(StateResolved)), storage.Lte("resolved_at", storage.Time(cutoff))},
		Sort:    []storage.Sort{{Field: "resolved_at"}}}
	closed := 0
	for {
		page, err := d.backend.Query(ctx, q)
		if err != nil {
			return closed, err
		}
		for _, doc := range page.Docs {
			_, err := d.incidents.Fire(ctx, doc.ID, EventClose, storage.Command{Reason: "closed automatically after " + d.cfg.Incident.AutoCloseAfter.String()}, nil)
			switch {
			case err == nil:
				closed++
			case errors.Is(err, itsm.ErrInvalidTransition) || errors.Is(err, itsm.ErrConflict) || errors.Is(err, itsm.ErrNotFound):
				// reopened or closed meanwhile: nothing to do.
			default:
				return closed, err
			}
		}
		if page.Next == "" {
			return closed, nil
		}
		q.Cursor = page.Next
	}
}

// MyOpenIncidents is the "my open incidents" queue: incidents assigned to
// the actor in an open state, by priority then age, one page at a time.
func (d *Desk) MyOpenIncidents(ctx context.Context, p storage.Paging) ([]*Incident, string, error) {
	actor, err := d.reader(ctx)
	if err != nil {
		return nil, "", err
	}
	var parts []queuePart
	for _, s := range d.cfg.Incident.OpenStates {
		parts = append(parts, queuePart{filters: []storage.Filter{storage.Eq("assigned_to", storage.String(actor.ID)), storage.Eq("state", storage.String(s))}})
	}
	return d.mergedQueue(ctx, p, byPriority, parts)
}

// byPriority is the agents' queues' order: priority, then oldest first.
var byPriority = []storage.Sort{{Field: "priority"}, {Field: "created_at"}}

// MyRequestedIncidents is the caller's "my incidents" list: the incidents
// whose caller is the actor, the open ones first, each group newest first,
// one page at a time. It walks the incident_caller index once per state,
// so a page costs the same however many incidents the caller has.
func (d *Desk) MyRequestedIncidents(ctx context.Context, p storage.Paging) ([]*Incident, string, error) {
	actor, err := d.reader(ctx)
	if err != nil {
		return nil, "", err
	}
	var parts []queuePart
	for _, s := range d.incidents.Machine().States() {
		tier := 1
		if d.cfg.Incident.IsOpen(s) {
			tier = 0
		}
		parts = append(parts, queuePart{tier: tier, filters: []storage.Filter{
			storage.Eq("caller_id", storage.String(actor.ID)), storage.Eq("state", storage.String(s))}})
	}
	return d.mergedQueue(ctx, p, []storage.Sort{{Field: "created_at", Desc: true}}, parts)
}

// UnassignedInMyGroups is the "unassigned in my groups" queue: open
// incidents of the actor's assignment groups with no assignee, by priority
// then age.
func (d *Desk) UnassignedInMyGroups(ctx context.Context, p storage.Paging) ([]*Incident, string, error) {
	actor, err := d.reader(ctx)
	if err != nil {
		return nil, "", err
	}
	if _, err := p.ResolveLimit(); err != nil {
		return nil, "", err
	}
	if len(actor.Groups) == 0 {
		return nil, "", nil
	}
	groups := slices.Clone(actor.Groups)
	slices.Sort(groups)
	var parts []queuePart
	for _, g := range slices.Compact(groups) {
		for _, s := range d.cfg.Incident.OpenStates {
			parts = append(parts, queuePart{filters: []storage.Filter{storage.Eq("assignment_group", storage.String(g)),
				storage.Eq("assigned_to", storage.String("")), storage.Eq("state", storage.String(s))}})
		}
	}
	return d.mergedQueue(ctx, p, byPriority, parts)
}

func (d *Desk) reader(ctx context.Context) (itsm.Actor, error) {
	if ctx == nil {
		return itsm.Actor{}, itsm.Invalidf("operation: nil context")
	}
	if err := itsm.Authorize(ctx, d.cfg.Authorizer, KindIncident, itsm.ActionRead, nil); err != nil {
		return itsm.Actor{}, err
	}
	a, _ := itsm.ActorFrom(ctx)
	return a, nil
}

// BreachingSoon is the "breaching soon" queue: open incidents whose SLA
// clocks breach within the given time from now, soonest first, as the
// configured SLAWatcher reports them. Without an SLAWatcher, or with a
// within that is not positive, it returns an error matching
// itsm.ErrInvalid.
func (d *Desk) BreachingSoon(ctx context.Context, within time.Duration, p storage.Paging) ([]*Incident, string, error) {
	if _, err := d.reader(ctx); err != nil {
		return nil, "", err
	}
	return d.breachingSoon(ctx, within, p, func(*Incident) (bool, error) { return true, nil })
}

// maxBreachWalk bounds the SLA pages BreachingSoonInMyGroups reads for one
// page of the queue.
const maxBreachWalk = 20

// BreachingSoonInMyGroups is an agent's "breaching soon" queue: the open
// incidents whose SLA clocks breach within the given time from now, soonest
// first, as BreachingSoon, but only those of an assignment group the actor
// belongs to (Actor.Groups, which the read rules use too) or assigned to
// the actor. It reads the SLAWatcher's pages until the page is full, so a
// page may hold fewer than Limit incidents, even none, while the cursor
// says more may follow (after at most a bounded number of SLA pages); the
// list ends when the cursor is empty. Without an SLAWatcher it returns an
// error matching itsm.ErrInvalid.
func (d *Desk) BreachingSoonInMyGroups(ctx context.Context, within time.Duration, p storage.Paging) ([]*Incident, string, error) {
	actor, err := d.reader(ctx)
	if err != nil {
		return nil, "", err
	}
	return d.breachingSoon(ctx, within, p, func(inc *Incident) (bool, error) {
		return inc.AssignedTo == actor.ID || inc.AssignmentGroup != "" && actor.InGroup(inc.AssignmentGroup), nil
	})
}

// breachingSoon walks the SLAWatcher's pages for the open incidents the
// actor may read and keep accepts, until the page is full; an incident the
// actor may not read is left out as if it had no clock.
func (d *Desk) breachingSoon(ctx context.Context, within time.Duration, p storage.Paging, keep func(*Incident) (bool, error)) ([]*Incident, string, error) {
	if d.cfg.SLA == nil {
		return nil, "", itsm.Invalidf("incident queue: breaching soon needs an SLAWatcher (Config.SLA)")
	}
	if within <= 0 {
		return nil, "", itsm.Invalidf("incident queue: breaching within %s: the time from now must be positive", within)
	}
	limit, err := p.ResolveLimit()
	if err != nil {
		return nil, "", err
	}
	deadline := d.now().Add(within)
	cursor := p.Cursor
	out := make([]*Incident, 0, limit)
	seen := map[string]bool{}
	// Ask for no more ids than the page has room for, so every SLA page is
	// used whole and the cursor returned is the SLAWatcher's own.
	for walk := 0; walk < maxBreachWalk && len(out) < limit; walk++ {
		ids, next, err := d.cfg.SLA.BreachingBefore(ctx, KindIncident, deadline, storage.Paging{Limit: limit - len(out), Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			inc, err := d.incidents.Get(ctx, id)
			if errors.Is(err, itsm.ErrNotFound) || errors.Is(err, itsm.ErrForbidden) {
				continue
			}
			if err != nil {
				return nil, "", err
			}
			if !d.IsOpen(inc) {
				continue
			}
			ok, err := keep(inc)
			if err != nil {
				return nil, "", err
			}
			if ok && len(out) < limit {
				out = append(out, inc)
			}
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	return out, cursor, nil
}
