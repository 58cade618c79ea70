package transition_test

import (
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// A database server fails: which business services does it take down, and
// through what?
func ExampleCMDB_Impact() {
	ctx := as(admin)
	store := memory.New()
	cmdb, err := transition.NewCMDB(ctx, store, transition.CMDBConfig{})
	if err != nil {
		panic(err)
	}
	agent := itsm.WithActor(ctx, itsm.Actor{ID: "ann", Roles: []string{"agent"}})
	ids := map[string]string{}
	names := map[string]string{}
	for _, c := range []struct{ name, class string }{
		{"Online banking", transition.ClassBusinessService},
		{"banking-web", transition.ClassApplication},
		{"banking-db", transition.ClassDatabase},
		{"dbhost01", transition.ClassServer},
	} {
		ci := &transition.CI{Name: c.name, Class: c.class}
		if err := cmdb.CreateInstalledCI(agent, ci, storage.Command{}); err != nil {
			panic(err)
		}
		ids[c.name], names[ci.ID] = ci.ID, c.name
	}
	for _, r := range [][3]string{
		{"Online banking", transition.RelDependsOn, "banking-web"},
		{"banking-web", transition.RelDependsOn, "banking-db"},
		{"banking-db", transition.RelRunsOn, "dbhost01"},
	} {
		if _, err := cmdb.Relate(agent, ids[r[0]], r[1], ids[r[2]], storage.Command{}); err != nil {
			panic(err)
		}
	}
	imp, err := cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{ids["dbhost01"]}, Direction: transition.Upstream})
	if err != nil {
		panic(err)
	}
	for _, a := range imp.Affected {
		fmt.Printf("depth %d: %s (%s) via %s\n", a.Depth, names[a.ID], a.Class, a.Type)
	}
	for _, s := range imp.Services {
		fmt.Print("service ", s.Name, ":")
		for _, p := range s.Path {
			fmt.Print(" ", names[p.CI])
		}
		fmt.Println()
	}
	// Output:
	// depth 1: banking-db (database) via runs_on
	// depth 2: banking-web (application) via depends_on
	// depth 3: Online banking (business_service) via depends_on
	// service Online banking: dbhost01 banking-db banking-web Online banking
}

// A normal change is assessed, authorised by the change manager and
// scheduled; the requester may not approve it.
func ExampleChanges_Approve() {
	ctx := as(admin)
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	changes, err := transition.NewChanges(ctx, store, transition.ChangesConfig{Clock: clock})
	if err != nil {
		panic(err)
	}
	rita := itsm.WithActor(ctx, itsm.Actor{ID: "rita", Roles: []string{"agent"}, Groups: []string{"change_management"}})
	alice := itsm.WithActor(ctx, itsm.Actor{ID: "alice", Roles: []string{"agent"}, Groups: []string{"change_management"}})

	start := clock.Now().Add(36 * time.Hour)
	c := &transition.Change{ShortDescription: "Upgrade PostgreSQL to 16", Type: transition.TypeNormal,
		PlannedStart: start, PlannedEnd: start.Add(2 * time.Hour)}
	if err := changes.Create(rita, c, storage.Command{}); err != nil {
		panic(err)
	}
	if _, err := changes.Fire(rita, c.ID, transition.ChangeEventAssess, storage.Command{}, nil); err != nil {
		panic(err)
	}
	_, risk, err := changes.AssessRisk(rita, c.ID, map[string]string{"outage": "partial", "tested": "yes", "backout": "yes", "done_before": "once"}, storage.Command{})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Number, "risk:", risk.Risk, risk.Score)
	got, err := changes.Fire(rita, c.ID, transition.ChangeEventAuthorize, storage.Command{}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", got.State, "approval:", got.Approval, "from", got.Approvals[0].Group)
	_, err = changes.Approve(rita, c.ID, "change_management", "looks fine", storage.Command{})
	fmt.Println("requester approves:", err)
	got, err = changes.Approve(alice, c.ID, "change_management", "looks fine", storage.Command{})
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", got.State, "approval:", got.Approval)
	// Output:
	// CHG0000001 risk: moderate 4
	// state: authorize approval: requested from change_management
	// requester approves: forbidden: rita may not approve change: the requester of a change may not approve or reject it
	// state: scheduled approval: approved
}
