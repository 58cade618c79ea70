package transition

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// KindCABMeeting is the kind of change advisory board meetings, numbered
// CAB0000001.
const KindCABMeeting = "cab_meeting"

// CAB meeting states and events: planned → in_progress → completed, and
// canceled from planned or in progress.
const (
	CABPlanned    = "planned"
	CABInProgress = "in_progress"
	CABCompleted  = "completed"
	CABCanceled   = "canceled"

	CABEventStart    = "start"
	CABEventComplete = "complete"
	CABEventCancel   = "cancel"
)

// Agenda decisions. Approved and rejected are recorded on the change as the
// board's approval decision too; deferred leaves the change waiting for a
// later meeting.
const (
	AgendaPending  = "pending"
	AgendaApproved = "approved"
	AgendaRejected = "rejected"
	AgendaDeferred = "deferred"
)

// Attendee roles.
const (
	AttendeeChair  = "chair"
	AttendeeMember = "member"
	AttendeeGuest  = "guest" // a requester or implementer invited to present
)

// CABAttendee is one person invited to a meeting and whether they came.
type CABAttendee struct {
	ID       string `json:"id"`
	Role     string `json:"role"` // chair, member or guest
	Attended bool   `json:"attended"`
}

// AgendaItem is one change on a meeting's agenda with the board's decision.
type AgendaItem struct {
	ChangeID         string    `json:"change_id"`
	Number           string    `json:"number"`
	ShortDescription string    `json:"short_description,omitempty"`
	Risk             string    `json:"risk,omitempty"`
	PlannedStart     time.Time `json:"planned_start,omitzero"`
	Decision         string    `json:"decision"` // pending, approved, rejected, deferred
	Comment          string    `json:"comment,omitempty"`
	DecidedBy        string    `json:"decided_by,omitempty"`
	DecidedAt        time.Time `json:"decided_at,omitzero"`
}

