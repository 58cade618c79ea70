package operation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Topics of the notifications the desk's event handler sends (see
// Desk.Notifications); escalations and problem resolutions keep their own
// ("escalation", "problem_resolved").
const (
	TopicAssigned          = "assigned"           // an incident or task was assigned to a person or group
	TopicStateChanged      = "state_changed"      // an incident or request changed state
	TopicComment           = "comment"            // someone else commented on a caller's incident
	TopicApprovalRequested = "approval_requested" // a service request waits for its approval group
)

// Notifications returns the stream.Handler that turns the desk's events
// into calls of Config.Notifier, after their unit of work committed:
//
//   - an incident or request task assigned (assigned_to or
//     assignment_group changed): the new assignee, else the new group;
//   - an incident or request changing state: its caller (the requester
//     and the person it is for) and its assignee;
//   - a comment on an incident by anyone but its caller: the caller;
//   - a service request waiting for approval: its approval group.
//
// The person who caused the event is never notified of it. Each
// Notification carries the EventID that caused it, and the context of the
// Notify call carries the event's tenant (itsm.TenantFrom).
//
// The host runs it as a named consumer of the log, so notifications
// survive a crash and never hold a command up:
//
//	c, err := stream.NewConsumer(ctx, backend, stream.ConsumerConfig{
//		Name: "desk_notifications", Handler: desk.Notifications()})
//	...
//	err = c.Start(ctx) // and c.Stop(ctx) at shutdown
//
// Delivery is at least once: a Notify error leaves the batch to be handed
// in again (its earlier notifications with it), so a Notifier should drop
// a repeated EventID and Topic. Without a Notifier the handler
// acknowledges every batch. Escalate and ResolveProblem still call the
// Notifier directly, after their unit of work commits, as before.
func (d *Desk) Notifications() stream.Handler {
	return stream.HandlerFunc(d.handleNotifications)
}

func (d *Desk) handleNotifications(ctx context.Context, events []itsm.Event) error {
	if d.cfg.Notifier == nil {
		return nil
	}
	for _, ev := range events {
		ns, err := d.notificationsFor(ctx, ev)
		if err != nil {
			return err
		}
		if len(ns) == 0 {
			continue
		}
		tenant := ev.Tenant
		if tenant == "" {
			tenant = itsm.DefaultTenant
		}
		if err := d.notify(itsm.WithTenant(ctx, tenant), ns); err != nil {
			return fmt.Errorf("operation: notifications of %s %s event %s: %w", ev.Kind, ev.Number, ev.ID, err)
		}
	}
	return nil
}

// notificationsFor decides the notifications of one event.
func (d *Desk) notificationsFor(ctx context.Context, ev itsm.Event) ([]Notification, error) {
	switch ev.Kind {
	case KindIncident, KindRequest, KindRequestTask:
	default:
		return nil, nil
	}
	var (
		rec  map[string]json.RawMessage
		read bool
	)
	field := func(name string) (string, error) {
		if !read {
			var err error
			rec, err = stream.RecordAt(ctx, d.backend, ev)
			if errors.Is(err, itsm.ErrNotFound) {
				rec, err = nil, nil // gone since: nothing to say about it
			}
			if err != nil {
				return "", err
			}
			read = true
		}
		var s string
		if raw, ok := rec[name]; ok {
			_ = json.Unmarshal(raw, &s) // a member that is not a string reads as empty
		}
		return s, nil
	}
	base := Notification{Kind: ev.Kind, RecordID: ev.RecordID, Number: ev.Number, EventID: ev.ID}
	var out []Notification
	add := func(topic, subject, body string, to ...string) {
		var rcpt []string
		for _, t := range to {
			if t != "" && t != ev.Actor && !slices.Contains(rcpt, t) {
				rcpt = append(rcpt, t)
			}
		}
		if len(rcpt) == 0 {
			return
		}
		n := base
		n.Topic, n.To, n.Subject, n.Body = topic, rcpt, subject, body
		out = append(out, n)
	}

	// Assignment.
	if ev.Kind == KindIncident || ev.Kind == KindRequestTask {
		person, personChanged := changedTo(ev, "assigned_to")
		group, groupChanged := changedTo(ev, "assignment_group")
		if personChanged || groupChanged {
			if !personChanged {
				var err error
				if person, err = field("assigned_to"); err != nil {
					return nil, err
				}
			}
			if !groupChanged {
				var err error
				if group, err = field("assignment_group"); err != nil {
					return nil, err
				}
			}
			switch {
			case person != "":
				add(TopicAssigned, fmt.Sprintf("%s assigned to you", ev.Number), "", person)
			case group != "":
				add(TopicAssigned, fmt.Sprintf("%s assigned to %s", ev.Number, group), "", group)
			}
		}
	}

	// State changes.
	if ev.From != ev.To && ev.Name != itsm.EventCreate && (ev.Kind == KindIncident || ev.Kind == KindRequest) {
		var to []string
		names := []string{"caller_id", "assigned_to"}
		if ev.Kind == KindRequest {
			names = []string{"requested_for", "requested_by", "assigned_to"}
		}
		for _, n := range names {
			v, err := field(n)
			if err != nil {
				return nil, err
			}
			to = append(to, v)
		}
		body := ""
		if ev.Reason != "" {
			body = "Reason: " + ev.Reason
		}
		add(TopicStateChanged, fmt.Sprintf("%s is now %s", ev.Number, ev.To), body, to...)
	}

	// Comments to the caller.
	if ev.Kind == KindIncident {
		for _, c := range ev.Changes {
			if c.Field != "comments" || !c.Appended {
				continue
			}
			var notes []Note
			if json.Unmarshal([]byte(c.To), &notes) != nil {
				continue
			}
			caller, err := field("caller_id")
			if err != nil {
				return nil, err
			}
			for _, note := range notes {
				if note.Author == caller {
					continue
				}
				add(TopicComment, fmt.Sprintf("New comment on %s", ev.Number), note.Text, caller)
			}
		}
	}

	// Approvals requested.
	if ev.Kind == KindRequest && ev.Name == EventRequestApproval {
		group, err := field("approval_group")
		if err != nil {
			return nil, err
		}
		add(TopicApprovalRequested, fmt.Sprintf("%s waits for your approval", ev.Number), "", group)
	}
	return out, nil
}

// changedTo returns the new value of a string member the event changed.
func changedTo(ev itsm.Event, field string) (string, bool) {
	for _, c := range ev.Changes {
		if c.Field == field && !c.Appended {
			var s string
			if c.To != "" && json.Unmarshal([]byte(c.To), &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return "", false
}
