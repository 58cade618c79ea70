package operation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// EscalationRule escalates open incidents of some priorities that have been
// open for at least After. Each rule applies once per incident (its name is
// recorded in Incident.Escalations) and writes an "update" event whose
// reason names the rule; its actions combine.
type EscalationRule struct {
	Name       string        // unique, lower-case identifier
	Priorities []int         // priorities it applies to; empty: all
	After      time.Duration // time since the incident was opened
	// Notify lists users or groups to notify; the assignee (or the
	// assignment group) is always notified.
	Notify []string
	// ReassignTo moves the incident to this group, unassigned.
	ReassignTo string
	// RaisePriority raises the priority by one step (towards 1), recorded
	// as an override with the rule's name.
	RaisePriority bool
}

func (r EscalationRule) check(_ IncidentPolicy) error {
	if !storage.ValidName(r.Name) {
		return errors.New("name must be a lower-case identifier")
	}
	if r.After <= 0 {
		return errors.New("after must be positive")
	}
	for _, p := range r.Priorities {
		if p < 1 || p > 5 {
			return fmt.Errorf("priority %d outside 1..5", p)
		}
	}
	return nil
}

// Escalate applies every configured escalation rule at time now, as the
// host's scheduler calls it, and returns the number of escalations applied.
// Notifications go through the Notifier after each escalation commits. The
// actor in ctx (a system actor) is recorded on each event.
func (d *Desk) Escalate(ctx context.Context, now time.Time) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("operation: nil context")
	}
	applied := 0
	for _, rule := range d.cfg.Escalation {
		n, err := d.escalateRule(ctx, rule, now)
		applied += n
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func (d *Desk) escalateRule(ctx context.Context, rule EscalationRule, now time.Time) (int, error) {
	filters := []storage.Filter{storage.In("state", stateValues(OpenStates)...), storage.Lte("created_at", storage.Time(now.Add(-rule.After)))}
	if len(rule.Priorities) > 0 {
		ps := make([]storage.Value, len(rule.Priorities))
		for i, p := range rule.Priorities {
			ps[i] = storage.Int(int64(p))
		}
		filters = append(filters, storage.In("priority", ps...))
	}
	q := storage.Query{Kind: KindIncident, Filters: filters, Sort: []storage.Sort{{Field: "created_at"}}, Limit: 200}
	var ids []string
	for {
		page, err := d.backend.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		for _, doc := range page.Docs {
			ids = append(ids, doc.ID)
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	applied := 0
	reason := "escalation: " + rule.Name
	for _, id := range ids {
		done := false
		inc, err := d.incidents.Change(ctx, id, storage.Command{Reason: reason}, func(i *Incident) error {
			if !i.IsOpen() || slices.Contains(i.Escalations, rule.Name) {
				done = true
				return nil
			}
			i.Escalations = append(i.Escalations, rule.Name)
			if rule.ReassignTo != "" && rule.ReassignTo != i.AssignmentGroup {
				if i.AssignmentGroup != "" || i.AssignedTo != "" {
					i.ReassignmentCount++
				}
				i.AssignmentGroup, i.AssignedTo = rule.ReassignTo, ""
			}
			if rule.RaisePriority && i.Priority > 1 {
				i.Priority--
				i.PriorityOverrideReason = reason
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, itsm.ErrConflict) || errors.Is(err, itsm.ErrNotFound) {
				continue // changed meanwhile: the next run sees it
			}
			return applied, err
		}
		if done {
			continue
		}
		applied++
		to := slices.Clone(rule.Notify)
		if inc.AssignedTo != "" {
			to = append(to, inc.AssignedTo)
		} else if inc.AssignmentGroup != "" {
			to = append(to, inc.AssignmentGroup)
		}
		if err := d.notify(ctx, []Notification{{Kind: KindIncident, RecordID: inc.ID, Number: inc.Number, Topic: "escalation",
			To: to, Subject: fmt.Sprintf("%s escalated (%s): %s", inc.Number, rule.Name, inc.ShortDescription),
			Body: fmt.Sprintf("Priority %s, open since %s.", PriorityName(inc.Priority), inc.CreatedAt.Format(time.RFC3339))}}); err != nil {
			return applied, err
		}
	}
	return applied, nil
}
