package transition_test

import (
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// The change manager's week: every change with what it collides with (the
// same CI, or one a relationship away) and the freeze it falls into.
func ExampleChanges_CalendarView() {
	ctx := as(admin)
	store := memory.New()
	clock := itsm.NewFakeClock(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	cmdb, err := transition.NewCMDB(ctx, store, transition.CMDBConfig{Clock: clock})
	if err != nil {
		panic(err)
	}
	changes, err := transition.NewChanges(ctx, store, transition.ChangesConfig{Clock: clock, CMDB: cmdb})
	if err != nil {
		panic(err)
	}
	rita := itsm.WithActor(ctx, itsm.Actor{ID: "rita", Roles: []string{"agent"}, Groups: []string{"change_management"}})
	app := &transition.CI{Name: "billing-app", Class: transition.ClassApplication}
	db := &transition.CI{Name: "billing-db", Class: transition.ClassDatabase}
	for _, ci := range []*transition.CI{app, db} {
		if err := cmdb.CreateInstalledCI(rita, ci, storage.Command{}); err != nil {
			panic(err)
		}
	}
	if _, err := cmdb.Relate(rita, app.ID, transition.RelDependsOn, db.ID, storage.Command{}); err != nil {
		panic(err)
	}
	tuesday := clock.Now().Add(16 * time.Hour) // 00:00
	freeze := &transition.ChangeWindow{Name: "month-end close", WindowType: transition.WindowFreeze, Start: tuesday.Add(48 * time.Hour), End: tuesday.Add(72 * time.Hour)}
	if err := changes.CreateWindow(rita, freeze, storage.Command{}); err != nil {
		panic(err)
	}
	for _, c := range []*transition.Change{
		{ShortDescription: "Patch billing-db", CIIDs: []string{db.ID}, PlannedStart: tuesday.Add(2 * time.Hour), PlannedEnd: tuesday.Add(4 * time.Hour)},
		{ShortDescription: "Deploy billing 4.2", CIIDs: []string{app.ID}, PlannedStart: tuesday.Add(3 * time.Hour), PlannedEnd: tuesday.Add(5 * time.Hour)},
		{ShortDescription: "Reindex billing-db", CIIDs: []string{db.ID}, PlannedStart: tuesday.Add(50 * time.Hour), PlannedEnd: tuesday.Add(51 * time.Hour)},
	} {
		c.Type = transition.TypeNormal
		if err := changes.Create(rita, c, storage.Command{}); err != nil {
			panic(err)
		}
	}
	view, err := changes.CalendarView(ctx, tuesday, tuesday.Add(7*24*time.Hour), 1)
	if err != nil {
		panic(err)
	}
	for _, e := range view.Entries {
		fmt.Printf("%s %s %s\n", e.Change.Number, e.Change.PlannedStart.Format("Mon 15:04"), e.Change.ShortDescription)
		for _, col := range e.Collisions {
			fmt.Printf("  collides with %s at distance %d\n", col.Number, col.Distance)
		}
		for _, w := range e.Freezes {
			fmt.Printf("  in freeze %q\n", w.Name)
		}
	}
	fmt.Println(len(view.Windows), "window(s) this week")
	// Output:
	// CHG0000001 Tue 02:00 Patch billing-db
	//   collides with CHG0000002 at distance 1
	// CHG0000002 Tue 03:00 Deploy billing 4.2
	//   collides with CHG0000001 at distance 1
	// CHG0000003 Thu 02:00 Reindex billing-db
	//   in freeze "month-end close"
	// 1 window(s) this week
}
