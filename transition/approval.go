package transition

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// QuorumKind says how many members of an approver group must approve.
type QuorumKind string

// The quorum rules.
const (
	QuorumAny   QuorumKind = "any"    // one approval from the group
	QuorumAll   QuorumKind = "all"    // every member (as listed by the Directory when approval was requested)
	QuorumCount QuorumKind = "n_of_m" // N approvals from the group's M members
)

// Actions checked through the Authorizer for approval decisions, besides
// the lifecycle events.
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	// ActionDecide records a CAB's decision on an agenda item: what
	// DecideAgendaItem is authorised as on the meeting.
	ActionDecide = "decide"
)

// ApprovalRule asks a group to approve the changes it matches: the change
// types and risk levels listed (empty lists match every type or level).
type ApprovalRule struct {
	Name   string
	Types  []string
	Risks  []string
	Group  string
	Quorum QuorumKind
	N      int // for QuorumCount
}

// ApprovalPolicy is the host's approval configuration: every rule that
// matches a change adds its group. A change no rule matches needs no
// approval and is approved as soon as it reaches authorize.
type ApprovalPolicy struct {
	Rules []ApprovalRule
}

// DefaultApprovalPolicy asks the "change_management" group for any normal
// change, adds the "cab" group (two approvals) from high risk upward, and
// the "ecab" group (one approval) for emergencies.
func DefaultApprovalPolicy() ApprovalPolicy {
	return ApprovalPolicy{Rules: []ApprovalRule{
		{Name: "change_manager", Types: []string{TypeNormal}, Group: "change_management", Quorum: QuorumAny},
		{Name: "cab", Types: []string{TypeNormal}, Risks: []string{RiskHigh, RiskVeryHigh}, Group: "cab", Quorum: QuorumCount, N: 2},
		{Name: "ecab", Types: []string{TypeEmergency}, Group: "ecab", Quorum: QuorumAny},
	}}
}

