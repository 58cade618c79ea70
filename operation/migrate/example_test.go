package migrate_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/operation/migrate"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// Migrating ServiceNow's incident history: read the export, dry-run it,
// import it, and import it again (nothing is written twice).
func ExampleServiceNow() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock})
	if err != nil {
		panic(err)
	}
	importer := itsm.WithActor(ctx, itsm.Actor{ID: "migration", Roles: []string{itsm.RoleImporter}})

	f, err := os.Open("testdata/servicenow_incident_history.csv")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sn := migrate.ServiceNow{KeepNumbers: true}
	incs, err := sn.Read(f)
	if err != nil {
		panic(err) // an operation.ImportErrors naming every row left out
	}
	opts := sn.Options()
	opts.DryRun = true
	dry, err := desk.Import(importer, incs, opts)
	if err != nil {
		panic(err)
	}
	fmt.Printf("dry run: %d incidents, %d events, %d refused\n", dry.Imported, dry.Events, len(dry.Errors))

	opts.DryRun = false
	rep, err := desk.Import(importer, incs, opts)
	if err != nil {
		panic(err)
	}
	fmt.Printf("imported %d incidents, %d events\n", rep.Imported, rep.Events)
	again, _ := desk.Import(importer, incs, opts)
	fmt.Printf("again: %d skipped, %d events\n", again.Skipped, again.Events)

	list, err := desk.Incidents().All(importer, storage.Query{})
	if err != nil {
		panic(err)
	}
	for _, inc := range list {
		evs, _ := desk.Incidents().History(importer, inc.ID)
		var names []string
		for _, e := range evs {
			names = append(names, e.Name)
		}
		fmt.Printf("%s %s reopened %d, reassigned %d, P%d: %s\n", inc.Number, inc.State, inc.ReopenCount,
			inc.ReassignmentCount, inc.Priority, strings.Join(names, " "))
	}
	// Output:
	// dry run: 3 incidents, 21 events, 0 refused
	// imported 3 incidents, 21 events
	// again: 3 skipped, 0 events
	// INC0010001 closed reopened 0, reassigned 1, P2: create update start update hold update update resume update resolve close
	// INC0010002 resolved reopened 1, reassigned 0, P4: create update resolve close reopen update resolve
	// INC0010003 canceled reopened 0, reassigned 0, P5: create cancel update
}

// Migrating Jira Service Management issues from its CSV export, with the
// Team custom field kept as the desk's "team" custom field.
func ExampleJSM() {
	ctx := context.Background()
	clock := itsm.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dict, err := storage.ParseDictionary([]byte(`{"kinds": {"incident": {"fields": [{"name": "team", "type": "string"}]}}}`))
	if err != nil {
		panic(err)
	}
	desk, err := operation.New(ctx, memory.New(), operation.Config{Clock: clock, Dictionary: dict})
	if err != nil {
		panic(err)
	}
	importer := itsm.WithActor(ctx, itsm.Actor{ID: "migration", Roles: []string{itsm.RoleImporter}})

	f, err := os.Open("testdata/jsm_issues.csv")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	jsm := migrate.JSM{CustomFields: map[string]string{"Team": "team"}}
	incs, err := jsm.Read(f)
	if err != nil {
		panic(err)
	}
	rep, err := desk.Import(importer, incs, jsm.Options())
	if err != nil {
		panic(err)
	}
	fmt.Printf("imported %d issues, %d events, %d refused\n", rep.Imported, rep.Events, len(rep.Errors))
	list, err := desk.Incidents().All(importer, storage.Query{})
	if err != nil {
		panic(err)
	}
	for _, inc := range list {
		team, _ := inc.Custom.Str("team")
		fmt.Printf("%s %s P%d team=%q comments=%d code=%q\n", inc.SourceKey, inc.State, inc.Priority, team, len(inc.Comments), inc.ResolutionCode)
	}
	// Output:
	// imported 4 issues, 14 events, 0 refused
	// jsm:ITSM-101 closed P2 team="Identity" comments=2 code="solved_permanently"
	// jsm:ITSM-102 on_hold P3 team="Network" comments=1 code=""
	// jsm:ITSM-103 new P4 team="" comments=0 code=""
	// jsm:ITSM-104 canceled P5 team="Storage" comments=0 code=""
}
