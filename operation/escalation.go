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

// EscalationRule escalates open incidents of some priorities once they
// have been open long enough, by wall-clock time, by working time on a
// Calendar, or by the share of their SLA targets used; every condition set
// must hold. Each rule applies once per incident (its name is recorded in
// Incident.Escalations) and writes an "update" event whose reason names the
// rule; its actions combine.
type EscalationRule struct {
	Name       string // unique, lower-case identifier
	Priorities []int  // priorities it applies to; empty: all
	// After is the time since the incident was opened: wall-clock time, or
	// working time on Calendar when one is set.
	After time.Duration
	// Calendar, when set, measures After in business time (for example
	// design/calendar's *Calendar, office hours and holidays).
	Calendar Calendar
	// SLAPercent, when above zero, escalates incidents whose SLA clocks in
	// progress or paused have used at least this percentage of their
	// target (a paused clock keeps the share it used; 100 means
	// due now; 80 is the usual warning). It needs an SLAProgress
	// (Config.SLAProgress, or an SLAWatcher that also implements it).
	SLAPercent float64
	// Notify lists users or groups to notify; the assignee (or the
	// assignment group) is always notified.
	Notify []string
	// ReassignTo moves the incident to this group, unassigned.
	ReassignTo string
	// RaisePriority raises the priority by one step (towards 1), recorded
	// as an override with the rule's name.
	RaisePriority bool
}

// Calendar measures working time between two instants, for escalation in
// business time. design/calendar's *Calendar satisfies it; an error (an
// instant outside the calendar's horizon) stops the escalation run.
type Calendar interface {
	Between(start, end time.Time) (time.Duration, error)
}

// SLAProgress is what escalation by SLA percentage needs from the SLA
// pillar: how much of their targets the records' SLA clocks in progress or
// paused have used. It is optional, as database/sql's driver interfaces are: New uses
// Config.SLAProgress, or else Config.SLA when it implements SLAProgress too.
type SLAProgress interface {
	// SLAPercentages returns, for each record of kind among ids that has an
	// SLA clock in progress or paused, the largest percentage of its target
	// (business time; 100 is due now) any of those clocks has used at now.
	// Records without such a clock are absent from the map.
	SLAPercentages(ctx context.Context, kind string, ids []string, now time.Time) (map[string]float64, error)
}

func (r EscalationRule) check(_ IncidentPolicy, progress SLAProgress) error {
	if !storage.ValidName(r.Name) {
		return errors.New("name must be a lower-case identifier")
	}
	switch {
	case !validRef(r.ReassignTo):
		return fmt.Errorf("reassign to must be NUL-free UTF-8 of at most %d bytes", storage.MaxStringValue)
	case r.After < 0:
		return errors.New("after cannot be negative")
	case !(r.SLAPercent >= 0 && r.SLAPercent <= 1000):
		return fmt.Errorf("sla percent %v outside 0..1000", r.SLAPercent)
	case r.After == 0 && r.SLAPercent == 0:
		return errors.New("after or sla percent must be positive")
	case r.Calendar != nil && r.After == 0:
		return errors.New("a calendar measures after, which is not set")
	case r.SLAPercent > 0 && progress == nil:
		return errors.New("sla percent needs an SLAProgress (Config.SLAProgress, or an SLAWatcher implementing it)")
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
// actor in ctx (a system actor) is recorded on each event; without one the
// call is refused (ErrForbidden). A zero now, or one after the clock's now,
// is ErrInvalid and escalates nothing: an escalation cannot be decided by
// a time that has not come.
func (d *Desk) Escalate(ctx context.Context, now time.Time) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("operation: nil context")
	}
	if _, ok := itsm.ActorFrom(ctx); !ok {
		return 0, &itsm.ForbiddenError{Kind: KindIncident, Action: itsm.ActionUpdate, Reason: "no actor in context"}
	}
	if now.IsZero() {
		return 0, itsm.Invalidf("operation: escalation at the zero time")
	}
	if clock := d.clock.Now(); now.After(clock) {
		return 0, itsm.Invalidf("operation: escalation at %s, after the clock's now %s",
			now.UTC().Format(time.RFC3339Nano), clock.UTC().Format(time.RFC3339Nano))
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
	filters := []storage.Filter{storage.In("state", stateValues(d.cfg.Incident.OpenStates)...)}
	if rule.After > 0 {
		// Working time never exceeds wall-clock time: the incidents opened
		// After ago or earlier are the candidates of a calendar rule too.
		filters = append(filters, storage.Lte("created_at", storage.Time(now.Add(-rule.After))))
	}
	if len(rule.Priorities) > 0 {
		ps := make([]storage.Value, len(rule.Priorities))
		for i, p := range rule.Priorities {
			ps[i] = storage.Int(int64(p))
		}
		filters = append(filters, storage.In("priority", ps...))
	}
	cf := d.incidents.Collection().Schema().FieldIndex("created_at")
	q := storage.Query{Kind: KindIncident, Filters: filters, Sort: []storage.Sort{{Field: "created_at"}}, Limit: 200}
	var ids []string
	pcts := map[string]float64{}
	for {
		page, err := d.backend.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		cands := make([]string, 0, len(page.Docs))
		for _, doc := range page.Docs {
			if rule.Calendar != nil {
				worked, err := rule.Calendar.Between(doc.Fields[cf].Time(), now)
				if err != nil {
					return 0, fmt.Errorf("escalation rule %s: calendar: %w", rule.Name, err)
				}
				if worked < rule.After {
					continue
				}
			}
			cands = append(cands, doc.ID)
		}
		if rule.SLAPercent > 0 && len(cands) > 0 {
			got, err := d.progress.SLAPercentages(ctx, KindIncident, cands, now)
			if err != nil {
				return 0, fmt.Errorf("escalation rule %s: SLA progress: %w", rule.Name, err)
			}
			cands = slices.DeleteFunc(cands, func(id string) bool {
				p, ok := got[id]
				if !ok || p < rule.SLAPercent {
					return true
				}
				pcts[id] = p
				return false
			})
		}
		ids = append(ids, cands...)
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
			if !d.IsOpen(i) || slices.Contains(i.Escalations, rule.Name) {
				done = true
				return nil
			}
			i.Escalations = append(i.Escalations, rule.Name)
			i.owns |= ownEscalation
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
		owner := inc.AssignedTo
		if owner == "" {
			owner = inc.AssignmentGroup
		}
		if owner != "" && !slices.Contains(to, owner) {
			to = append(to, owner)
		}
		if err := d.notify(ctx, []Notification{{Kind: KindIncident, RecordID: inc.ID, Number: inc.Number, Topic: "escalation",
			To: to, Subject: fmt.Sprintf("%s escalated (%s): %s", inc.Number, rule.Name, inc.ShortDescription),
			Body: escalationBody(rule, inc, pcts[inc.ID])}}); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// escalationBody says why the incident was escalated.
func escalationBody(rule EscalationRule, inc *Incident, pct float64) string {
	body := fmt.Sprintf("Priority %s, open since %s", PriorityName(inc.Priority), inc.CreatedAt.Format(time.RFC3339))
	if rule.Calendar != nil {
		body += fmt.Sprintf(", over %s of working time", rule.After)
	}
	if rule.SLAPercent > 0 {
		body += fmt.Sprintf(", %.0f%% of its SLA target used", pct)
	}
	return body + "."
}
