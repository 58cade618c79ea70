package operation

import (
	"context"
	"fmt"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
)

// owned is a set of groups of incident fields that the lifecycle and the
// desk's commands own. A write may change a group only when the command or
// lifecycle effect that changes it marked the record (Incident.owns); a
// generic write through Desk.Incidents() cannot set the mark, so it cannot
// change them.
type owned uint16

const (
	ownHold       owned = 1 << iota // hold_reason
	ownResolution                   // resolution_code, resolution_notes, resolved_at
	ownReopen                       // reopen_count, by one
	ownStamps                       // first_response_at, closed_at
	ownMajor                        // major, major_state, major_proposed_by
	ownJournal                      // work_notes, comments
	ownEscalation                   // escalations
	ownLinks                        // parent_id, children, problem_id, known_error_id, workaround
	ownImport                       // a backdated import: history as the other tool recorded it
)

// IsOpen reports whether the incident still needs work under the desk's
// policy (IncidentPolicy.OpenStates).
func (d *Desk) IsOpen(inc *Incident) bool { return inc != nil && d.cfg.Incident.IsOpen(inc.State) }

// checkWrite is the incident kind's storage.RecordsConfig.Check: Records
// calls it on every write, whichever path the write took.
func (d *Desk) checkWrite(ctx context.Context, before, after any) error {
	a, ok := after.(*Incident)
	if !ok || a == nil {
		return itsm.Invalidf("incident: write check of %T", after)
	}
	b, _ := before.(*Incident)
	err := d.checkIncident(ctx, b, a)
	a.owns = 0
	return err
}

// checkIncident holds the incident's invariants on every write, comparing
// the record before (nil on create) and after it:
//
//   - number, created_at, opened_by and caller_id never change; on create
//     opened_by is the actor;
//   - the priority is the matrix's for impact and urgency unless
//     priority_override_reason is given;
//   - an assignee belongs to the assignment group (through the Directory,
//     when there is one), and reassignment_count grows by exactly one when
//     an existing group or assignee is replaced, and not otherwise;
//   - reopen_count grows by one on a reopen and never changes otherwise;
//   - the hold reason, resolution, stamps, major-incident approval,
//     journal, escalations and links change only through the lifecycle's
//     effects and the desk's own commands.
//
// An import (which records history as another tool kept it) is held to the
// priority and reassignment rules only.
func (d *Desk) checkIncident(ctx context.Context, before, after *Incident) error {
	ve := &itsm.ValidationError{Kind: KindIncident, ID: after.ID}
	imported := after.owns&ownImport != 0
	if before == nil {
		if !imported {
			actor, _ := itsm.ActorFrom(ctx)
			if after.OpenedBy != actor.ID {
				ve.Add("opened_by", "is the actor who opens the incident")
			}
			zero := Incident{owns: after.owns}
			d.ownedChanges(ve, &zero, after)
			if after.ReassignmentCount != 0 {
				ve.Add("reassignment_count", "starts at 0")
			}
		}
		if err := ve.Err(); err != nil {
			return err
		}
		if err := d.priorityRule(ctx, after); err != nil {
			return err
		}
		if !imported {
			return d.checkAssignee(ctx, after, after.AssignmentGroup, after.AssignedTo)
		}
		return nil
	}
	if after.Number != before.Number {
		ve.Add("number", "cannot change")
	}
	if !after.CreatedAt.Equal(before.CreatedAt) {
		ve.Add("created_at", "cannot change")
	}
	if after.OpenedBy != before.OpenedBy {
		ve.Add("opened_by", "cannot change")
	}
	if after.CallerID != before.CallerID {
		ve.Add("caller_id", "cannot change")
	}
	reassigned := after.AssignmentGroup != before.AssignmentGroup || after.AssignedTo != before.AssignedTo
	want := before.ReassignmentCount
	if before.AssignmentGroup != "" && after.AssignmentGroup != before.AssignmentGroup ||
		before.AssignedTo != "" && after.AssignedTo != before.AssignedTo {
		want++
	}
	if after.ReassignmentCount != want {
		ve.Add("reassignment_count", fmt.Sprintf("is %d, the assignment makes it %d", after.ReassignmentCount, want))
	}
	if !imported {
		d.ownedChanges(ve, before, after)
	}
	if err := ve.Err(); err != nil {
		return err
	}
	if after.Priority != before.Priority || after.Impact != before.Impact || after.Urgency != before.Urgency ||
		after.PriorityOverrideReason != before.PriorityOverrideReason {
		if err := d.priorityRule(ctx, after); err != nil {
			return err
		}
	}
	if reassigned && !imported {
		return d.checkAssignee(ctx, after, after.AssignmentGroup, after.AssignedTo)
	}
	return nil
}

// ownedChanges adds a problem for each lifecycle-owned field that changed
// from before to after without the mark of the command or effect that owns
// it.
func (d *Desk) ownedChanges(ve *itsm.ValidationError, before, after *Incident) {
	may := func(o owned) bool { return after.owns&o != 0 }
	const how = "is owned by the lifecycle and the desk's commands"
	if after.HoldReason != before.HoldReason && !may(ownHold) {
		ve.Add("hold_reason", how)
	}
	if (after.ResolutionCode != before.ResolutionCode || after.ResolutionNotes != before.ResolutionNotes ||
		!after.ResolvedAt.Equal(before.ResolvedAt)) && !may(ownResolution) {
		ve.Add("resolution_code", how)
	}
	switch {
	case after.ReopenCount == before.ReopenCount:
	case after.ReopenCount == before.ReopenCount+1 && may(ownReopen):
	default:
		ve.Add("reopen_count", "grows by one on a reopen and never changes otherwise")
	}
	if (!after.FirstResponseAt.Equal(before.FirstResponseAt) || !after.ClosedAt.Equal(before.ClosedAt)) && !may(ownStamps) {
		ve.Add("first_response_at", how)
	}
	if (after.Major != before.Major || after.MajorState != before.MajorState || after.MajorProposedBy != before.MajorProposedBy) && !may(ownMajor) {
		ve.Add("major", how)
	}
	if !slices.Equal(after.WorkNotes, before.WorkNotes) || !slices.Equal(after.Comments, before.Comments) {
		if !may(ownJournal) {
			ve.Add("work_notes", how)
		}
	}
	if sourceOf(after) != sourceOf(before) {
		ve.Add("source_key", "is written by imports only")
	}
	if !slices.Equal(after.Escalations, before.Escalations) && !may(ownEscalation) {
		ve.Add("escalations", how)
	}
	if (after.ParentID != before.ParentID || after.Children != before.Children || after.ProblemID != before.ProblemID ||
		after.KnownErrorID != before.KnownErrorID || after.Workaround != before.Workaround) && !may(ownLinks) {
		ve.Add("parent_id", how)
	}
}

// priorityRule refuses a priority other than the matrix's for the
// incident's impact and urgency unless an override reason is given.
func (d *Desk) priorityRule(ctx context.Context, inc *Incident) error {
	p, err := d.matrix(ctx).Priority(inc.Impact, inc.Urgency)
	if err != nil {
		return err
	}
	if inc.PriorityOverrideReason == "" && inc.Priority != p {
		return (&itsm.ValidationError{Kind: KindIncident, ID: inc.ID}).Add("priority",
			fmt.Sprintf("%d differs from the matrix's %d for impact %d and urgency %d; give priority_override_reason to override",
				inc.Priority, p, inc.Impact, inc.Urgency))
	}
	return nil
}