func (p ApprovalPolicy) check(dir itsm.Directory) error {
	for i, r := range p.Rules {
		ve := &itsm.ValidationError{Kind: "approval rule", ID: fmt.Sprintf("%d %s", i, r.Name)}
		if r.Group == "" {
			ve.Add("group", "is required")
		}
		switch r.Quorum {
		case QuorumAny:
		case QuorumAll:
			if dir == nil {
				ve.Add("quorum", "\"all\" needs a Directory to know the members")
			}
		case QuorumCount:
			if r.N < 1 {
				ve.Add("n", "an N of M quorum needs N of at least 1")
			}
		default:
			ve.Add("quorum", fmt.Sprintf("%q is not any, all or n_of_m", r.Quorum))
		}
		for _, rk := range r.Risks {
			if !slices.Contains(RiskLevels(), rk) {
				ve.Add("risks", fmt.Sprintf("%q is not a risk level", rk))
			}
		}
		if err := ve.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Decision is one approver's recorded decision with its comment.
type Decision struct {
	Approver string    `json:"approver"`
	Decision string    `json:"decision"` // approved or rejected
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// ApprovalGroup is one group asked to approve a change, with its quorum and
// the decisions recorded so far.
type ApprovalGroup struct {
	Group     string     `json:"group"`
	Rule      string     `json:"rule,omitempty"`
	Quorum    QuorumKind `json:"quorum"`
	N         int        `json:"n,omitempty"`
	Members   []string   `json:"members,omitempty"` // snapshot for all / N of M
	Status    string     `json:"status"`            // requested, approved, rejected
	Decisions []Decision `json:"decisions,omitempty"`
}

// need returns how many approvals the group needs.
func (g *ApprovalGroup) need() int {
	switch g.Quorum {
	case QuorumAll:
		return max(len(g.Members), 1)
	case QuorumCount:
		return g.N
	}
	return 1
}

func (g *ApprovalGroup) settle() {
	approved := 0
	for _, d := range g.Decisions {
		switch {
		case d.Decision == ApprovalRejected:
			g.Status = ApprovalRejected
			return
		case g.Quorum == QuorumAll && !slices.Contains(g.Members, d.Approver):
			// a member who joined after the request does not count for "all"
		default:
			approved++
		}
	}
	if approved >= g.need() {
		g.Status = ApprovalApproved
	} else {
		g.Status = ApprovalRequested
	}
}

// settleChange sets the change's overall approval from its groups.
func settleChange(c *Change) {
	if len(c.Approvals) == 0 {
		c.Approval = ApprovalApproved
		return
	}
	all := true
	for i := range c.Approvals {
		c.Approvals[i].settle()
		switch c.Approvals[i].Status {
		case ApprovalRejected:
			c.Approval = ApprovalRejected
			return
		case ApprovalRequested:
			all = false
		}
	}
	if all {
		c.Approval = ApprovalApproved
	} else {
		c.Approval = ApprovalRequested
	}
}

// requestApprovals fills the change's approval groups from the policy when
// it reaches authorize.
func (m *Changes) requestApprovals(ctx context.Context, c *Change, _ itsm.Transition) error {
	if c.Approval == ApprovalApproved || c.Type == TypeStandard {
		return nil
	}
	c.Approvals = nil
	for _, r := range m.cfg.Policy.Rules {
		if len(r.Types) > 0 && !slices.Contains(r.Types, c.Type) || len(r.Risks) > 0 && !slices.Contains(r.Risks, c.Risk) {
			continue
		}
		g := ApprovalGroup{Group: r.Group, Rule: r.Name, Quorum: r.Quorum, N: r.N, Status: ApprovalRequested}
		if r.Quorum != QuorumAny && m.cfg.Directory != nil {
			members, err := m.cfg.Directory.Members(ctx, r.Group)
			if err != nil {
				return err
			}
			slices.Sort(members)
			g.Members = members
		}
		if r.Quorum == QuorumAll && len(g.Members) == 0 {
			return fmt.Errorf("approver group %s has no members to approve %s", r.Group, c.Number)
		}
		c.Approvals = append(c.Approvals, g)
	}
	settleChange(c)
	return nil
}

// Approve records the actor's approval of the change on behalf of group,
// with a comment. When every group has reached its quorum the change is
// approved and, if it is in authorize and its planned window is clear, it
// moves to scheduled. Refusals (ErrForbidden for a non-member, the
// requester or the implementer; ErrInvalidTransition after a rejection or
// outside authorisation; ErrConflict for a second decision by the same
// approver) write nothing.
func (m *Changes) Approve(ctx context.Context, id, group, comment string, cmd storage.Command) (*Change, error) {
	c, err := m.decide(ctx, id, group, ApprovalApproved, comment, cmd)
	if err != nil {
		return nil, err
	}
	if c.Approval == ApprovalApproved && c.State == ChangeAuthorize && !c.PlannedStart.IsZero() {
		if moved, err := m.Fire(ctx, id, ChangeEventSchedule, storage.Command{Reason: "approved"}, nil); err == nil {
			return moved, nil
		}
		// The schedule was refused (a freeze window, say): the change
		// stays approved in authorize until someone schedules it.
	}
	return c, nil
}

// Reject records the actor's rejection on behalf of group, with its
// (required) comment, and ends the change: it moves to canceled with its
// approval rejected. comment replaces cmd.Reason, as it does for Approve.
func (m *Changes) Reject(ctx context.Context, id, group, comment string, cmd storage.Command) (*Change, error) {
	return m.decide(ctx, id, group, ApprovalRejected, comment, cmd)
}

func (m *Changes) decide(ctx context.Context, id, group, decision, comment string, cmd storage.Command) (*Change, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("change: nil context")
	}
	action := ActionApprove
	if decision == ApprovalRejected {
		action = ActionReject
		if comment == "" {
			return nil, (&itsm.ValidationError{Kind: KindChange, ID: id}).Add("comment", "a rejection needs a comment")
		}
	}
	var out *Change
	err := storage.Retry(ctx, m.backend, maxAttempts, func(tx storage.Tx) error {
		var err error
		out, err = m.decideTx(ctx, tx, id, group, decision, comment, action, cmd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// unchangedSince refuses, as a version conflict, to write a record that
// changed after the unit of work read it to decide: a unit's reads see
// committed data, so a command that committed between the deciding read and
// the write's own read would otherwise be overwritten. The retry decides
// again on the fresh record.
func unchangedSince(kind string, decided, now *itsm.Record) error {
	if now.Version != decided.Version {
		return &itsm.ConflictError{Kind: kind, ID: decided.ID, Expected: decided.Version}
	}
	return nil
}

// decideTx records one approver's decision inside a unit of work.
func (m *Changes) decideTx(ctx context.Context, tx storage.Tx, id, group, decision, comment, action string, cmd storage.Command) (*Change, error) {
	// The comment replaces cmd.Reason, so the store never sees a bad one:
	// it is refused here rather than dropped.
	if err := checkReason(KindChange, id, cmd); err != nil {
		return nil, err
	}
	cur, err := m.changes.Collection().Get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	retro := cur.Type == TypeEmergency && (cur.State == ChangeImplement || cur.State == ChangeReview)
	if cur.State != ChangeAuthorize && !retro || cur.Approval != ApprovalRequested {
		return nil, &itsm.TransitionError{Kind: KindChange, ID: cur.ID, Number: cur.Number, From: cur.State, Event: action,
			Reason: fmt.Sprintf("approval is %s; decisions are taken while approval is requested", cur.Approval)}
	}
	if err := itsm.Authorize(ctx, m.cfg.Authorizer, KindChange, action, cur); err != nil {
		return nil, err
	}
	actor, _ := itsm.ActorFrom(ctx)
	if why := separationOfDuties(actor, cur); why != "" {
		return nil, &itsm.ForbiddenError{Actor: actor.ID, Kind: KindChange, Action: action, Reason: why}
	}
	gi := slices.IndexFunc(cur.Approvals, func(g ApprovalGroup) bool { return g.Group == group })
	if gi < 0 {
		return nil, (&itsm.ValidationError{Kind: KindChange, ID: cur.Number}).Add("group", fmt.Sprintf("group %q is not asked to approve this change", group))
	}
	g := &cur.Approvals[gi]
	if !actor.InGroup(group) && !slices.Contains(g.Members, actor.ID) {
		return nil, &itsm.ForbiddenError{Actor: actor.ID, Kind: KindChange, Action: action, Reason: "not a member of approver group " + group}
	}
	if g.Status != ApprovalRequested {
		return nil, &itsm.TransitionError{Kind: KindChange, ID: cur.ID, Number: cur.Number, From: cur.State, Event: action,
			Reason: fmt.Sprintf("group %s has already %s", group, g.Status)}
	}
	if slices.ContainsFunc(g.Decisions, func(d Decision) bool { return d.Approver == actor.ID }) {
		// A conflict no retry can change: the approver stays decided.
		return nil, storage.Final(fmt.Errorf("change %s: %s has already decided for group %s: %w", cur.Number, actor.ID, group, itsm.ErrConflict))
	}
	at := itsm.NormalizeTime(m.cfg.Clock.Now())
	mutate := func(c *Change) error {
		if err := unchangedSince(KindChange, &cur.Record, &c.Record); err != nil {
			return err
		}
		g := &c.Approvals[gi]
		g.Decisions = append(g.Decisions, Decision{Approver: actor.ID, Decision: decision, Comment: comment, At: at})
		settleChange(c)
		return nil
	}
	cmd.Reason = comment
	var out *Change
	if decision == ApprovalRejected {
		out, err = m.changes.FireTx(ctx, tx, id, ChangeEventReject, cmd, mutate)
	} else {
		out, err = m.changes.ChangeTx(ctx, tx, id, cmd, mutate)
	}
	if err != nil {
		return nil, err
	}
	if err := m.syncCIs(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// separationOfDuties returns why the actor may not decide on the change:
// the requester and the implementer never approve their own change.
func separationOfDuties(a itsm.Actor, c *Change) string {
	switch a.ID {
	case c.RequestedBy:
		return "the requester of a change may not approve or reject it"
	case c.AssignedTo:
		return "the implementer of a change may not approve or reject it"
	}
	return ""
}

// SeparationOfDuties is the same rule as an itsm.Rule, for hosts that want
// their Authorizer to refuse it too (for example on their own actions):
// authorizer.AddRule(transition.KindChange, transition.ActionApprove,
// transition.SeparationOfDuties).
func SeparationOfDuties(_ context.Context, req itsm.AccessRequest) string {
	if c, ok := req.Record.(*Change); ok {
		return separationOfDuties(req.Actor, c)
	}
	return ""
}
