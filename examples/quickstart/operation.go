package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
)

// operation runs the afternoon at the service desk: six incidents on the
// Payroll service (a major one, one reopened, one on hold awaiting the
// caller, one solved at first contact, two that stay open under a problem),
// a caller refused an agent's action, and a problem whose workaround is
// published as a known error.
func (d *demo) operation(ctx context.Context) error {
	desk, err := operation.New(ctx, d.store, operation.Config{Clock: d.clock})
	if err != nil {
		return err
	}
	d.desk = desk
	lifecycle(d.out, desk.Incidents().Machine())
	d.clock.Set(d.day.Add(12 * time.Hour))
	open := func(short string, impact, urgency int) (*operation.Incident, error) {
		inc := &operation.Incident{ShortDescription: short, Impact: impact, Urgency: urgency,
			ServiceID: d.serviceID, CIID: d.ciIDs["payroll-app"], ContactType: "phone"}
		if err := desk.OpenIncident(d.carl, inc, storage.Command{}); err != nil {
			return nil, err
		}
		d.incidents = append(d.incidents, inc.ID)
		return inc, nil
	}
	// wait is a step of a script: advance the clock, then run a command.
	wait := func(after time.Duration, cmd func() (*operation.Incident, error)) func() error {
		return func() error {
			d.clock.Advance(after)
			_, err := cmd()
			return err
		}
	}
	var cmd storage.Command
	assign := func(id, group, who string) func() (*operation.Incident, error) {
		return func() (*operation.Incident, error) { return desk.AssignIncident(d.ann, id, group, who, cmd) }
	}
	start := func(id string) func() (*operation.Incident, error) {
		return func() (*operation.Incident, error) { return desk.StartIncident(d.ann, id, cmd) }
	}
	resolve := func(id, code, notes string) func() (*operation.Incident, error) {
		return func() (*operation.Incident, error) { return desk.ResolveIncident(d.ann, id, code, notes, cmd) }
	}

	// The major incident: the portal is down for everyone.
	major, err := open("Payroll portal down for all users", 1, 1)
	if err != nil {
		return err
	}
	if err := script(
		wait(5*time.Minute, assign(major.ID, "payroll_support", "ann")),
		wait(0, start(major.ID)),
		wait(5*time.Minute, func() (*operation.Incident, error) { return desk.ProposeMajor(d.ann, major.ID, cmd) }),
		wait(5*time.Minute, func() (*operation.Incident, error) { return desk.AcceptMajor(d.max, major.ID, cmd) }),
	); err != nil {
		return err
	}
	// Carl, a caller, may not do an agent's work.
	_, err = desk.ResolveIncident(d.carl, major.ID, operation.ResolvedRemotely, "works for me", cmd)
	if !errors.Is(err, itsm.ErrForbidden) {
		return fmt.Errorf("a caller resolving should be forbidden, got %v", err)
	}
	fmt.Fprintln(d.out, "carl resolving", major.Number+":", err)

	// A payslip problem that comes back after it was resolved.
	reopened, err := open("Payslip PDF is blank", 2, 2)
	if err != nil {
		return err
	}
	// A login problem that waits for the caller's screenshot.
	held, err := open("Cannot log in to payroll self-service", 3, 2)
	if err != nil {
		return err
	}
	// A question answered on the phone.
	quick, err := open("Where do I change my tax code?", 3, 3)
	if err != nil {
		return err
	}
	if err := script(
		wait(2*time.Minute, resolve(quick.ID, operation.ResolvedRemotely, "explained the self-service form")),
		wait(10*time.Minute, assign(reopened.ID, "payroll_support", "ann")),
		wait(0, start(reopened.ID)),
		wait(5*time.Minute, assign(held.ID, "payroll_support", "ann")),
		wait(0, start(held.ID)),
		wait(5*time.Minute, func() (*operation.Incident, error) {
			return desk.HoldIncident(d.ann, held.ID, operation.HoldAwaitingCaller, storage.Command{Reason: "screenshot of the error"})
		}),
		wait(40*time.Minute, resolve(major.ID, operation.ResolvedPermanently, "restarted the application pool")),
		wait(20*time.Minute, resolve(reopened.ID, operation.ResolvedWorkaround, "regenerated the PDF")),
		wait(30*time.Minute, func() (*operation.Incident, error) {
			return desk.ReopenIncident(d.carl, reopened.ID, storage.Command{Reason: "still blank for March"})
		}),
		wait(10*time.Minute, func() (*operation.Incident, error) { return desk.CloseIncident(d.carl, major.ID, cmd) }),
		wait(70*time.Minute, resolve(reopened.ID, operation.ResolvedPermanently, "font missing on the PDF server")),
		wait(60*time.Minute, func() (*operation.Incident, error) { return desk.ResumeIncident(d.ann, held.ID, cmd) }),
		wait(15*time.Minute, resolve(held.ID, operation.ResolvedPermanently, "password reset")),
	); err != nil {
		return err
	}

	// The bank export times out twice: a problem, with a known error.
	d.clock.Set(d.day.Add(13*time.Hour + 30*time.Minute))
	var exports []*operation.Incident
	for _, impact := range []int{2, 3} {
		inc, err := open("Export to the bank times out", impact, 2)
		if err != nil {
			return err
		}
		if err := script(wait(3*time.Minute, assign(inc.ID, "payroll_support", "ann")), wait(0, start(inc.ID))); err != nil {
			return err
		}
		exports = append(exports, inc)
	}
	// The second one goes to the database team: a reassignment.
	if err := script(wait(20*time.Minute, assign(exports[1].ID, "dba", ""))); err != nil {
		return err
	}
	prb := &operation.Problem{ShortDescription: "Bank export times out under load", ServiceID: d.serviceID,
		CIID: d.ciIDs["payroll-db"], AssignmentGroup: "dba"}
	if err := desk.OpenProblem(d.ann, prb, cmd); err != nil {
		return err
	}
	for _, ev := range []string{operation.EventAssess, operation.EventAnalyze} {
		if _, err := desk.MoveProblem(d.ann, prb.ID, ev, cmd); err != nil {
			return err
		}
	}
	if _, err := desk.UpdateProblem(d.ann, prb.ID, cmd, func(p *operation.Problem) error {
		p.RootCause = "full table scan on the export table"
		p.Workaround = "run the export after 18:00"
		return nil
	}); err != nil {
		return err
	}
	ke, err := desk.PublishKnownError(d.ann, prb.ID, cmd)
	if err != nil {
		return err
	}
	// Each incident is linked by an agent of the group that holds it: Ann
	// no longer reads the one she handed to the database team.
	var linked []string
	for i, inc := range exports {
		got, err := desk.LinkIncidentToProblem([]context.Context{d.ann, d.dan}[i], inc.ID, prb.ID, cmd)
		if err != nil {
			return err
		}
		linked = append(linked, got.Number)
	}
	d.clock.Set(d.day.Add(17*time.Hour + 30*time.Minute))

	// The end-of-day list is Mona's: a manager reads every incident, also
	// the one that went to the database team.
	for _, id := range d.incidents {
		inc, err := desk.Incidents().Get(d.mona, id)
		if err != nil {
			return err
		}
		var notes []string
		if inc.Major {
			notes = append(notes, "major")
		}
		if inc.ReopenCount > 0 {
			notes = append(notes, fmt.Sprintf("reopened %d", inc.ReopenCount))
		}
		if inc.ReassignmentCount > 0 {
			notes = append(notes, fmt.Sprintf("reassigned %d", inc.ReassignmentCount))
		}
		reasons, err := holds(d.mona, desk, id)
		if err != nil {
			return err
		}
		if len(reasons) > 0 {
			notes = append(notes, "held "+strings.Join(reasons, ", "))
		}
		if inc.ProblemID != "" {
			notes = append(notes, "problem")
		}
		line := fmt.Sprintf("%s P%d %-11s %-15s %-39q %s", inc.Number, inc.Priority, inc.State,
			inc.AssignmentGroup, inc.ShortDescription, strings.Join(notes, ", "))
		fmt.Fprintln(d.out, strings.TrimRight(line, " "))
	}
	p, err := desk.Problems().Get(d.mona, prb.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%s %s %q; %s %s workaround %q; linked %s\n", p.Number, p.State, p.RootCause,
		ke.Number, ke.State, ke.Workaround, strings.Join(linked, ", "))
	return nil
}

