package main

import (
	"context"
	"fmt"

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

// escalationLabel is how a person reads an escalation rule's name.
func escalationLabel(rule string) string {
	switch rule {
	case "sla_warning":
		return "SLA warning"
	case "p1_sla_used_up":
		return "P1 target used up"
	}
	return stateLabel(rule)
}

// logNotifier delivers the desk's notifications to the portal's log and
// to the in-app inbox of each person (a group's members): a real portal
// would send mail or chat messages here too.
type logNotifier struct{ s *Server }

func (n logNotifier) Notify(ctx context.Context, x operation.Notification) error {
	n.s.logger.Printf("notify %v: %s (%s)", x.To, x.Subject, x.Body)
	if err := n.s.inbox.add(ctx, x, func(g string) []string { return n.s.members[g] }); err != nil {
		return fmt.Errorf("portal: inbox: %w", err)
	}
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
