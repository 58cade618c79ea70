package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
)

// EscalationRules are the desk's escalations: a warning to the service
// desk when an incident has used three quarters of an SLA target, and a
// priority-1 incident raised to the network group's attention once its
// target is used up.
func EscalationRules() []operation.EscalationRule {
	return []operation.EscalationRule{
		{Name: "sla_warning", SLAPercent: 75, Notify: []string{GroupServiceDesk}},
		{Name: "p1_sla_used_up", Priorities: []int{1}, SLAPercent: 100, Notify: []string{GroupNetwork}, RaisePriority: true},
	}
}

// slaProgress is the SLA engine as the desk's SLAWatcher and SLAProgress:
// the engine answers "breaching soon" itself, and the share of the targets
// used is read from each incident's clocks. (A method of the engine reading
// them in one query would serve many incidents better; see the report.)
type slaProgress struct{ *design.Engine }

var _ operation.SLAProgress = slaProgress{}

// SLAPercentages returns the largest share of its target any running clock
// of each incident has used at now: elapsed time over the target for the
// portal's round-the-clock agreements, the engine's last evaluation for a
// clock on a business calendar.
func (p slaProgress) SLAPercentages(ctx context.Context, kind string, ids []string, now time.Time) (map[string]float64, error) {
	out := make(map[string]float64, len(ids))
	for _, id := range ids {
		clocks, err := p.ClocksOf(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, c := range clocks {
			if c.TaskKind != kind || c.State != design.StageInProgress || c.Target <= 0 {
				continue
			}
			pct := c.Percentage
			if c.Calendar == "" {
				pct = float64(c.ElapsedBefore+max(now.Sub(c.RunningSince), 0)) / float64(c.Target) * 100
			}
			if cur, ok := out[id]; !ok || pct > cur {
				out[id] = pct
			}
		}
	}
	return out, nil
}

// logNotifier delivers the desk's notifications to the portal's log: a
// real portal would send mail or chat messages here.
type logNotifier struct{ s *Server }

func (n logNotifier) Notify(_ context.Context, x operation.Notification) error {
	n.s.logger.Printf("notify %v: %s (%s)", x.To, x.Subject, x.Body)
	return nil
}

// escalator is the actor escalations are recorded under.
var escalator = itsm.Actor{ID: "escalation", Name: "Escalation scheduler", Roles: []string{"agent", "system"}}

// Escalate brings the SLA clocks up to date and applies the escalation
// rules at the clock's now, as the portal's scheduler does every minute.
func (s *Server) Escalate(ctx context.Context) (int, error) {
	ctx = itsm.WithActor(ctx, escalator)
	if err := s.syncEngines(ctx); err != nil {
		return 0, err
	}
	n, err := s.desk.Escalate(ctx, s.clock.Now())
	if err != nil {
		return n, fmt.Errorf("portal: escalate: %w", err)
	}
	return n, nil
}
