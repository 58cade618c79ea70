package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// transition registers the Payroll CIs and their relationships in the
// CMDB, walks the impact of the database host, and takes a normal change on
// the database through assessment (a refused authorisation first, then the
// risk questionnaire), CAB approval, implementation and review.
func (d *demo) transition(ctx context.Context) error {
	cmdb, err := transition.NewCMDB(ctx, d.store, transition.CMDBConfig{Clock: d.clock})
	if err != nil {
		return err
	}
	cis := []struct{ name, class string }{
		{"Payroll", transition.ClassBusinessService},
		{"payroll-app", transition.ClassApplication},
		{"payroll-db", transition.ClassDatabase},
		{"dbhost01", transition.ClassServer},
	}
	names := map[string]string{}
	for _, c := range cis {
		ci := &transition.CI{Name: c.name, Class: c.class}
		if err := cmdb.CreateInstalledCI(d.olga, ci, storage.Command{}); err != nil {
			return err
		}
		d.ciIDs[c.name], names[ci.ID] = ci.ID, c.name
	}
	rels := [][3]string{
		{"Payroll", transition.RelDependsOn, "payroll-app"},
		{"payroll-app", transition.RelDependsOn, "payroll-db"},
		{"payroll-db", transition.RelRunsOn, "dbhost01"},
	}
	for _, r := range rels {
		if _, err := cmdb.Relate(d.olga, d.ciIDs[r[0]], r[1], d.ciIDs[r[2]], storage.Command{}); err != nil {
			return err
		}
	}
	imp, err := cmdb.Impact(d.olga, transition.ImpactQuery{CIs: []string{d.ciIDs["dbhost01"]}, Direction: transition.Upstream})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "CMDB: %d CIs, %d relationships; dbhost01 failing affects %d CIs", len(cis), len(rels), len(imp.Affected))
	for _, s := range imp.Services {
		path := make([]string, 0, len(s.Path))
		for _, p := range s.Path {
			path = append(path, names[p.CI])
		}
		fmt.Fprintf(d.out, ", service %s via %s", s.Name, strings.Join(path, " > "))
	}
	fmt.Fprintln(d.out)

	changes, err := transition.NewChanges(ctx, d.store, transition.ChangesConfig{Clock: d.clock, CMDB: cmdb})
	if err != nil {
		return err
	}
	start := d.day.Add(10 * time.Hour)
	c := &transition.Change{ShortDescription: "Add an index to the payroll export table", Type: transition.TypeNormal,
		ServiceID: d.serviceID, CIIDs: []string{d.ciIDs["payroll-db"]}, AssignedTo: "bob",
		PlannedStart: start, PlannedEnd: start.Add(time.Hour),
		ImplementationPlan: "create index concurrently", BackoutPlan: "drop index", TestPlan: "export in staging"}
	if err := changes.Create(d.rita, c, storage.Command{}); err != nil {
		return err
	}
	d.changeID = c.ID
	if _, err := changes.Fire(d.rita, c.ID, transition.ChangeEventAssess, storage.Command{}, nil); err != nil {
		return err
	}
	// Authorising before the risk assessment is refused by the lifecycle.
	_, err = changes.Fire(d.rita, c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	var te *itsm.TransitionError
	if !errors.As(err, &te) {
		return fmt.Errorf("authorising an unassessed change should be refused, got %v", err)
	}
	fmt.Fprintf(d.out, "%s %s refused in %s by guard %s: %s (ErrInvalidTransition %t)\n", te.Number, te.Event,
		te.From, te.Guard, te.Reason, errors.Is(err, itsm.ErrInvalidTransition))
	_, risk, err := changes.AssessRisk(d.rita, c.ID, map[string]string{
		"outage": "partial", "tested": "yes", "backout": "yes", "done_before": "once"}, storage.Command{})
	if err != nil {
		return err
	}
	if _, err := changes.Fire(d.rita, c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil); err != nil {
		return err
	}
	_, err = changes.Approve(d.rita, c.ID, "change_management", "fine by me", storage.Command{})
	if !errors.Is(err, itsm.ErrForbidden) {
		return fmt.Errorf("the requester approving should be forbidden, got %v", err)
	}
	d.clock.Advance(20 * time.Minute)
	got, err := changes.Approve(d.alice, c.ID, "change_management", "tested in staging", storage.Command{})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%s risk %s (score %d, %d service impacted); requester's approval forbidden; CAB %s -> %s\n",
		c.Number, risk.Risk, risk.Score, len(risk.Services), got.Approval, got.State)
	d.clock.Set(start)
	for _, ev := range []string{transition.ChangeEventImplement, transition.ChangeEventReview} {
		if _, err := changes.Fire(d.rita, c.ID, ev, storage.Command{}, nil); err != nil {
			return err
		}
		d.clock.Advance(40 * time.Minute)
	}
	got, err = changes.Close(d.rita, c.ID, transition.OutcomeSuccessful, "export 3x faster", storage.Command{})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "%s implemented %s-%s, review %s, %s\n", got.Number,
		got.ActualStart.Format("15:04"), got.ActualEnd.Format("15:04"), got.ReviewOutcome, got.State)
	return nil
}
