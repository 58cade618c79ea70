package operation_test

import (
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/operation"
)

// FuzzIngest feeds arbitrary monitoring events, twice each (the repeat
// with a changed message): Ingest never panics, every refusal matches a
// kernel sentinel and a refusal writes nothing.
func FuzzIngest(f *testing.F) {
	f.Add("zabbix", "e1", "web1", "down", 1, "no ping", "web1", "")
	f.Add("", "", "", "", 0, "", "", "")
	f.Add("s", "e", "n", "t", 9, "m", "", "k")
	f.Add("s", "e", "n", "t", 0, "m", "db1", "k")
	f.Fuzz(func(t *testing.T, source, eventID, node, typ string, sev int, msg, ci, key string) {
		fx := newFixture(t, func(c *operation.Config) {
			c.AlertRule = operation.AlertRule{MinSeverity: 2, ResolveOnClear: true}
		})
		ev := operation.MonitorEvent{Source: source, EventID: eventID, Node: node, Type: typ, Severity: sev, Message: msg, CIID: ci, DedupKey: key}
		for i := 0; i < 2; i++ {
			before := fx.snapshot(t)
			_, err := fx.desk.Ingest(as(monitor), ev)
			if err != nil {
				if !badinput.MatchesSentinel(err) {
					t.Fatalf("error matches no sentinel: %v", err)
				}
				after := fx.snapshot(t)
				if len(after.events) != len(before.events) {
					t.Fatalf("a refused event wrote %d events", len(after.events)-len(before.events))
				}
			}
			ev.Message += "!"
		}
	})
}

// FuzzImport imports one incident whose rows carry arbitrary foreign state
// names, hold reasons and resolution codes: the import never panics, and an
// incident is either imported whole or reported with a row-numbered error
// matching a sentinel, leaving no event behind.
func FuzzImport(f *testing.F) {
	f.Add("Work in progress", "Pending", "awaiting_vendor", "Resolved", "solved_permanently", "notes", "Closed", int64(60))
	f.Add("Closed", "", "", "", "", "", "", int64(0))
	f.Add("Resolved", "Work in progress", "", "Resolved", "x", "", "Canceled", int64(-5))
	f.Fuzz(func(t *testing.T, s1, s2, hold, s3, code, notes, s4 string, gap int64) {
		fx := newFixture(t)
		fx.clock.Set(t0.Add(365 * 24 * time.Hour))
		step := time.Duration(gap) * time.Minute
		at := func(n int) time.Time { return t0.Add(time.Duration(n) * step) }
		in := operation.ImportIncident{Ref: "F-1", OpenedAt: t0,
			Incident: operation.Incident{ShortDescription: "fuzz", CallerID: "carl", Impact: 1, Urgency: 1},
			History: []operation.ImportRow{
				{At: at(1), State: s1},
				{At: at(2), State: s2, HoldReason: hold},
				{At: at(3), State: s3, ResolutionCode: code, ResolutionNotes: notes},
				{At: at(4), State: s4},
			}}
		res, err := fx.desk.ImportIncidents(as(migrate), []operation.ImportIncident{in}, jiraStates)
		if err != nil {
			t.Fatal(err)
		}
		snap := fx.snapshot(t)
		switch {
		case res.Imported == 1 && len(res.Errors) == 0:
			if len(snap.events) < 1 {
				t.Fatal("imported without events")
			}
		case res.Imported == 0 && len(res.Errors) >= 1:
			for _, e := range res.Errors {
				if e.Record != "F-1" || e.Row < 0 || e.Row > 4 || e.Rule == "" || !badinput.MatchesSentinel(e) {
					t.Fatalf("bad import error %+v", e)
				}
			}
			if len(snap.events) != 0 {
				t.Fatalf("a rejected incident left %d events", len(snap.events))
			}
		default:
			t.Fatalf("unexpected result %+v", res)
		}
	})
}
