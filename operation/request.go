package operation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Service request states. The closed_* states are final, named as
// ServiceNow names a request's end.
const (
	StateAwaitingApproval = "awaiting_approval"
	StateInFulfillment    = "in_fulfillment"
	StateClosedComplete   = "closed_complete"
	StateClosedIncomplete = "closed_incomplete"
	StateClosedRejected   = "closed_rejected"
	StateClosedCanceled   = "closed_canceled"
)

// Service request events.
const (
	EventRequestApproval = "request_approval"
	EventApprove         = "approve"
	EventReject          = "reject"
	EventFulfil          = "fulfil"
	EventComplete        = "complete"
	EventCloseIncomplete = "close_incomplete"
)

// Fulfilment task states and the skip event (start, complete,
// close_incomplete are shared with requests).
const (
	TaskOpen             = "open"
	TaskWorkInProgress   = "work_in_progress"
	TaskClosedComplete   = StateClosedComplete
	TaskClosedIncomplete = StateClosedIncomplete
	TaskClosedSkipped    = "closed_skipped"
	EventSkip            = "skip"
)

// Approval is one approver's decision on a request.
type Approval struct {
	Approver string    `json:"approver"`
	Decision string    `json:"decision"` // approved or rejected
	Comment  string    `json:"comment,omitempty"`
	At       time.Time `json:"at"`
}

// Limits of a request's variables and fulfilment plan.
const (
	MaxVariables     = 64   // answers per request
	MaxVariableValue = 4000 // bytes per answer
	MaxPlannedTasks  = 100  // fulfilment tasks per request
)