// CABMeeting is a change advisory board meeting, as ServiceNow's CAB
// Workbench and iTop know it: when and where, the board (the approver group
// it decides for), the attendees, the changes on its agenda with the
// decision on each, and the minutes.
type CABMeeting struct {
	itsm.Record
	Name      string        `json:"name"`
	Board     string        `json:"board"` // the approver group the meeting decides for
	Start     time.Time     `json:"start"`
	End       time.Time     `json:"end"`
	Location  string        `json:"location,omitempty"`
	Attendees []CABAttendee `json:"attendees,omitempty"`
	Agenda    []AgendaItem  `json:"agenda,omitempty"`
	Minutes   string        `json:"minutes,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the meeting's fields.
func (c *CABMeeting) Validate() error {
	ve := &itsm.ValidationError{Kind: KindCABMeeting, ID: c.ID}
	checkFields(ve, c)
	if c.Name == "" {
		ve.Add("name", "is required")
	}
	if c.Board == "" {
		ve.Add("board", "the approver group the meeting decides for is required")
	}
	if c.Start.IsZero() || !c.End.After(c.Start) {
		ve.Add("end", "a meeting needs a start and an end after it")
	}
	seen := map[string]bool{}
	for _, a := range c.Attendees {
		switch {
		case a.ID == "":
			ve.Add("attendees", "an attendee without an id")
		case seen[a.ID]:
			ve.Add("attendees", fmt.Sprintf("%s is listed twice", a.ID))
		case a.Role != AttendeeChair && a.Role != AttendeeMember && a.Role != AttendeeGuest:
			ve.Add("attendees", fmt.Sprintf("%s: role %q is not chair, member or guest", a.ID, a.Role))
		}
		seen[a.ID] = true
	}
	onAgenda := map[string]bool{}
	for _, it := range c.Agenda {
		if onAgenda[it.ChangeID] {
			ve.Add("agenda", fmt.Sprintf("change %s is on the agenda twice", it.Number))
		}
		onAgenda[it.ChangeID] = true
		switch it.Decision {
		case AgendaPending, AgendaApproved, AgendaRejected, AgendaDeferred:
		default:
			ve.Add("agenda", fmt.Sprintf("change %s: decision %q is not pending, approved, rejected or deferred", it.Number, it.Decision))
		}
	}
	return ve.Err()
}

// CABLifecycle returns the meeting lifecycle, for a host to extend: planned
// → in_progress → completed, canceled from either open state with a
// reason. A meeting completes only once every agenda item is decided
// (defer what the board did not reach).
func CABLifecycle() *itsm.Lifecycle[*CABMeeting] {
	return itsm.NewLifecycle[*CABMeeting](KindCABMeeting).
		Initial(CABPlanned).
		States(CABInProgress).
		Final(CABCompleted, CABCanceled).
		Event(CABEventStart, CABInProgress, CABPlanned).
		Event(CABEventComplete, CABCompleted, CABInProgress).
		Event(CABEventCancel, CABCanceled, CABPlanned, CABInProgress).
		Guard(CABEventComplete, "agenda_decided", func(_ context.Context, c *CABMeeting, _ itsm.Transition) error {
			for _, it := range c.Agenda {
				if it.Decision == AgendaPending {
					return fmt.Errorf("change %s on the agenda has no decision; approve, reject or defer it first", it.Number)
				}
			}
			return nil
		}).
		Guard(CABEventCancel, "needs_reason", itsm.NeedsReason[*CABMeeting]("canceling a meeting needs a reason"))
}

// CABCollection declares how meetings are stored, indexed by board and
// start.
func CABCollection() *storage.Collection[CABMeeting, *CABMeeting] {
	return storage.NewCollection[CABMeeting](KindCABMeeting,
		storage.StringField("board", func(c *CABMeeting) string { return c.Board }),
		storage.TimeField("start", func(c *CABMeeting) time.Time { return c.Start }),
	).
		// Recording a decision on an agenda item is the board's "decide",
		// not an update of the meeting.
		WithAction(ActionDecide, "agenda", "attendees")
}

// ScheduleCAB puts a meeting on the calendar in state planned. Its agenda
// starts empty unless given; add changes with AddToAgenda or
// AgendaFromPending.
func (m *Changes) ScheduleCAB(ctx context.Context, c *CABMeeting, cmd storage.Command) error {
	if c == nil || ctx == nil {
		return itsm.Invalidf("cab meeting: nil meeting or context")
	}
	c.Start, c.End = itsm.NormalizeTime(c.Start), itsm.NormalizeTime(c.End)
	for i := range c.Agenda {
		if c.Agenda[i].Decision == "" {
			c.Agenda[i].Decision = AgendaPending
		}
	}
	return m.cabs.Create(ctx, c, cmd)
}

// CAB reads one meeting.
func (m *Changes) CAB(ctx context.Context, id string) (*CABMeeting, error) {
	return m.cabs.Get(ctx, id)
}

// CABMeetings lists the meetings starting in [from, to), by start.
func (m *Changes) CABMeetings(ctx context.Context, from, to time.Time) ([]*CABMeeting, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("cab meeting: nil context")
	}
	if !to.After(from) {
		return nil, (&itsm.ValidationError{Kind: KindCABMeeting}).Add("to", "is not after from")
	}
	return m.cabs.All(ctx, storage.Query{Filters: []storage.Filter{storage.Gte("start", storage.Time(from)), storage.Lt("start", storage.Time(to))},
		Sort: []storage.Sort{{Field: "start"}}, Limit: storage.MaxLimit})
}

// FireCAB applies a meeting event: start, complete (refused while an
// agenda item is pending), cancel (with a reason in cmd), or a host's own.
func (m *Changes) FireCAB(ctx context.Context, id, event string, cmd storage.Command) (*CABMeeting, error) {
	if err := needEvent(KindCABMeeting, id, event); err != nil {
		return nil, err
	}
	return m.cabs.Fire(ctx, id, event, cmd, nil)
}

// UpdateCAB changes a meeting's fields (minutes, attendees, location)
// through mutate; the agenda's decisions are taken with DecideAgendaItem.
func (m *Changes) UpdateCAB(ctx context.Context, id string, cmd storage.Command, mutate func(*CABMeeting) error) (*CABMeeting, error) {
	if mutate == nil {
		return nil, itsm.Invalidf("cab meeting %s: update without a mutation", id)
	}
	return m.cabs.Change(ctx, id, cmd, func(c *CABMeeting) error {
		before := slices.Clone(c.Agenda)
		if err := mutate(c); err != nil {
			return err
		}
		if !slices.Equal(before, c.Agenda) {
			return (&itsm.ValidationError{Kind: KindCABMeeting, ID: c.Number}).Add("agenda", "change the agenda with AddToAgenda and DecideAgendaItem")
		}
		return nil
	})
}

// RecordAttendance marks whether an invited person attended.
func (m *Changes) RecordAttendance(ctx context.Context, id, person string, attended bool, cmd storage.Command) (*CABMeeting, error) {
	return m.cabs.Change(ctx, id, cmd, func(c *CABMeeting) error {
		i := slices.IndexFunc(c.Attendees, func(a CABAttendee) bool { return a.ID == person })
		if i < 0 {
			return (&itsm.ValidationError{Kind: KindCABMeeting, ID: c.Number}).Add("attendees", fmt.Sprintf("%s is not invited", person))
		}
		c.Attendees[i].Attended = attended
		return nil
	})
}

// AddToAgenda puts open changes on a planned or running meeting's agenda,
// in the order given. An unknown change is ErrNotFound; a closed or
// canceled one ErrInvalid; one already on the agenda ErrConflict; a
// completed or canceled meeting ErrInvalidTransition. Nothing is written on
// a refusal.
func (m *Changes) AddToAgenda(ctx context.Context, id string, changeIDs []string, cmd storage.Command) (*CABMeeting, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("cab meeting: nil context")
	}
	if len(changeIDs) == 0 {
		return nil, (&itsm.ValidationError{Kind: KindCABMeeting, ID: id}).Add("agenda", "no change to add")
	}
	var out *CABMeeting
	err := storage.Retry(ctx, m.backend, maxAttempts, func(tx storage.Tx) error {
		meeting, err := m.cabs.Collection().Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := openMeeting(meeting, "add to agenda"); err != nil {
			return err
		}
		var items []AgendaItem
		for _, cid := range changeIDs {
			c, err := m.changes.Collection().Get(ctx, tx, cid)
			if err != nil {
				return err
			}
			if !c.Open() {
				return (&itsm.ValidationError{Kind: KindCABMeeting, ID: meeting.Number}).Add("agenda", fmt.Sprintf("change %s is %s", c.Number, c.State))
			}
			if slices.ContainsFunc(meeting.Agenda, func(it AgendaItem) bool { return it.ChangeID == cid }) ||
				slices.ContainsFunc(items, func(it AgendaItem) bool { return it.ChangeID == cid }) {
				return fmt.Errorf("cab meeting %s: change %s is already on the agenda: %w", meeting.Number, c.Number, itsm.ErrConflict)
			}
			items = append(items, agendaItem(c))
		}
		out, err = m.cabs.ChangeTx(ctx, tx, id, cmd, func(c *CABMeeting) error {
			if err := unchangedSince(KindCABMeeting, &meeting.Record, &c.Record); err != nil {
				return err
			}
			c.Agenda = append(c.Agenda, items...)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func agendaItem(c *Change) AgendaItem {
	return AgendaItem{ChangeID: c.ID, Number: c.Number, ShortDescription: c.ShortDescription, Risk: c.Risk,
		PlannedStart: c.PlannedStart, Decision: AgendaPending}
}

func openMeeting(c *CABMeeting, what string) error {
	if c.State == CABPlanned || c.State == CABInProgress {
		return nil
	}
	return &itsm.TransitionError{Kind: KindCABMeeting, ID: c.ID, Number: c.Number, From: c.State, Event: what,
		Reason: "the meeting is " + c.State}
}

// AgendaFromPending adds to the agenda every change awaiting the board's
// approval (in authorize, the board's approval requested and undecided)
// that is not on it yet, by planned start then number, as the CAB
// Workbench builds an agenda. It returns the meeting and how many changes
// it added.
func (m *Changes) AgendaFromPending(ctx context.Context, id string, cmd storage.Command) (*CABMeeting, int, error) {
	if ctx == nil {
		return nil, 0, itsm.Invalidf("cab meeting: nil context")
	}
	meeting, err := m.cabs.Get(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	pending, err := m.changes.All(ctx, storage.Query{Filters: []storage.Filter{storage.Eq("state", storage.String(ChangeAuthorize)),
		storage.Eq("approval", storage.String(ApprovalRequested))}, Limit: storage.MaxLimit})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(pending, func(a, b *Change) int {
		if c := a.PlannedStart.Compare(b.PlannedStart); c != 0 {
			return c
		}
		return cmpString(a.Number, b.Number)
	})
	var ids []string
	for _, c := range pending {
		asked := slices.ContainsFunc(c.Approvals, func(g ApprovalGroup) bool { return g.Group == meeting.Board && g.Status == ApprovalRequested })
		if asked && !slices.ContainsFunc(meeting.Agenda, func(it AgendaItem) bool { return it.ChangeID == c.ID }) {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return meeting, 0, nil
	}
	out, err := m.AddToAgenda(ctx, id, ids, cmd)
	if err != nil {
		return nil, 0, err
	}
	return out, len(ids), nil
}

// DecideAgendaItem records the board's decision on a change of a running
// meeting's agenda. Approved and rejected are also the actor's approval
// decision for the board's group on the change, written in the same unit
// of work with the same checks as Approve and Reject (board membership,
// separation of duties, a comment to reject); an approved change whose
// approval is complete is then scheduled, as Approve does. Deferred only
// records the decision; the change waits for a later meeting. The actor
// is marked as attending. It returns the meeting and the change. comment
// replaces cmd.Reason.
func (m *Changes) DecideAgendaItem(ctx context.Context, id, changeID, decision, comment string, cmd storage.Command) (*CABMeeting, *Change, error) {
	if ctx == nil {
		return nil, nil, itsm.Invalidf("cab meeting: nil context")
	}
	switch decision {
	case AgendaApproved, AgendaRejected, AgendaDeferred:
	default:
		return nil, nil, (&itsm.ValidationError{Kind: KindCABMeeting, ID: id}).Add("decision", fmt.Sprintf("%q is not approved, rejected or deferred", decision))
	}
	if decision == AgendaRejected && comment == "" {
		return nil, nil, (&itsm.ValidationError{Kind: KindCABMeeting, ID: id}).Add("comment", "a rejection needs a comment")
	}
	// The comment replaces cmd.Reason, so the store never sees a bad one:
	// it is refused here rather than dropped.
	if err := checkReason(KindCABMeeting, id, cmd); err != nil {
		return nil, nil, err
	}
	actor, _ := itsm.ActorFrom(ctx)
	var meeting *CABMeeting
	var change *Change
	err := storage.Retry(ctx, m.backend, maxAttempts, func(tx storage.Tx) error {
		cur, err := m.cabs.Collection().Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.State != CABInProgress {
			return &itsm.TransitionError{Kind: KindCABMeeting, ID: cur.ID, Number: cur.Number, From: cur.State, Event: "decide",
				Reason: "decisions are taken while the meeting is in progress"}
		}
		i := slices.IndexFunc(cur.Agenda, func(it AgendaItem) bool { return it.ChangeID == changeID })
		if i < 0 {
			return fmt.Errorf("cab meeting %s: %w", cur.Number, &itsm.NotFoundError{Kind: KindChange, ID: changeID + " on the agenda"})
		}
		if d := cur.Agenda[i].Decision; d != AgendaPending {
			return &itsm.TransitionError{Kind: KindCABMeeting, ID: cur.ID, Number: cur.Number, From: cur.State, Event: "decide",
				Reason: fmt.Sprintf("change %s is already %s", cur.Agenda[i].Number, d)}
		}
		switch decision {
		case AgendaApproved:
			change, err = m.decideTx(ctx, tx, changeID, cur.Board, ApprovalApproved, comment, ActionApprove, cmd)
		case AgendaRejected:
			change, err = m.decideTx(ctx, tx, changeID, cur.Board, ApprovalRejected, comment, ActionReject, cmd)
		default:
			if !actor.InGroup(cur.Board) && !slices.ContainsFunc(cur.Attendees, func(a CABAttendee) bool { return a.ID == actor.ID && a.Role == AttendeeChair }) {
				return &itsm.ForbiddenError{Actor: actor.ID, Kind: KindCABMeeting, Action: ActionDecide, Reason: "not a member of board " + cur.Board + " nor the chair"}
			}
			change, err = m.changes.Collection().Get(ctx, tx, changeID)
		}
		if err != nil {
			return err
		}
		at := itsm.NormalizeTime(m.cfg.Clock.Now())
		mcmd := cmd
		mcmd.Reason = comment
		meeting, err = m.cabs.ChangeTx(ctx, tx, id, mcmd, func(c *CABMeeting) error {
			if err := unchangedSince(KindCABMeeting, &cur.Record, &c.Record); err != nil {
				return err
			}
			it := &c.Agenda[i]
			it.Decision, it.Comment, it.DecidedBy, it.DecidedAt = decision, comment, actor.ID, at
			if a := slices.IndexFunc(c.Attendees, func(a CABAttendee) bool { return a.ID == actor.ID }); a >= 0 {
				c.Attendees[a].Attended = true
			} else {
				c.Attendees = append(c.Attendees, CABAttendee{ID: actor.ID, Role: AttendeeMember, Attended: true})
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if decision == AgendaApproved && change.Approval == ApprovalApproved && change.State == ChangeAuthorize && !change.PlannedStart.IsZero() {
		if moved, err := m.Fire(ctx, changeID, ChangeEventSchedule, storage.Command{Reason: "approved by CAB " + meeting.Number}, nil); err == nil {
			change = moved
		}
	}
	return meeting, change, nil
}