// lifecycle prints a compiled lifecycle: each open state with the events it
// accepts, then the final states.
func lifecycle[T any](out io.Writer, m *itsm.Machine[T]) {
	fmt.Fprintf(out, "%s lifecycle, from %s:\n", m.Kind(), m.Initial())
	var final []string
	for _, st := range m.States() {
		if m.IsFinal(st) {
			final = append(final, st)
			continue
		}
		fmt.Fprintf(out, "  %-11s accepts %s\n", st, strings.Join(m.Available(st), ", "))
	}
	fmt.Fprintf(out, "  final: %s\n", strings.Join(final, ", "))
}

// holds lists the reasons an incident was put on hold, from its event log.
func holds(ctx context.Context, desk *operation.Desk, id string) ([]string, error) {
	evs, err := desk.Incidents().History(ctx, id)
	if err != nil {
		return nil, err
	}
	var reasons []string
	for _, e := range evs {
		if e.Name != operation.EventHold {
			continue
		}
		for _, c := range e.Changes {
			if c.Field == "hold_reason" {
				var r string
				if err := json.Unmarshal([]byte(c.To), &r); err != nil {
					return nil, err
				}
				reasons = append(reasons, r)
			}
		}
	}
	return reasons, nil
}

// script runs steps in order and stops at the first error.
func script(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