// Request is a service request: a user asks for something from the
// catalogue (access, hardware, a standard service), answering the item's
// form. It is approved when its catalogue item says so, then fulfilled
// through tasks stage by stage, and closes complete when every task is
// complete. It is ServiceNow's requested item (RITM) and Jira Service
// Management's request of a request type.
type Request struct {
	itsm.Record
	CatalogItemID    string `json:"catalog_item_id"`
	ShortDescription string `json:"short_description"`
	Description      string `json:"description,omitempty"`
	RequestedFor     string `json:"requested_for"`
	RequestedBy      string `json:"requested_by"`
	ServiceID        string `json:"service_id,omitempty"`
	OfferingID       string `json:"offering_id,omitempty"`
	// Variables are the requester's answers to the item's form, by field
	// name (ServiceNow's RITM variables, JSM's request-type fields),
	// validated by the catalogue when the request is submitted.
	Variables         map[string]string `json:"variables,omitempty"`
	ApprovalGroup     string            `json:"approval_group,omitempty"`
	RequiredApprovals int               `json:"required_approvals,omitempty"`
	Approvals         []Approval        `json:"approvals,omitempty"`
	// Plan is the item's fulfilment tasks as they were when the request was
	// submitted, sorted by order. TaskIDs holds the tasks created so far:
	// always the first len(TaskIDs) entries of Plan, one stage (order) at a
	// time.
	Plan    []PlannedTask `json:"plan,omitempty"`
	TaskIDs []string      `json:"task_ids,omitempty"`
	// TasksClosed counts the request's closed tasks. Every task closure
	// writes it, so two tasks closing at once conflict on the request and
	// the second sees the first: the stage's end is never missed.
	TasksClosed int       `json:"tasks_closed,omitempty"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// PlannedTask is one fulfilment task a request will create: what, for
// which group, and at which stage. Tasks of the same Order run in parallel;
// a later order starts when every task of the earlier ones is closed.
type PlannedTask struct {
	ShortDescription string `json:"short_description"`
	AssignmentGroup  string `json:"assignment_group,omitempty"`
	Order            int    `json:"order"`
}

// Validate checks a request's fields.
func (r *Request) Validate() error {
	if r == nil {
		return itsm.Invalidf("request: nil record")
	}
	ve := &itsm.ValidationError{Kind: KindRequest, ID: r.ID}
	if r.CatalogItemID == "" {
		ve.Add("catalog_item_id", "is required")
	}
	if r.RequestedFor == "" {
		ve.Add("requested_for", "is required")
	}
	if len(r.ShortDescription) > MaxShortDescription || len(r.Description) > MaxText {
		ve.Add("short_description", "is too long")
	}
	if r.RequiredApprovals < 0 {
		ve.Add("required_approvals", "cannot be negative")
	}
	if len(r.Variables) > MaxVariables {
		ve.Add("variables", fmt.Sprintf("%d answers, at most %d", len(r.Variables), MaxVariables))
	}
	for name, v := range r.Variables {
		switch {
		case !storage.ValidName(name):
			ve.Add("variables", fmt.Sprintf("name %q is not a lower-case identifier", name))
		case len(v) > MaxVariableValue:
			ve.Add("variables."+name, fmt.Sprintf("is %d bytes, at most %d", len(v), MaxVariableValue))
		}
	}
	if len(r.Plan) > MaxPlannedTasks {
		ve.Add("plan", fmt.Sprintf("%d tasks, at most %d", len(r.Plan), MaxPlannedTasks))
	}
	return ve.Err()
}

func (r *Request) approvals() int {
	n := 0
	for _, a := range r.Approvals {
		if a.Decision == "approved" {
			n++
		}
	}
	return n
}

// RequestLifecycle returns the service request lifecycle, not yet compiled:
// new → awaiting_approval (request_approval) → in_fulfillment (approve, when
// enough approvers other than the requester approved) or closed_rejected
// (reject); new → in_fulfillment (fulfil) when no approval is needed;
// in_fulfillment → closed_complete (complete) or closed_incomplete
// (close_incomplete); cancel from any open state → closed_canceled.
func RequestLifecycle() *itsm.Lifecycle[*Request] {
	return itsm.NewLifecycle[*Request](KindRequest).
		Initial(StateNew).
		States(StateAwaitingApproval, StateInFulfillment).
		Final(StateClosedComplete, StateClosedIncomplete, StateClosedRejected, StateClosedCanceled).
		Event(EventRequestApproval, StateAwaitingApproval, StateNew).
		Event(EventApprove, StateInFulfillment, StateAwaitingApproval).
		Event(EventReject, StateClosedRejected, StateAwaitingApproval).
		Event(EventFulfil, StateInFulfillment, StateNew).
		Event(EventComplete, StateClosedComplete, StateInFulfillment).
		Event(EventCloseIncomplete, StateClosedIncomplete, StateInFulfillment).
		Event(EventCancel, StateClosedCanceled, StateNew, StateAwaitingApproval, StateInFulfillment).
		Guard(EventApprove, "not_own_request", notOwnRequest).
		Guard(EventReject, "not_own_request", notOwnRequest).
		Guard(EventCancel, "needs_reason", itsm.NeedsReason[*Request]("canceling a request needs a reason")).
		Guard(EventApprove, "enough_approvals", func(_ context.Context, r *Request, _ itsm.Transition) error {
			need := max(r.RequiredApprovals, 1)
			if r.approvals() < need {
				return fmt.Errorf("%d of %d approvals given", r.approvals(), need)
			}
			return nil
		}).
		Guard(EventFulfil, "no_approval_needed", func(_ context.Context, r *Request, _ itsm.Transition) error {
			if r.ApprovalGroup != "" {
				return errors.New("the catalogue item needs approval from " + r.ApprovalGroup)
			}
			return nil
		}).
		Effect(EventReject, "stamp_closed", stampRequestClosed).
		Effect(EventComplete, "stamp_closed", stampRequestClosed).
		Effect(EventCloseIncomplete, "stamp_closed", stampRequestClosed).
		Effect(EventCancel, "stamp_closed", stampRequestClosed)
}

func notOwnRequest(_ context.Context, r *Request, tr itsm.Transition) error {
	if tr.Actor.ID == r.RequestedBy || tr.Actor.ID == r.RequestedFor {
		return errors.New("the requester cannot approve or reject their own request")
	}
	return nil
}

func stampRequestClosed(_ context.Context, r *Request, tr itsm.Transition) error {
	r.ClosedAt = tr.At
	return nil
}

func requestCollection() *storage.Collection[Request, *Request] {
	return storage.NewCollection[Request](KindRequest,
		storage.StringField("requested_for", func(r *Request) string { return r.RequestedFor }),
		storage.StringField("approval_group", func(r *Request) string { return r.ApprovalGroup }),
		storage.StringField("catalog_item_id", func(r *Request) string { return r.CatalogItemID }),
	).WithIndex("request_approval_queue", "approval_group", "state", "created_at").
		// Callers read the requests made for them or by them.
		WithAudience(itsm.Audience{Owner: "requested_for", CoOwner: "requested_by"}).
		// Fulfilment sets the plan and creates the stage's tasks.
		WithEventInputs(EventFulfil, "plan", "task_ids").
		WithEventInputs(EventApprove, "plan", "task_ids", "approvals").
		// Approval and fulfilment are the desk's commands' to write: a
		// host's generic edit cannot approve a request or close its tasks.
		WithOwned("requested_by", "approval_group", "required_approvals", "approvals", "plan", "task_ids", "tasks_closed", "closed_at")
}

// RequestTask is one fulfilment task of a service request (ServiceNow's
// catalog task), worked by an assignment group.
type RequestTask struct {
	itsm.Record
	RequestID        string    `json:"request_id"`
	Order            int       `json:"order"`
	ShortDescription string    `json:"short_description"`
	AssignmentGroup  string    `json:"assignment_group,omitempty"`
	AssignedTo       string    `json:"assigned_to,omitempty"`
	CloseNotes       string    `json:"close_notes,omitempty"`
	ClosedAt         time.Time `json:"closed_at,omitzero"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks a task's fields.
func (t *RequestTask) Validate() error {
	if t == nil {
		return itsm.Invalidf("request task: nil record")
	}
	ve := &itsm.ValidationError{Kind: KindRequestTask, ID: t.ID}
	if t.Order < 0 {
		ve.Add("order", fmt.Sprintf("%d is negative", t.Order))
	}
	if t.RequestID == "" {
		ve.Add("request_id", "is required")
	}
	if t.ShortDescription == "" || len(t.ShortDescription) > MaxShortDescription {
		ve.Add("short_description", fmt.Sprintf("is required, at most %d bytes", MaxShortDescription))
	}
	return ve.Err()
}

// RequestTaskLifecycle returns the fulfilment task lifecycle: open →
// work_in_progress (start) → closed_complete (complete) or
// closed_incomplete (close_incomplete, needs close notes); skip ends an open
// task when its request ends.
func RequestTaskLifecycle() *itsm.Lifecycle[*RequestTask] {
	stamp := func(_ context.Context, t *RequestTask, tr itsm.Transition) error {
		t.ClosedAt = tr.At
		return nil
	}
	return itsm.NewLifecycle[*RequestTask](KindRequestTask).
		Initial(TaskOpen).States(TaskWorkInProgress).
		Final(TaskClosedComplete, TaskClosedIncomplete, TaskClosedSkipped).
		Event(EventStart, TaskWorkInProgress, TaskOpen).
		Event(EventComplete, TaskClosedComplete, TaskOpen, TaskWorkInProgress).
		Event(EventCloseIncomplete, TaskClosedIncomplete, TaskOpen, TaskWorkInProgress).
		Event(EventSkip, TaskClosedSkipped, TaskOpen, TaskWorkInProgress).
		Guard(EventCloseIncomplete, "close_notes", func(_ context.Context, t *RequestTask, _ itsm.Transition) error {
			if strings.TrimSpace(t.CloseNotes) == "" {
				return errors.New("close notes say why the task could not be completed")
			}
			return nil
		}).
		Effect(EventComplete, "stamp_closed", stamp).
		Effect(EventCloseIncomplete, "stamp_closed", stamp).
		Effect(EventSkip, "stamp_closed", stamp)
}

func requestTaskCollection() *storage.Collection[RequestTask, *RequestTask] {
	return storage.NewCollection[RequestTask](KindRequestTask,
		storage.StringField("request_id", func(t *RequestTask) string { return t.RequestID }),
		storage.StringField("assignment_group", func(t *RequestTask) string { return t.AssignmentGroup }),
		storage.StringField("assigned_to", func(t *RequestTask) string { return t.AssignedTo }),
	).WithIndex("task_group_queue", "assignment_group", "state", "created_at").
		WithOwned("request_id", "order", "closed_at")
}

// SubmitRequest raises a request for a catalogue item read through the
// configured Catalog: the requester is the actor, requested_for defaults to
// the actor, and the short description defaults to one naming the item
// (hosts usually pass the item's name). The item must be orderable and
// r.Variables must satisfy its form: the catalogue's *itsm.ValidationError
// is returned as it is (per-field detail under "variables.<name>", reachable
// with errors.As) and nothing is written. The item's fulfilment tasks are
// copied into r.Plan. When the item needs approval the request waits for
// it; otherwise the tasks of its first order are created at once. All in
// one unit of work.
func (d *Desk) SubmitRequest(ctx context.Context, r *Request, cmd storage.Command) error {
	if ctx == nil || r == nil {
		return itsm.Invalidf("request: nil context or record")
	}
	if d.cfg.Catalog == nil {
		return itsm.Invalidf("request: no Catalog configured")
	}
	if r.CatalogItemID == "" {
		return (&itsm.ValidationError{Kind: KindRequest}).Add("catalog_item_id", "is required")
	}
	// Authorise before asking the catalogue, so a refused actor learns
	// nothing about the item or its form.
	if err := itsm.Authorize(ctx, d.cfg.Authorizer, KindRequest, itsm.ActionCreate, nil); err != nil {
		return err
	}
	cat, item := d.cfg.Catalog, r.CatalogItemID
	if err := cat.Orderable(ctx, item); err != nil {
		if errors.Is(err, itsm.ErrInvalid) {
			return (&itsm.ValidationError{Kind: KindRequest}).Add("catalog_item_id", err.Error())
		}
		return fmt.Errorf("request: catalog_item_id %s: %w", item, err)
	}
	vars := maps.Clone(r.Variables)
	if err := cat.ValidateOrder(ctx, item, vars); err != nil {
		return err
	}
	group, count, err := cat.ItemApprovals(ctx, item)
	if err != nil {
		return fmt.Errorf("request: catalog_item_id %s: approvals: %w", item, err)
	}
	if count < 0 || (count > 0 && group == "") {
		return itsm.Invalidf("request: catalog_item_id %s: the catalogue asks for %d approvals from group %q", item, count, group)
	}
	svc, offering, err := cat.ItemService(ctx, item)
	if err != nil {
		return fmt.Errorf("request: catalog_item_id %s: service: %w", item, err)
	}
	plan, err := taskPlan(ctx, cat, item)
	if err != nil {
		return err
	}
	actor, _ := itsm.ActorFrom(ctx)
	r.RequestedBy = actor.ID
	if r.RequestedFor == "" {
		r.RequestedFor = actor.ID
	}
	if r.ShortDescription == "" {
		r.ShortDescription = "Request for catalogue item " + item
		if len(r.ShortDescription) > MaxShortDescription {
			r.ShortDescription = strings.ToValidUTF8(r.ShortDescription[:MaxShortDescription], "")
		}
	}
	if len(plan) == 0 {
		plan = defaultPlan(r.ShortDescription)
	}
	r.ServiceID, r.OfferingID, r.Variables, r.Plan = svc, offering, vars, plan
	r.ApprovalGroup, r.RequiredApprovals = "", 0
	if count > 0 {
		r.ApprovalGroup, r.RequiredApprovals = group, count
	}
	r.Approvals, r.TaskIDs, r.ClosedAt = nil, nil, time.Time{}
	orig := *r
	return d.update(ctx, func(tx storage.Tx) error {
		*r = orig
		if err := d.requests.CreateTx(ctx, tx, r, cmd); err != nil {
			return err
		}
		var got *Request
		var err error
		if r.ApprovalGroup != "" {
			got, err = d.requests.FireTx(ctx, tx, r.ID, EventRequestApproval, storage.Command{At: cmd.At}, nil)
		} else {
			got, err = d.fulfilTx(ctx, tx, r.ID, EventFulfil, cmd, nil, nil)
		}
		if err != nil {
			return err
		}
		*r = *got
		return nil
	})
}

// taskPlan reads the item's fulfilment tasks from the catalogue, sorted by
// order.
func taskPlan(ctx context.Context, cat Catalog, item string) ([]PlannedTask, error) {
	names, groups, orders, err := cat.ItemTasks(ctx, item)
	if err != nil {
		return nil, fmt.Errorf("request: catalog_item_id %s: tasks: %w", item, err)
	}
	if len(groups) != len(names) || len(orders) != len(names) {
		return nil, itsm.Invalidf("request: catalog_item_id %s: the catalogue returned %d task names, %d groups and %d orders",
			item, len(names), len(groups), len(orders))
	}
	if len(names) > MaxPlannedTasks {
		return nil, itsm.Invalidf("request: catalog_item_id %s: %d fulfilment tasks, at most %d", item, len(names), MaxPlannedTasks)
	}
	plan := make([]PlannedTask, len(names))
	for i := range names {
		if names[i] == "" || len(names[i]) > MaxShortDescription {
			return nil, itsm.Invalidf("request: catalog_item_id %s: task %d needs a name of 1..%d bytes", item, i, MaxShortDescription)
		}
		plan[i] = PlannedTask{ShortDescription: names[i], AssignmentGroup: groups[i], Order: orders[i]}
	}
	slices.SortStableFunc(plan, func(a, b PlannedTask) int { return cmp.Compare(a.Order, b.Order) })
	return plan, nil
}

// defaultPlan is the one task of an item that names none.
func defaultPlan(short string) []PlannedTask {
	name := "Fulfil " + short
	if len(name) > MaxShortDescription {
		name = strings.ToValidUTF8(name[:MaxShortDescription], "")
	}
	return []PlannedTask{{ShortDescription: name, Order: 1}}
}

// nextStage returns the planned tasks of the first order not yet started:
// the entries of r.Plan after the created ones that share the first one's
// order.
func nextStage(r *Request) []PlannedTask {
	rest := r.Plan[min(len(r.TaskIDs), len(r.Plan)):]
	n := 0
	for n < len(rest) && rest[n].Order == rest[0].Order {
		n++
	}
	return rest[:n]
}

// startStageTx creates the tasks of the request's next stage and returns
// their ids.
func (d *Desk) startStageTx(ctx context.Context, tx storage.Tx, r *Request, at time.Time) ([]string, error) {
	stage := nextStage(r)
	ids := make([]string, 0, len(stage))
	for _, p := range stage {
		task := &RequestTask{RequestID: r.ID, Order: p.Order, ShortDescription: p.ShortDescription, AssignmentGroup: p.AssignmentGroup}
		if err := d.tasks.CreateTx(ctx, tx, task, storage.Command{At: at}); err != nil {
			return nil, err
		}
		ids = append(ids, task.ID)
	}
	return ids, nil
}

// fulfilTx fires event (fulfil or approve) on the request and creates the
// tasks of its first stage, recording their ids. plan stands in for a
// request stored without one (submitted before requests kept their plan).
func (d *Desk) fulfilTx(ctx context.Context, tx storage.Tx, id, event string, cmd storage.Command, plan []PlannedTask, mutate func(*Request) error) (*Request, error) {
	r, err := d.requests.Collection().Get(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if len(r.Plan) == 0 {
		r.Plan = plan
	}
	ids, err := d.startStageTx(ctx, tx, r, cmd.At)
	if err != nil {
		return nil, err
	}
	return d.requests.FireTx(ctx, tx, id, event, cmd, func(r *Request) error {
		if mutate != nil {
			if err := mutate(r); err != nil {
				return err
			}
		}
		if len(r.Plan) == 0 {
			r.Plan = plan
		}
		r.TaskIDs = append(r.TaskIDs, ids...)
		return nil
	})
}

// ApproveRequest records the actor's approval. The actor must be a member
// of the item's approval group and neither the requester nor the person the
// request is for, and may approve once. With enough approvals the request
// moves to fulfilment and its tasks are spawned, in the same unit of work.
// comment is the event's reason: cmd.Reason must be empty or the same text.
func (d *Desk) ApproveRequest(ctx context.Context, id, comment string, cmd storage.Command) (*Request, error) {
	return d.decide(ctx, id, "approved", comment, cmd)
}

// RejectRequest rejects the request with a required comment; it closes as
// closed_rejected. comment is the event's reason: cmd.Reason must be empty
// or the same text, as for ApproveRequest.
func (d *Desk) RejectRequest(ctx context.Context, id, comment string, cmd storage.Command) (*Request, error) {
	if strings.TrimSpace(comment) == "" {
		return nil, (&itsm.ValidationError{Kind: KindRequest, ID: id}).Add("comment", "is required to reject")
	}
	return d.decide(ctx, id, "rejected", comment, cmd)
}

func (d *Desk) decide(ctx context.Context, id, decision, comment string, cmd storage.Command) (*Request, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("request: nil context")
	}
	if err := reasonOnce(KindRequest, id, comment, cmd); err != nil {
		return nil, err
	}
	actor, _ := itsm.ActorFrom(ctx)
	// A request stored before requests kept their plan takes the item's
	// tasks from the catalogue, read here outside the unit of work.
	var plan []PlannedTask
	if r, err := d.requests.Get(ctx, id); err == nil && len(r.Plan) == 0 && decision == "approved" && d.cfg.Catalog != nil {
		if plan, err = taskPlan(ctx, d.cfg.Catalog, r.CatalogItemID); err != nil {
			return nil, err
		}
		if len(plan) == 0 {
			plan = defaultPlan(r.ShortDescription)
		}
	}
	var out *Request
	err := d.update(ctx, func(tx storage.Tx) error {
		r, err := d.requests.Collection().Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.State != StateAwaitingApproval {
			return refuse(KindRequest, &r.Record, decision, "the request is "+r.State+", not awaiting approval")
		}
		if err := notOwnRequest(ctx, r, itsm.Transition{Actor: actor}); err != nil {
			return &itsm.ForbiddenError{Actor: actor.ID, Kind: KindRequest, Action: EventApprove, Reason: err.Error()}
		}
		member := actor.InGroup(r.ApprovalGroup)
		if !member && d.cfg.Directory != nil {
			if member, err = d.cfg.Directory.IsMember(ctx, r.ApprovalGroup, actor.ID); err != nil {
				return err
			}
		}
		if !member {
			return &itsm.ForbiddenError{Actor: actor.ID, Kind: KindRequest, Action: EventApprove,
				Reason: "not a member of approval group " + r.ApprovalGroup}
		}
		// An approver who has decided stays decided: a conflict, but no
		// retry would change it.
		if slices.ContainsFunc(r.Approvals, func(a Approval) bool { return a.Approver == actor.ID }) {
			return storage.Final(&itsm.ConflictError{Kind: KindRequest, ID: id, Expected: r.Version})
		}
		add := func(r *Request) error {
			// Again on the version written, which may be newer than r.
			if slices.ContainsFunc(r.Approvals, func(a Approval) bool { return a.Approver == actor.ID }) {
				return storage.Final(&itsm.ConflictError{Kind: KindRequest, ID: id, Expected: r.Version})
			}
			r.Approvals = append(r.Approvals, Approval{Approver: actor.ID, Decision: decision, Comment: comment, At: d.now()})
			return nil
		}
		cmd.Reason = comment
		switch {
		case decision == "rejected":
			out, err = d.requests.FireTx(ctx, tx, id, EventReject, cmd, add)
		case r.approvals()+1 < max(r.RequiredApprovals, 1):
			// Not enough as read; another approval may have committed
			// since, so count again on the version written.
			if out, err = d.requests.ChangeTx(ctx, tx, id, cmd, add); err != nil {
				return err
			}
			if out.State == StateAwaitingApproval && out.approvals() >= max(out.RequiredApprovals, 1) {
				out, err = d.fulfilTx(ctx, tx, id, EventApprove, storage.Command{Reason: "enough approvals"}, plan, nil)
			}
		default:
			// The tasks come from the plan copied at submission: a
			// catalogue edited meanwhile does not change an approved order.
			out, err = d.fulfilTx(ctx, tx, id, EventApprove, cmd, plan, add)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CancelRequest cancels an open request and skips its open tasks, in one
// unit of work. A reason is required: without one the lifecycle's
// needs_reason guard refuses as every pillar's cancel does (an error
// matching ErrInvalidTransition and ErrInvalid, its *itsm.ValidationError
// naming "reason").
func (d *Desk) CancelRequest(ctx context.Context, id string, cmd storage.Command) (*Request, error) {
	var out *Request
	err := d.update(ctx, func(tx storage.Tx) error {
		var err error
		if out, err = d.requests.FireTx(ctx, tx, id, EventCancel, cmd, nil); err != nil {
			return err
		}
		for _, tid := range out.TaskIDs {
			t, err := d.tasks.Collection().Get(ctx, tx, tid)
			if err != nil {
				return err
			}
			if t.State == TaskOpen || t.State == TaskWorkInProgress {
				if _, err := d.tasks.FireTx(ctx, tx, tid, EventSkip, storage.Command{Reason: "request " + out.Number + " canceled", At: cmd.At}, nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StartTask moves an open fulfilment task to work in progress.
func (d *Desk) StartTask(ctx context.Context, id string, cmd storage.Command) (*RequestTask, error) {
	return d.tasks.Fire(ctx, id, EventStart, cmd, nil)
}

// CompleteTask closes a task complete. When it was the last open task of
// its stage, the request's next stage starts (its tasks are created), or,
// after the last stage, the request closes complete; all in the same unit of
// work.
func (d *Desk) CompleteTask(ctx context.Context, id, notes string, cmd storage.Command) (*RequestTask, error) {
	return d.closeTask(ctx, id, EventComplete, notes, cmd)
}

// CloseTaskIncomplete closes a task that could not be done (notes say why).
// Once the other tasks of its stage are closed, the request closes
// incomplete and its later stages are never started.
func (d *Desk) CloseTaskIncomplete(ctx context.Context, id, notes string, cmd storage.Command) (*RequestTask, error) {
	return d.closeTask(ctx, id, EventCloseIncomplete, notes, cmd)
}

func (d *Desk) closeTask(ctx context.Context, id, event, notes string, cmd storage.Command) (*RequestTask, error) {
	var out *RequestTask
	err := d.update(ctx, func(tx storage.Tx) error {
		var err error
		out, err = d.tasks.FireTx(ctx, tx, id, event, cmd, func(t *RequestTask) error {
			t.CloseNotes = notes
			return nil
		})
		if err != nil {
			return err
		}
		r, err := d.requests.Collection().Get(ctx, tx, out.RequestID)
		if err != nil {
			return err
		}
		if r.State != StateInFulfillment {
			return nil
		}
		// Decide inside the request's write, on the version written: a task
		// of the request closed meanwhile has committed its own request
		// write, so it shows in the scan below or this write conflicts and
		// the retry sees it.
		sys := storage.Command{Reason: "task " + out.Number + " closed", At: cmd.At}
		finish := ""
		_, err = d.requests.ChangeTx(ctx, tx, r.ID, sys, func(r *Request) error {
			if r.State != StateInFulfillment {
				return nil
			}
			r.TasksClosed++
			all := true
			for _, tid := range r.TaskIDs {
				t, err := d.tasks.Collection().Get(ctx, tx, tid)
				if err != nil {
					return err
				}
				switch t.State {
				case TaskClosedComplete, TaskClosedSkipped:
				case TaskClosedIncomplete:
					all = false
				default:
					return nil // work remains in this stage
				}
			}
			switch {
			case all && len(r.TaskIDs) < len(r.Plan):
				ids, err := d.startStageTx(ctx, tx, r, cmd.At)
				if err != nil {
					return err
				}
				r.TaskIDs = append(r.TaskIDs, ids...)
			case all:
				finish = EventComplete
			default:
				finish = EventCloseIncomplete
			}
			return nil
		})
		if err != nil || finish == "" {
			return err
		}
		_, err = d.requests.FireTx(ctx, tx, r.ID, finish, storage.Command{Reason: "all tasks closed", At: cmd.At}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
