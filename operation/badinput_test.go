package operation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// Bad input common to the rows below (internal/badinput).
const (
	notUTF8   = badinput.NotUTF8
	withNUL   = badinput.WithNUL
	unknownID = badinput.UnknownID
)

var (
	huge      = badinput.Huge()
	farFuture = badinput.FarFuture()
	farPast   = badinput.FarPast()
	badTexts  = badinput.Texts()
	badTimes  = []struct {
		name string
		at   time.Time
	}{{"zero", time.Time{}}, {"year 9999", farFuture}, {"year 1", farPast}}
)

// badIDs are the records of a bad-input desk, one in every state a
// command starts from.
type badIDs struct {
	inc         string // new, caller carl, opened by ann, for network, unassigned
	incProgress string // in progress, assigned to network/ann
	incHold     string // on hold, awaiting the caller
	incResolved string // resolved by ann
	incMajor    string // proposed major by ann
	prb         string // new
	prbAnalysed string // root cause analysis, with root cause and workaround
	prbFixing   string // fix in progress, with root cause and workaround
	reqApproval string // laptop, awaiting approval, submitted by carl
	reqFulfil   string // onboard, in fulfilment, its first stage open
	task        string // open task of reqFulfil
	taskWIP     string // task of reqFulfil in progress
	alert       string // open minor alert
}

// badDesk is a desk holding the badIDs records, a minute after the last
// was written.
type badDesk struct {
	fixture
	badIDs
}

// badConfig is the configuration of a bad-input desk: besides the
// fixture's, an alert rule, an SLA watcher and an escalation rule, so
// every entry point has something to do.
func badConfig(c *operation.Config) {
	c.AlertRule = operation.AlertRule{MinSeverity: operation.SeverityMajor, AssignmentGroup: "network", ResolveOnClear: true}
	c.SLA = slaWatcher{}
	c.Escalation = []operation.EscalationRule{{Name: "after_4h", After: 4 * time.Hour, Notify: []string{"duty"}}}
}

// badStores are the stores every row runs on: prepare runs once per
// store and returns what makes a fresh desk for each row.
var badStores = []struct {
	name    string
	prepare func(t *testing.T) func(t *testing.T) badDesk
}{
	{"memory", func(*testing.T) func(t *testing.T) badDesk {
		return func(t *testing.T) badDesk { return newBadDesk(t, memory.New()) }
	}},
	{"sqlite", func(t *testing.T) func(t *testing.T) badDesk {
		// The records are written once to a template file, copied for
		// each row: writing them for each row would take most of the
		// suite's time.
		tmpl := filepath.Join(t.TempDir(), "desk.db")
		s := openBadSQLite(t, tmpl)
		ids := newBadDesk(t, s).badIDs
		require.NoError(t, s.Close())
		return func(t *testing.T) badDesk {
			path := filepath.Join(t.TempDir(), "desk.db")
			for _, suffix := range []string{"", "-wal", "-shm"} {
				data, err := os.ReadFile(tmpl + suffix)
				if errors.Is(err, os.ErrNotExist) && suffix != "" {
					continue
				}
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(path+suffix, data, 0o600))
			}
			f := badDesk{fixture: newFixtureOn(t, openBadSQLite(t, path), badConfig), badIDs: ids}
			f.clock.Advance(time.Minute)
			return f
		}
	}},
}

// openBadSQLite opens a SQLite store at path, closed when the test ends.
// A bad row is about what the desk writes, not what survives a power
// cut: the file need not be synced.
func openBadSQLite(t *testing.T, path string) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), path, sqlite.WithSynchronous("OFF"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newBadDesk(t *testing.T, store storage.Backend) badDesk {
	t.Helper()
	f := badDesk{fixture: newFixtureOn(t, store, badConfig)}
	ctx := as(ann)
	f.inc = f.open(t, func(i *operation.Incident) { i.AssignmentGroup = "network" }).ID
	f.incProgress = f.open(t).ID
	_, err := f.desk.AssignIncident(ctx, f.incProgress, "network", "ann", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.StartIncident(ctx, f.incProgress, storage.Command{})
	require.NoError(t, err)
	f.incHold = f.open(t).ID
	_, err = f.desk.HoldIncident(ctx, f.incHold, operation.HoldAwaitingCaller, storage.Command{})
	require.NoError(t, err)
	f.incResolved = f.open(t).ID
	_, err = f.desk.ResolveIncident(ctx, f.incResolved, operation.ResolvedPermanently, "rebooted", storage.Command{})
	require.NoError(t, err)
	f.incMajor = f.open(t).ID
	_, err = f.desk.ProposeMajor(ctx, f.incMajor, storage.Command{})
	require.NoError(t, err)

	p := &operation.Problem{ShortDescription: "Mail queue stalls"}
	require.NoError(t, f.desk.OpenProblem(ctx, p, storage.Command{}))
	f.prb = p.ID
	f.prbAnalysed = f.analysed(t).ID
	f.prbFixing = f.analysed(t).ID
	_, err = f.desk.MoveProblem(ctx, f.prbFixing, operation.EventFix, storage.Command{})
	require.NoError(t, err)

	f.reqApproval = f.submit(t, carl, "laptop").ID
	req := f.submit(t, carl, "onboard")
	f.reqFulfil = req.ID
	tasks := f.tasksOf(t, req)
	require.Len(t, tasks, 2)
	f.task, f.taskWIP = tasks[0].ID, tasks[1].ID
	_, err = f.desk.StartTask(ctx, f.taskWIP, storage.Command{})
	require.NoError(t, err)

	res, err := f.desk.Ingest(as(monitor), operation.MonitorEvent{Source: "zabbix", EventID: "e1", Node: "db1", Type: "disk_full",
		Severity: operation.SeverityMinor, Message: "85% used"})
	require.NoError(t, err)
	f.alert = res.Alert.ID
	f.clock.Advance(time.Minute)
	return f
}

// badRow is one bad call: run makes it on the fixture with the context
// given (nil for the nil-context rows).
type badRow struct {
	name string
	run  func(ctx context.Context, f badDesk) error
	// answers marks an entry point that returns no error: the row passes
	// when it does not panic, writes nothing and run, which checks the
	// answer, returns nil.
	answers bool
	// setup brings the desk to the state the row needs, before the store
	// is snapshotted.
	setup func(t *testing.T, f badDesk)
	// known names an open problem another change owns: the row is
	// counted, and skipped while it still fails.
	known string
}

// TestBadInput makes every exported entry point of the operation pillar
// meet bad input on every store: each call must return an error matching
// an itsm sentinel, never panic, and leave every document and the event
// log as they were.
func TestBadInput(t *testing.T) {
	rows := operationBadRows()
	for _, st := range badStores {
		t.Run(st.name, func(t *testing.T) {
			if st.name != "memory" && testing.Short() {
				t.Skip("short")
			}
			fresh := st.prepare(t)
			totals := badinput.NewTotals("operation on " + st.name)
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					f := fresh(t)
					if row.setup != nil {
						row.setup(t, f)
					}
					got, detail := badinput.Try(func() badinput.Snapshot { s := f.snapshot(t); return badinput.Snapshot{Docs: s.docs, Events: s.events} }, row.answers,
						func() error { return row.run(badinput.Ctx(row.name, as(ann)), f) })
					totals.Check(t, row.known, got, detail)
				})
			}
			totals.Log(t)
		})
	}
}

// actAs is ctx acting as a, or nil for the nil-context rows.
func actAs(ctx context.Context, a itsm.Actor) context.Context {
	if ctx == nil {
		return nil
	}
	return itsm.WithActor(ctx, a)
}

// importErr is the error of an import: the call's, or the first refusal
// of an incident.
func importErr(res operation.ImportResult, err error) error {
	if err == nil && len(res.Errors) > 0 {
		return res.Errors[0]
	}
	if err == nil && res.Imported > 0 {
		return nil
	}
	return err
}

// importable is one incident ImportIncidents accepts: opened, assigned,
// resolved and closed by hand in another tool.
func importable() operation.ImportIncident {
	at := t0.Add(-72 * time.Hour)
	return operation.ImportIncident{Ref: "OLD-1", OpenedAt: at, OpenedBy: "olga",
		Incident: operation.Incident{ShortDescription: "Printer jams", CallerID: "carl", Impact: 3, Urgency: 3},
		History: []operation.ImportRow{
			{At: at.Add(time.Hour), Actor: "olga", State: "Work in progress", AssignmentGroup: "network", AssignedTo: "ann"},
			{At: at.Add(2 * time.Hour), Actor: "ann", State: "Resolved", ResolutionCode: operation.ResolvedPermanently, ResolutionNotes: "cleared"},
		}}
}

var importStates = operation.StateMap{"Work in progress": operation.StateInProgress, "Resolved": operation.StateResolved,
	"Pending": operation.StateOnHold, "Closed": operation.StateClosed}

func operationBadRows() []badRow {
	var rows []badRow
	add := func(name string, run func(ctx context.Context, f badDesk) error) {
		rows = append(rows, badRow{name: name, run: run})
	}
	page := storage.Paging{Limit: 10}

	// Every entry point with a nil context: the commands through their
	// good calls, the rest here.
	for name, c := range badCommandCalls() {
		c := c
		add("nil ctx/"+name, func(ctx context.Context, f badDesk) error { return c.run(ctx, f, c.base) })
	}
	for name, run := range map[string]func(ctx context.Context, f badDesk) error{
		"New": func(ctx context.Context, f badDesk) error {
			_, err := operation.New(ctx, f.store, operation.Config{})
			return err
		},
		"Desk.BreachingSoon": func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.BreachingSoon(ctx, time.Hour, page)
			return err
		},
		"Desk.BreachingSoonInMyGroups": func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.BreachingSoonInMyGroups(ctx, time.Hour, page)
			return err
		},
		"Desk.MyOpenIncidents": func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.MyOpenIncidents(ctx, page)
			return err
		},
		"Desk.MyRequestedIncidents": func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.MyRequestedIncidents(ctx, page)
			return err
		},
		"Desk.UnassignedInMyGroups": func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.UnassignedInMyGroups(ctx, page)
			return err
		},
		"Desk.CloseResolved": func(ctx context.Context, f badDesk) error {
			_, err := f.desk.CloseResolved(ctx, f.clock.Now().Add(30*24*time.Hour))
			return err
		},
		"Desk.Escalate": func(ctx context.Context, f badDesk) error {
			_, err := f.desk.Escalate(ctx, f.clock.Now())
			return err
		},
		"Desk.Ingest": func(ctx context.Context, f badDesk) error {
			_, err := f.desk.Ingest(ctx, operation.MonitorEvent{Source: "zabbix", EventID: "e2", Node: "web1", Type: "down", Severity: operation.SeverityCritical})
			return err
		},
		"Desk.ImportIncidents": func(ctx context.Context, f badDesk) error {
			return importErr(f.desk.ImportIncidents(actAs(ctx, migrate), []operation.ImportIncident{importable()}, importStates))
		},
	} {
		add("nil ctx/"+name, run)
	}

	// The trailing storage.Command of every command: a reason that is not
	// text or is too long, a time no store answers for, a stale version.
	for name, c := range badCommandCalls() {
		c := c
		for bad, tweak := range map[string]func(*storage.Command){
			"reason invalid UTF-8":  func(c *storage.Command) { c.Reason = notUTF8 },
			"reason NUL":            func(c *storage.Command) { c.Reason = withNUL },
			"reason over MaxReason": func(c *storage.Command) { c.Reason = strings.Repeat("r", storage.MaxReason+1) },
			"at in 9999":            func(c *storage.Command) { c.At = farFuture },
			"stale version":         func(c *storage.Command) { c.IfVersion = 1 << 40 },
		} {
			if bad == "stale version" && c.create {
				continue // a create has no version to match
			}
			cmd := c.base
			tweak(&cmd)
			add(name+"/command "+bad, func(ctx context.Context, f badDesk) error { return c.run(ctx, f, cmd) })
		}
		// An importer may backdate, but not to a time after the clock's now.
		cmd := c.base
		cmd.At = farFuture
		add(name+"/command at in 9999 by an importer", func(ctx context.Context, f badDesk) error {
			return c.run(actAs(ctx, migrate), f, cmd)
		})
	}

	rows = append(rows, incidentBadRows()...)
	rows = append(rows, queueBadRows()...)
	rows = append(rows, problemBadRows()...)
	rows = append(rows, requestBadRows()...)
	rows = append(rows, alertBadRows()...)
	rows = append(rows, importBadRows()...)
	rows = append(rows, configBadRows()...)
	// A nil desk has nothing to search: no sources, no panic.
	rows = append(rows, badRow{name: "SearchSources/nil desk", answers: true, run: func(context.Context, badDesk) error {
		if got := operation.SearchSources(nil); got != nil {
			return fmt.Errorf("SearchSources(nil) = %v, want nil", got)
		}
		return nil
	}})
	return rows
}

// badCommandCall is a good call of a desk command, made with the command
// given: the rows give it bad commands. base is the command the good call
// needs (a reason where the lifecycle asks for one).
type badCommandCall struct {
	run    func(ctx context.Context, f badDesk, cmd storage.Command) error
	base   storage.Command
	create bool
}

// badCommandCalls are good calls of every desk command
// (TestBadCommandCallsSucceed).
func badCommandCalls() map[string]badCommandCall {
	err2 := func(_, _ any, err error) error { return err }
	return map[string]badCommandCall{
		"Desk.OpenIncident": {create: true, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return f.desk.OpenIncident(ctx, &operation.Incident{ShortDescription: "Wi-Fi down", CallerID: "carl", Impact: 2, Urgency: 2}, cmd)
		}},
		"Desk.AssignIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.AssignIncident(ctx, f.inc, "network", "bob", cmd))
		}},
		"Desk.TakeIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.TakeIncident(ctx, f.inc, false, cmd))
		}},
		"Desk.UpdateIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.UpdateIncident(ctx, f.inc, cmd, func(i *operation.Incident) error { i.Description = "more"; return nil }))
		}},
		"Desk.OverridePriority": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.OverridePriority(ctx, f.inc, 1, "the CEO's laptop", cmd))
		}},
		"Desk.AddWorkNote": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.AddWorkNote(ctx, f.inc, "called back", cmd))
		}},
		"Desk.AddComment": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.AddComment(ctx, f.inc, "on it", cmd))
		}},
		"Desk.StartIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.StartIncident(ctx, f.inc, cmd))
		}},
		"Desk.HoldIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.HoldIncident(ctx, f.inc, operation.HoldAwaitingVendor, cmd))
		}},
		"Desk.ResumeIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.ResumeIncident(ctx, f.incHold, cmd))
		}},
		"Desk.ResolveIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.ResolveIncident(ctx, f.inc, operation.ResolvedWorkaround, "restarted", cmd))
		}},
		"Desk.ReopenIncident": {base: storage.Command{Reason: "still broken"}, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.ReopenIncident(ctx, f.incResolved, cmd))
		}},
		"Desk.CloseIncident": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.CloseIncident(actAs(ctx, carl), f.incResolved, cmd))
		}},
		"Desk.CancelIncident": {base: storage.Command{Reason: "duplicate"}, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.CancelIncident(ctx, f.inc, cmd))
		}},
		"Desk.LinkChild": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.LinkChild(ctx, f.incProgress, f.inc, cmd))
		}},
		"Desk.LinkIncidentToProblem": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.LinkIncidentToProblem(ctx, f.inc, f.prb, cmd))
		}},
		"Desk.ProposeMajor": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.ProposeMajor(ctx, f.inc, cmd))
		}},
		"Desk.AcceptMajor": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.AcceptMajor(actAs(ctx, dora), f.incMajor, cmd))
		}},
		"Desk.RejectMajor": {base: storage.Command{Reason: "one user only"}, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.RejectMajor(actAs(ctx, dora), f.incMajor, cmd))
		}},
		"Desk.OpenProblem": {create: true, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return f.desk.OpenProblem(ctx, &operation.Problem{ShortDescription: "Disks fill up"}, cmd)
		}},
		"Desk.UpdateProblem": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.UpdateProblem(ctx, f.prb, cmd, func(p *operation.Problem) error { p.Description = "weekly"; return nil }))
		}},
		"Desk.MoveProblem": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.MoveProblem(ctx, f.prb, operation.EventAssess, cmd))
		}},
		"Desk.PublishKnownError": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.PublishKnownError(ctx, f.prbAnalysed, cmd))
		}},
		"Desk.ResolveProblem": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err2(f.desk.ResolveProblem(ctx, f.prbFixing, operation.ProblemFixApplied, "firmware 9.3", operation.ResolveLinked, cmd))
		}},
		"Desk.SubmitRequest": {create: true, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return f.desk.SubmitRequest(actAs(ctx, carl), &operation.Request{CatalogItemID: "laptop", Variables: map[string]string{"model": "13-inch"}}, cmd)
		}},
		"Desk.ApproveRequest": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.ApproveRequest(actAs(ctx, eve), f.reqApproval, "fine", cmd))
		}},
		"Desk.RejectRequest": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.RejectRequest(actAs(ctx, eve), f.reqApproval, "no budget", cmd))
		}},
		"Desk.CancelRequest": {base: storage.Command{Reason: "not needed"}, run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.CancelRequest(ctx, f.reqFulfil, cmd))
		}},
		"Desk.StartTask": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.StartTask(ctx, f.task, cmd))
		}},
		"Desk.CompleteTask": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.CompleteTask(ctx, f.taskWIP, "done", cmd))
		}},
		"Desk.CloseTaskIncomplete": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.CloseTaskIncomplete(ctx, f.taskWIP, "no stock", cmd))
		}},
		"Desk.AcknowledgeAlert": {run: func(ctx context.Context, f badDesk, cmd storage.Command) error {
			return err1(f.desk.AcknowledgeAlert(ctx, f.alert, cmd))
		}},
	}
}

// TestBadCommandCallsSucceed: each call the command rows make succeeds
// with its base command, so a row's refusal is its command's.
func TestBadCommandCallsSucceed(t *testing.T) {
	for _, st := range badStores {
		t.Run(st.name, func(t *testing.T) {
			fresh := st.prepare(t)
			for name, c := range badCommandCalls() {
				t.Run(name, func(t *testing.T) {
					f := fresh(t)
					before := f.snapshot(t)
					require.NoError(t, c.run(as(ann), f, c.base))
					assert.NotEqual(t, before, f.snapshot(t), "the call writes")
				})
			}
		})
	}
}

// rowsOf collects rows made with add and answer.
type rowsOf []badRow

func (r *rowsOf) add(name string, run func(ctx context.Context, f badDesk) error) {
	*r = append(*r, badRow{name: name, run: run})
}

func (r *rowsOf) answer(name string, run func(ctx context.Context, f badDesk) error) {
	*r = append(*r, badRow{name: name, run: run, answers: true})
}

func err1[T any](_ T, err error) error { return err }

// incidentBadRows are the incident commands' rows. Fields the desk
// documents it fills or clears are no bad input and have no rows: an empty
// caller (the actor), the counts, stamps, resolution and state of a new
// incident (cleared; the state is the lifecycle's first), and likewise a
// request's approvals, plan and state and an imported incident's id and
// state.
func incidentBadRows() []badRow {
	var r rowsOf
	inc := func(fn func(*operation.Incident)) *operation.Incident {
		i := &operation.Incident{ShortDescription: "Wi-Fi down", CallerID: "carl", Impact: 2, Urgency: 2}
		fn(i)
		return i
	}
	r.add("Desk.OpenIncident/nil", func(ctx context.Context, f badDesk) error { return f.desk.OpenIncident(ctx, nil, storage.Command{}) })
	r.add("Desk.OpenIncident/zero", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenIncident(ctx, &operation.Incident{}, storage.Command{})
	})
	for _, s := range badTexts {
		v := s.Value
		r.add("Desk.OpenIncident/short description "+s.Name, func(ctx context.Context, f badDesk) error {
			return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.ShortDescription = v }), storage.Command{})
		})
		if v != "" {
			r.add("Desk.OpenIncident/description "+s.Name, func(ctx context.Context, f badDesk) error {
				return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.Description = v }), storage.Command{})
			})
			r.add("Desk.OpenIncident/category "+s.Name, func(ctx context.Context, f badDesk) error {
				return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.Category = v }), storage.Command{})
			})
			r.add("Desk.OpenIncident/parent "+s.Name, func(ctx context.Context, f badDesk) error {
				return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.ParentID = v }), storage.Command{})
			})
			r.add("Desk.OpenIncident/known error "+s.Name, func(ctx context.Context, f badDesk) error {
				return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.KnownErrorID = v }), storage.Command{})
			})
		}
		if v != "" { // the caller defaults to the actor
			r.add("Desk.OpenIncident/caller "+s.Name, func(ctx context.Context, f badDesk) error {
				return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.CallerID = v }), storage.Command{})
			})
		}
		r.add("Desk.AssignIncident/group "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.AssignIncident(ctx, f.inc, v, "", storage.Command{}))
		})
		if v != "" {
			r.add("Desk.AssignIncident/person "+s.Name, func(ctx context.Context, f badDesk) error {
				return err1(f.desk.AssignIncident(ctx, f.inc, "network", v, storage.Command{}))
			})
		}
		for name, call := range map[string]func(ctx context.Context, f badDesk, id string) error{
			"Desk.AssignIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.AssignIncident(ctx, id, "network", "", storage.Command{}))
			},
			"Desk.TakeIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.TakeIncident(ctx, id, true, storage.Command{}))
			},
			"Desk.StartIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.StartIncident(ctx, id, storage.Command{}))
			},
			"Desk.ResumeIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.ResumeIncident(ctx, id, storage.Command{}))
			},
			"Desk.ReopenIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.ReopenIncident(ctx, id, storage.Command{Reason: "again"}))
			},
			"Desk.CloseIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.CloseIncident(ctx, id, storage.Command{}))
			},
			"Desk.CancelIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.CancelIncident(ctx, id, storage.Command{Reason: "dup"}))
			},
			"Desk.ProposeMajor": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.ProposeMajor(ctx, id, storage.Command{}))
			},
			"Desk.AcceptMajor": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.AcceptMajor(actAs(ctx, dora), id, storage.Command{}))
			},
			"Desk.RejectMajor": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.RejectMajor(actAs(ctx, dora), id, storage.Command{Reason: "no"}))
			},
			"Desk.OverridePriority": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.OverridePriority(ctx, id, 1, "vip", storage.Command{}))
			},
			"Desk.AddWorkNote": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.AddWorkNote(ctx, id, "note", storage.Command{}))
			},
			"Desk.AddComment": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.AddComment(ctx, id, "note", storage.Command{}))
			},
			"Desk.UpdateIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.UpdateIncident(ctx, id, storage.Command{}, func(i *operation.Incident) error { i.Description = "x"; return nil }))
			},
			"Desk.HoldIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.HoldIncident(ctx, id, operation.HoldAwaitingCaller, storage.Command{}))
			},
			"Desk.ResolveIncident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.ResolveIncident(ctx, id, operation.ResolvedPermanently, "n", storage.Command{}))
			},
			"Desk.LinkChild/parent": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.LinkChild(ctx, id, f.inc, storage.Command{}))
			},
			"Desk.LinkChild/child": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.LinkChild(ctx, f.incProgress, id, storage.Command{}))
			},
			"Desk.LinkIncidentToProblem/incident": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.LinkIncidentToProblem(ctx, id, f.prb, storage.Command{}))
			},
			"Desk.LinkIncidentToProblem/problem": func(ctx context.Context, f badDesk, id string) error {
				return err1(f.desk.LinkIncidentToProblem(ctx, f.inc, id, storage.Command{}))
			},
		} {
			call := call
			sep := "/"
			if strings.Contains(name, "/") {
				sep = " "
			}
			r.add(name+sep+"id "+s.Name, func(ctx context.Context, f badDesk) error { return call(ctx, f, v) })
			if s.Name == "empty" {
				r.add(name+sep+"unknown id", func(ctx context.Context, f badDesk) error { return call(ctx, f, unknownID) })
			}
		}
		r.add("Desk.HoldIncident/reason "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.HoldIncident(ctx, f.inc, v, storage.Command{}))
		})
		r.add("Desk.ResolveIncident/code "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.ResolveIncident(ctx, f.inc, v, "notes", storage.Command{}))
		})
		r.add("Desk.ResolveIncident/notes "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.ResolveIncident(ctx, f.inc, operation.ResolvedPermanently, v, storage.Command{}))
		})
		r.add("Desk.OverridePriority/reason "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.OverridePriority(ctx, f.inc, 1, v, storage.Command{}))
		})
		r.add("Desk.AddWorkNote/text "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.AddWorkNote(ctx, f.inc, v, storage.Command{}))
		})
		r.add("Desk.AddComment/text "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.AddComment(ctx, f.inc, v, storage.Command{}))
		})
		if v != "" {
			r.add("Desk.UpdateIncident/description "+s.Name, func(ctx context.Context, f badDesk) error {
				return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(i *operation.Incident) error { i.Description = v; return nil }))
			})
		}
		r.add("Desk.UpdateIncident/short description "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(i *operation.Incident) error { i.ShortDescription = v; return nil }))
		})
		r.add("Desk.UpdateIncident/state "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(i *operation.Incident) error { i.State = v; return nil }))
		})
	}
	for _, n := range []int{-1, 0, 6, math.MaxInt, math.MinInt} {
		n := n
		r.add(fmt.Sprintf("Desk.OpenIncident/impact %d", n), func(ctx context.Context, f badDesk) error {
			return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.Impact = n }), storage.Command{})
		})
		r.add(fmt.Sprintf("Desk.OpenIncident/urgency %d", n), func(ctx context.Context, f badDesk) error {
			return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.Urgency = n }), storage.Command{})
		})
		r.add(fmt.Sprintf("Desk.UpdateIncident/impact %d", n), func(ctx context.Context, f badDesk) error {
			return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(i *operation.Incident) error { i.Impact = n; return nil }))
		})
		if n != 0 {
			r.add(fmt.Sprintf("Desk.OverridePriority/priority %d", n), func(ctx context.Context, f badDesk) error {
				return err1(f.desk.OverridePriority(ctx, f.inc, n, "vip", storage.Command{}))
			})
		}
		if n != 0 {
			r.add(fmt.Sprintf("Desk.OpenIncident/priority %d", n), func(ctx context.Context, f badDesk) error {
				return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.Priority = n }), storage.Command{})
			})
		}
	}
	r.add("Desk.OpenIncident/id given", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.ID = f.inc }), storage.Command{})
	})
	r.add("Desk.OpenIncident/unknown parent", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.ParentID = unknownID }), storage.Command{})
	})
	r.add("Desk.OpenIncident/work notes given", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.WorkNotes = []operation.Note{{Text: "planted"}} }), storage.Command{})
	})
	r.add("Desk.UpdateIncident/nil edit", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, nil))
	})
	r.add("Desk.UpdateIncident/edit panics", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(*operation.Incident) error { panic("boom") }))
	})
	r.add("Desk.UpdateIncident/edit refuses", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(*operation.Incident) error { return itsm.Invalidf("no") }))
	})
	r.answer("Desk.UpdateIncident/no change", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(*operation.Incident) error { return nil }))
	})
	r.add("Desk.UpdateIncident/resolution code", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(i *operation.Incident) error { i.ResolutionCode = "x"; return nil }))
	})
	r.add("Desk.UpdateIncident/id", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.inc, storage.Command{}, func(i *operation.Incident) error { i.ID = unknownID; return nil }))
	})
	r.add("Desk.UpdateIncident/resolved incident", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateIncident(ctx, f.incResolved, storage.Command{}, func(i *operation.Incident) error { i.Description = "x"; return nil }))
	})
	r.add("Desk.LinkChild/itself", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.LinkChild(ctx, f.inc, f.inc, storage.Command{}))
	})
	r.add("Desk.LinkChild/resolved parent", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.LinkChild(ctx, f.incResolved, f.inc, storage.Command{}))
	})
	r = append(r, badRow{name: "Desk.LinkChild/cycle",
		setup: func(t *testing.T, f badDesk) {
			_, err := f.desk.LinkChild(as(ann), f.incProgress, f.inc, storage.Command{})
			require.NoError(t, err)
		},
		run: func(ctx context.Context, f badDesk) error {
			return err1(f.desk.LinkChild(ctx, f.inc, f.incProgress, storage.Command{}))
		}})
	r.add("Desk.ReopenIncident/not resolved", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ReopenIncident(ctx, f.inc, storage.Command{Reason: "x"}))
	})
	r.add("Desk.ReopenIncident/past the window", func(ctx context.Context, f badDesk) error {
		f.clock.Advance(30 * 24 * time.Hour)
		return err1(f.desk.ReopenIncident(ctx, f.incResolved, storage.Command{Reason: "x"}))
	})
	r.add("Desk.CloseIncident/another caller", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.CloseIncident(actAs(ctx, itsm.Actor{ID: "zed", Roles: []string{"caller"}}), f.incResolved, storage.Command{}))
	})
	r.add("Desk.CancelIncident/no reason", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.CancelIncident(ctx, f.inc, storage.Command{}))
	})
	r.add("Desk.AcceptMajor/by the proposer", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.AcceptMajor(ctx, f.incMajor, storage.Command{}))
	})
	r.add("Desk.AcceptMajor/not proposed", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.AcceptMajor(actAs(ctx, dora), f.inc, storage.Command{}))
	})
	r.add("Desk.ProposeMajor/twice", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ProposeMajor(ctx, f.incMajor, storage.Command{}))
	})
	r.add("Desk.TakeIncident/by a caller", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.TakeIncident(actAs(ctx, carl), f.inc, false, storage.Command{}))
	})
	r.add("Desk.TakeIncident/another's without reassign", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.TakeIncident(actAs(ctx, bob), f.incProgress, false, storage.Command{}))
	})
	r.add("Desk.AssignIncident/not a member", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.AssignIncident(ctx, f.inc, "servers", "ann", storage.Command{}))
	})
	r.add("Desk.AddWorkNote/by a caller", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.AddWorkNote(actAs(ctx, carl), f.inc, "x", storage.Command{}))
	})
	r.add("Desk.AddComment/text over MaxText", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.AddComment(ctx, f.inc, strings.Repeat("y", operation.MaxText+1), storage.Command{}))
	})
	r.add("Desk.HoldIncident/resolved", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.HoldIncident(ctx, f.incResolved, operation.HoldAwaitingCaller, storage.Command{}))
	})
	r.add("Desk.ResumeIncident/not on hold", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ResumeIncident(ctx, f.inc, storage.Command{}))
	})
	r.add("Desk.StartIncident/in progress", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.StartIncident(ctx, f.incProgress, storage.Command{}))
	})
	r.add("Desk.AssignIncident/resolved", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.AssignIncident(ctx, f.incResolved, "network", "bob", storage.Command{}))
	})
	r.add("Desk.ProposeMajor/resolved", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ProposeMajor(ctx, f.incResolved, storage.Command{}))
	})
	r.add("Desk.ResolveIncident/resolved", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ResolveIncident(ctx, f.incResolved, operation.ResolvedPermanently, "n", storage.Command{}))
	})
	r.add("Desk.OpenIncident/number of an existing", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenIncident(ctx, inc(func(i *operation.Incident) { i.Number = "INC0000001" }), storage.Command{})
	})
	r = append(r, badRow{name: "Desk.LinkChild/linked twice",
		setup: func(t *testing.T, f badDesk) {
			_, err := f.desk.LinkChild(as(ann), f.incProgress, f.inc, storage.Command{})
			require.NoError(t, err)
		},
		run: func(ctx context.Context, f badDesk) error {
			return err1(f.desk.LinkChild(ctx, f.incProgress, f.inc, storage.Command{}))
		}})
	r.answer("Desk.IsOpen/nil", func(_ context.Context, f badDesk) error {
		if f.desk.IsOpen(nil) {
			return errors.New("a nil incident is open")
		}
		return nil
	})
	r.answer("Desk.IsOpen/unknown state", func(_ context.Context, f badDesk) error {
		if f.desk.IsOpen(&operation.Incident{Record: itsm.Record{State: "dreaming"}}) {
			return errors.New("an incident in an unknown state is open")
		}
		return nil
	})
	r.answer("Desk.PriorityMatrix/nil ctx", func(_ context.Context, f badDesk) error {
		var none context.Context
		if f.desk.PriorityMatrix(none).Impacts() == 0 {
			return errors.New("no matrix for a nil context")
		}
		return nil
	})
	r.answer("Desk.PriorityMatrix/malformed tenant", func(ctx context.Context, f badDesk) error {
		if f.desk.PriorityMatrix(itsm.WithTenant(ctx, "Not A Tenant")).Impacts() == 0 {
			return errors.New("no matrix for a tenant without its own")
		}
		return nil
	})
	return r
}

func queueBadRows() []badRow {
	var r rowsOf
	queues := map[string]func(ctx context.Context, f badDesk, p storage.Paging) error{
		"Desk.MyOpenIncidents": func(ctx context.Context, f badDesk, p storage.Paging) error {
			_, _, err := f.desk.MyOpenIncidents(ctx, p)
			return err
		},
		"Desk.MyRequestedIncidents": func(ctx context.Context, f badDesk, p storage.Paging) error {
			_, _, err := f.desk.MyRequestedIncidents(ctx, p)
			return err
		},
		"Desk.UnassignedInMyGroups": func(ctx context.Context, f badDesk, p storage.Paging) error {
			_, _, err := f.desk.UnassignedInMyGroups(ctx, p)
			return err
		},
		"Desk.BreachingSoon": func(ctx context.Context, f badDesk, p storage.Paging) error {
			_, _, err := f.desk.BreachingSoon(ctx, time.Hour, p)
			return err
		},
		"Desk.BreachingSoonInMyGroups": func(ctx context.Context, f badDesk, p storage.Paging) error {
			_, _, err := f.desk.BreachingSoonInMyGroups(ctx, time.Hour, p)
			return err
		},
	}
	for name, q := range queues {
		q := q
		for _, n := range []int{-1, storage.MaxLimit + 1, math.MaxInt, math.MinInt} {
			n := n
			r.add(fmt.Sprintf("%s/limit %d", name, n), func(ctx context.Context, f badDesk) error {
				return q(ctx, f, storage.Paging{Limit: n})
			})
		}
		for _, s := range badTexts[1:] { // the empty cursor is the first page
			if strings.HasPrefix(name, "Desk.Breaching") {
				break // the cursor is the SLAWatcher's, passed through
			}
			v := s.Value
			r.add(name+"/cursor "+s.Name, func(ctx context.Context, f badDesk) error {
				return q(ctx, f, storage.Paging{Limit: 10, Cursor: v})
			})
		}
		if !strings.HasPrefix(name, "Desk.Breaching") {
			r.add(name+"/cursor not ours", func(ctx context.Context, f badDesk) error {
				return q(ctx, f, storage.Paging{Limit: 10, Cursor: "eyJrIjoxfQ"})
			})
		}
		r.add(name+"/no actor", func(_ context.Context, f badDesk) error { return q(context.Background(), f, storage.Paging{}) })
	}
	for _, d := range []time.Duration{0, -time.Hour, math.MinInt64} {
		d := d
		r.add(fmt.Sprintf("Desk.BreachingSoon/within %d", d), func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.BreachingSoon(ctx, d, storage.Paging{})
			return err
		})
		r.add(fmt.Sprintf("Desk.BreachingSoonInMyGroups/within %d", d), func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.BreachingSoonInMyGroups(ctx, d, storage.Paging{})
			return err
		})
	}
	for _, tm := range badTimes[:2] {
		at := tm.at
		r.add("Desk.CloseResolved/"+tm.name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.CloseResolved(actAs(ctx, system), at))
		})
		r.add("Desk.Escalate/"+tm.name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.Escalate(actAs(ctx, system), at))
		})
	}
	// Year 1 is a time that has come: nothing was due then.
	r.answer("Desk.CloseResolved/year 1", func(ctx context.Context, f badDesk) error {
		if n, err := f.desk.CloseResolved(actAs(ctx, system), farPast); err != nil || n != 0 {
			return fmt.Errorf("closed %d: %v", n, err)
		}
		return nil
	})
	r.answer("Desk.Escalate/year 1", func(ctx context.Context, f badDesk) error {
		if n, err := f.desk.Escalate(actAs(ctx, system), farPast); err != nil || n != 0 {
			return fmt.Errorf("escalated %d: %v", n, err)
		}
		return nil
	})
	r.add("Desk.CloseResolved/no actor", func(_ context.Context, f badDesk) error {
		return err1(f.desk.CloseResolved(context.Background(), f.clock.Now().Add(30*24*time.Hour)))
	})
	r.add("Desk.CloseResolved/by a caller", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.CloseResolved(actAs(ctx, carl), f.clock.Now().Add(30*24*time.Hour)))
	})
	r.add("Desk.Escalate/no actor", func(_ context.Context, f badDesk) error {
		f.clock.Advance(24 * time.Hour)
		return err1(f.desk.Escalate(context.Background(), f.clock.Now()))
	})
	return r
}

func problemBadRows() []badRow {
	var r rowsOf
	r.add("Desk.OpenProblem/nil", func(ctx context.Context, f badDesk) error { return f.desk.OpenProblem(ctx, nil, storage.Command{}) })
	r.add("Desk.OpenProblem/zero", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenProblem(ctx, &operation.Problem{}, storage.Command{})
	})
	r.add("Desk.OpenProblem/priority -1", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenProblem(ctx, &operation.Problem{ShortDescription: "x", Priority: -1}, storage.Command{})
	})
	r.add("Desk.OpenProblem/priority MaxInt", func(ctx context.Context, f badDesk) error {
		return f.desk.OpenProblem(ctx, &operation.Problem{ShortDescription: "x", Priority: math.MaxInt}, storage.Command{})
	})
	for _, s := range badTexts {
		v := s.Value
		r.add("Desk.OpenProblem/short description "+s.Name, func(ctx context.Context, f badDesk) error {
			return f.desk.OpenProblem(ctx, &operation.Problem{ShortDescription: v}, storage.Command{})
		})
		if v != "" {
			r.add("Desk.OpenProblem/root cause "+s.Name, func(ctx context.Context, f badDesk) error {
				return f.desk.OpenProblem(ctx, &operation.Problem{ShortDescription: "x", RootCause: v}, storage.Command{})
			})
			r.add("Desk.UpdateProblem/workaround "+s.Name, func(ctx context.Context, f badDesk) error {
				return err1(f.desk.UpdateProblem(ctx, f.prb, storage.Command{}, func(p *operation.Problem) error { p.Workaround = v; return nil }))
			})
		}
		r.add("Desk.UpdateProblem/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.UpdateProblem(ctx, v, storage.Command{}, func(p *operation.Problem) error { p.Description = "x"; return nil }))
		})
		r.add("Desk.UpdateProblem/state "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.UpdateProblem(ctx, f.prb, storage.Command{}, func(p *operation.Problem) error { p.State = v; return nil }))
		})
		r.add("Desk.MoveProblem/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.MoveProblem(ctx, v, operation.EventAssess, storage.Command{}))
		})
		r.add("Desk.MoveProblem/event "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.MoveProblem(ctx, f.prb, v, storage.Command{}))
		})
		r.add("Desk.PublishKnownError/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.PublishKnownError(ctx, v, storage.Command{}))
		})
		r.add("Desk.ResolveProblem/id "+s.Name, func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.ResolveProblem(ctx, v, operation.ProblemFixApplied, "n", operation.ResolveLinked, storage.Command{})
			return err
		})
		r.add("Desk.ResolveProblem/code "+s.Name, func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.ResolveProblem(ctx, f.prbFixing, v, "n", operation.ResolveLinked, storage.Command{})
			return err
		})
		if v != "" {
			r.add("Desk.ResolveProblem/notes "+s.Name, func(ctx context.Context, f badDesk) error {
				_, _, err := f.desk.ResolveProblem(ctx, f.prbFixing, operation.ProblemFixApplied, v, operation.ResolveLinked, storage.Command{})
				return err
			})
		}
	}
	r.add("Desk.MoveProblem/unknown id", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.MoveProblem(ctx, unknownID, operation.EventAssess, storage.Command{}))
	})
	r.add("Desk.MoveProblem/unknown event", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.MoveProblem(ctx, f.prb, "dance", storage.Command{}))
	})
	r.add("Desk.MoveProblem/resolve", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.MoveProblem(ctx, f.prbFixing, operation.EventResolve, storage.Command{}))
	})
	r.add("Desk.MoveProblem/fix without root cause", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.MoveProblem(ctx, f.prb, operation.EventFix, storage.Command{}))
	})
	r.add("Desk.UpdateProblem/nil edit", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateProblem(ctx, f.prb, storage.Command{}, nil))
	})
	r.add("Desk.UpdateProblem/edit panics", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateProblem(ctx, f.prb, storage.Command{}, func(*operation.Problem) error { panic("boom") }))
	})
	r.add("Desk.UpdateProblem/known error id", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.UpdateProblem(ctx, f.prb, storage.Command{}, func(p *operation.Problem) error { p.KnownErrorID = unknownID; return nil }))
	})
	r.add("Desk.PublishKnownError/no workaround", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.PublishKnownError(ctx, f.prb, storage.Command{}))
	})
	r.add("Desk.PublishKnownError/unknown id", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.PublishKnownError(ctx, unknownID, storage.Command{}))
	})
	for _, l := range []operation.LinkedIncidents{2, 255} {
		l := l
		r.add(fmt.Sprintf("Desk.ResolveProblem/linked %d", l), func(ctx context.Context, f badDesk) error {
			_, _, err := f.desk.ResolveProblem(ctx, f.prbFixing, operation.ProblemFixApplied, "n", l, storage.Command{})
			return err
		})
	}
	r.add("Desk.ResolveProblem/not fixing", func(ctx context.Context, f badDesk) error {
		_, _, err := f.desk.ResolveProblem(ctx, f.prb, operation.ProblemFixApplied, "n", operation.ResolveLinked, storage.Command{})
		return err
	})
	r.add("Desk.ResolveProblem/unknown id", func(ctx context.Context, f badDesk) error {
		_, _, err := f.desk.ResolveProblem(ctx, unknownID, operation.ProblemFixApplied, "n", operation.ResolveLinked, storage.Command{})
		return err
	})
	return r
}

func requestBadRows() []badRow {
	var r rowsOf
	submit := func(ctx context.Context, f badDesk, fn func(*operation.Request)) error {
		req := &operation.Request{CatalogItemID: "laptop", Variables: map[string]string{"model": "13-inch"}}
		fn(req)
		return f.desk.SubmitRequest(actAs(ctx, carl), req, storage.Command{})
	}
	r.add("Desk.SubmitRequest/nil", func(ctx context.Context, f badDesk) error { return f.desk.SubmitRequest(ctx, nil, storage.Command{}) })
	r.add("Desk.SubmitRequest/zero", func(ctx context.Context, f badDesk) error {
		return f.desk.SubmitRequest(ctx, &operation.Request{}, storage.Command{})
	})
	r.add("Desk.SubmitRequest/unknown item", func(ctx context.Context, f badDesk) error {
		return submit(ctx, f, func(r *operation.Request) { r.CatalogItemID = unknownID })
	})
	r.add("Desk.SubmitRequest/retired item", func(ctx context.Context, f badDesk) error {
		return submit(ctx, f, func(r *operation.Request) { r.CatalogItemID = "old"; r.Variables = nil })
	})
	r.add("Desk.SubmitRequest/too many variables", func(ctx context.Context, f badDesk) error {
		return submit(ctx, f, func(r *operation.Request) {
			for i := range operation.MaxVariables + 1 {
				r.Variables[fmt.Sprint("v", i)] = "x"
			}
		})
	})
	r.add("Desk.SubmitRequest/variable over MaxVariableValue", func(ctx context.Context, f badDesk) error {
		return submit(ctx, f, func(r *operation.Request) { r.Variables["model"] = strings.Repeat("m", operation.MaxVariableValue+1) })
	})
	r.add("Desk.SubmitRequest/short description over MaxShortDescription", func(ctx context.Context, f badDesk) error {
		return submit(ctx, f, func(r *operation.Request) { r.ShortDescription = strings.Repeat("s", operation.MaxShortDescription+1) })
	})
	r.add("Desk.SubmitRequest/no actor", func(_ context.Context, f badDesk) error {
		return f.desk.SubmitRequest(context.Background(), &operation.Request{CatalogItemID: "password"}, storage.Command{})
	})
	for _, s := range badTexts {
		v := s.Value
		r.add("Desk.SubmitRequest/item "+s.Name, func(ctx context.Context, f badDesk) error {
			return submit(ctx, f, func(r *operation.Request) { r.CatalogItemID = v })
		})
		r.add("Desk.SubmitRequest/variable "+s.Name, func(ctx context.Context, f badDesk) error {
			return submit(ctx, f, func(r *operation.Request) { r.Variables["model"] = v })
		})
		if v != "" {
			r.add("Desk.SubmitRequest/variable name "+s.Name, func(ctx context.Context, f badDesk) error {
				return submit(ctx, f, func(r *operation.Request) { r.Variables[v] = "x" })
			})
			r.add("Desk.SubmitRequest/description "+s.Name, func(ctx context.Context, f badDesk) error {
				return submit(ctx, f, func(r *operation.Request) { r.Description = v })
			})
			r.add("Desk.SubmitRequest/requested for "+s.Name, func(ctx context.Context, f badDesk) error {
				return submit(ctx, f, func(r *operation.Request) { r.RequestedFor = v })
			})
			r.add("Desk.ApproveRequest/comment "+s.Name, func(ctx context.Context, f badDesk) error {
				return err1(f.desk.ApproveRequest(actAs(ctx, eve), f.reqApproval, v, storage.Command{}))
			})
			r.add("Desk.CompleteTask/notes "+s.Name, func(ctx context.Context, f badDesk) error {
				return err1(f.desk.CompleteTask(ctx, f.taskWIP, v, storage.Command{}))
			})
		}
		r.add("Desk.RejectRequest/comment "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.RejectRequest(actAs(ctx, eve), f.reqApproval, v, storage.Command{}))
		})
		r.add("Desk.CloseTaskIncomplete/notes "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.CloseTaskIncomplete(ctx, f.taskWIP, v, storage.Command{}))
		})
		r.add("Desk.ApproveRequest/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.ApproveRequest(actAs(ctx, eve), v, "ok", storage.Command{}))
		})
		r.add("Desk.RejectRequest/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.RejectRequest(actAs(ctx, eve), v, "no", storage.Command{}))
		})
		r.add("Desk.CancelRequest/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.CancelRequest(ctx, v, storage.Command{Reason: "x"}))
		})
		r.add("Desk.StartTask/id "+s.Name, func(ctx context.Context, f badDesk) error { return err1(f.desk.StartTask(ctx, v, storage.Command{})) })
		r.add("Desk.CompleteTask/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.CompleteTask(ctx, v, "done", storage.Command{}))
		})
		r.add("Desk.CloseTaskIncomplete/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.CloseTaskIncomplete(ctx, v, "no", storage.Command{}))
		})
		r.add("Desk.AcknowledgeAlert/id "+s.Name, func(ctx context.Context, f badDesk) error {
			return err1(f.desk.AcknowledgeAlert(ctx, v, storage.Command{}))
		})
	}
	r.add("Desk.ApproveRequest/by the requester", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ApproveRequest(actAs(ctx, carl), f.reqApproval, "mine", storage.Command{}))
	})
	r.add("Desk.ApproveRequest/not an approver", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ApproveRequest(ctx, f.reqApproval, "ok", storage.Command{}))
	})
	r.add("Desk.ApproveRequest/unknown id", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ApproveRequest(actAs(ctx, eve), unknownID, "ok", storage.Command{}))
	})
	r.add("Desk.ApproveRequest/not awaiting", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.ApproveRequest(actAs(ctx, eve), f.reqFulfil, "ok", storage.Command{}))
	})
	r.add("Desk.CancelRequest/another caller", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.CancelRequest(actAs(ctx, itsm.Actor{ID: "zed", Roles: []string{"caller"}}), f.reqFulfil, storage.Command{Reason: "x"}))
	})
	r.add("Desk.StartTask/started", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.StartTask(ctx, f.taskWIP, storage.Command{}))
	})
	r.add("Desk.CompleteTask/unknown id", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.CompleteTask(ctx, unknownID, "done", storage.Command{}))
	})
	r = append(r, badRow{name: "Desk.AcknowledgeAlert/twice",
		setup: func(t *testing.T, f badDesk) {
			_, err := f.desk.AcknowledgeAlert(as(ann), f.alert, storage.Command{})
			require.NoError(t, err)
		},
		run: func(ctx context.Context, f badDesk) error {
			return err1(f.desk.AcknowledgeAlert(ctx, f.alert, storage.Command{}))
		}})
	return r
}

func alertBadRows() []badRow {
	var r rowsOf
	ev := func(fn func(*operation.MonitorEvent)) operation.MonitorEvent {
		e := operation.MonitorEvent{Source: "zabbix", EventID: "e9", Node: "web1", Type: "down", Severity: operation.SeverityCritical, Message: "no ping"}
		fn(&e)
		return e
	}
	ingest := func(fn func(*operation.MonitorEvent)) func(ctx context.Context, f badDesk) error {
		return func(ctx context.Context, f badDesk) error { return err1(f.desk.Ingest(actAs(ctx, monitor), ev(fn))) }
	}
	for _, s := range badTexts {
		v := s.Value
		if v == "" {
			r.add("Desk.Ingest/source and node empty", ingest(func(e *operation.MonitorEvent) { e.Source, e.Node = "", "" }))
			r.add("Desk.Ingest/type empty", ingest(func(e *operation.MonitorEvent) { e.Type = "" }))
			continue
		}
		r.add("Desk.Ingest/source "+s.Name, ingest(func(e *operation.MonitorEvent) { e.Source = v }))
		r.add("Desk.Ingest/event id "+s.Name, ingest(func(e *operation.MonitorEvent) { e.EventID = v }))
		r.add("Desk.Ingest/node "+s.Name, ingest(func(e *operation.MonitorEvent) { e.Node = v }))
		r.add("Desk.Ingest/type "+s.Name, ingest(func(e *operation.MonitorEvent) { e.Type = v }))
		r.add("Desk.Ingest/message "+s.Name, ingest(func(e *operation.MonitorEvent) { e.Message = v }))
		r.add("Desk.Ingest/CI "+s.Name, ingest(func(e *operation.MonitorEvent) { e.CIID = v }))
		r.add("Desk.Ingest/dedup key "+s.Name, ingest(func(e *operation.MonitorEvent) { e.DedupKey = v }))
	}
	for _, n := range []int{-1, 6, math.MaxInt, math.MinInt} {
		n := n
		r.add(fmt.Sprintf("Desk.Ingest/severity %d", n), ingest(func(e *operation.MonitorEvent) { e.Severity = n }))
	}
	r.add("Desk.Ingest/no actor", func(_ context.Context, f badDesk) error {
		return err1(f.desk.Ingest(context.Background(), ev(func(*operation.MonitorEvent) {})))
	})
	r.add("Desk.Ingest/by a caller", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.Ingest(actAs(ctx, carl), ev(func(*operation.MonitorEvent) {})))
	})
	r.add("Desk.Ingest/event id again, changed", func(ctx context.Context, f badDesk) error {
		return err1(f.desk.Ingest(actAs(ctx, monitor), operation.MonitorEvent{Source: "zabbix", EventID: "e1", Node: "db1", Type: "disk_full",
			Severity: operation.SeverityMinor, Message: "changed"}))
	})
	return r
}

func importBadRows() []badRow {
	var r rowsOf
	imp := func(fn func(*operation.ImportIncident)) func(ctx context.Context, f badDesk) error {
		return func(ctx context.Context, f badDesk) error {
			ii := importable()
			fn(&ii)
			return importErr(f.desk.ImportIncidents(actAs(ctx, migrate), []operation.ImportIncident{ii}, importStates))
		}
	}
	r.add("Desk.ImportIncidents/by an agent", func(ctx context.Context, f badDesk) error {
		return importErr(f.desk.ImportIncidents(ctx, []operation.ImportIncident{importable()}, importStates))
	})
	r.add("Desk.ImportIncidents/state map to unknown state", func(ctx context.Context, f badDesk) error {
		return importErr(f.desk.ImportIncidents(actAs(ctx, migrate), []operation.ImportIncident{importable()},
			operation.StateMap{"Work in progress": "dreaming", "Resolved": operation.StateResolved}))
	})
	r.add("Desk.ImportIncidents/nil state map", func(ctx context.Context, f badDesk) error {
		return importErr(f.desk.ImportIncidents(actAs(ctx, migrate), []operation.ImportIncident{importable()}, nil))
	})
	with := func(opts operation.ImportOptions, fn func(*operation.ImportIncident)) func(ctx context.Context, f badDesk) error {
		return func(ctx context.Context, f badDesk) error {
			ii := importable()
			fn(&ii)
			if opts.States == nil {
				opts.States = importStates
			}
			return importErr(f.desk.Import(actAs(ctx, migrate), []operation.ImportIncident{ii}, opts))
		}
	}
	same := func(*operation.ImportIncident) {}
	r.add("Desk.Import/unknown mode", with(operation.ImportOptions{Mode: 7}, same))
	r.add("Desk.Import/negative batch", with(operation.ImportOptions{BatchSize: -1}, same))
	r.add("Desk.Import/huge batch", with(operation.ImportOptions{BatchSize: operation.MaxImportBatch + 1}, same))
	r.add("Desk.Import/source with a colon", with(operation.ImportOptions{Source: "a:b"}, same))
	r.add("Desk.Import/dry run of an unknown state", with(operation.ImportOptions{DryRun: true}, func(ii *operation.ImportIncident) { ii.History[0].State = "Limbo" }))
	r.add("Desk.Import/unknown state", with(operation.ImportOptions{Source: "jsm"}, func(ii *operation.ImportIncident) { ii.History[1].State = "Limbo" }))
	r.add("Desk.Import/row impact 9", with(operation.ImportOptions{}, func(ii *operation.ImportIncident) { ii.History[0].Impact = 9 }))
	r.add("Desk.Import/row unknown custom field", with(operation.ImportOptions{}, func(ii *operation.ImportIncident) {
		ii.History[0].Custom = itsm.Values{"nope": json.RawMessage(`"x"`)}
	}))
	r.add("Desk.Import/missing ref", with(operation.ImportOptions{}, func(ii *operation.ImportIncident) { ii.Ref = "" }))
	for _, s := range badTexts {
		v := s.Value
		if v == "" {
			continue
		}
		r.add("Desk.Import/source "+s.Name, with(operation.ImportOptions{Source: v}, same))
		r.add("Desk.Import/comment "+s.Name, with(operation.ImportOptions{}, func(ii *operation.ImportIncident) { ii.History[0].Comment = v }))
		r.add("Desk.Import/work note "+s.Name, with(operation.ImportOptions{}, func(ii *operation.ImportIncident) { ii.History[0].WorkNote = v }))
		r.add("Desk.Import/category "+s.Name, with(operation.ImportOptions{}, func(ii *operation.ImportIncident) { ii.History[0].Category = v }))
	}
	r.add("Desk.ImportIncidents/unknown foreign state", imp(func(ii *operation.ImportIncident) { ii.History[0].State = "Limbo" }))
	r.add("Desk.ImportIncidents/zero", imp(func(ii *operation.ImportIncident) { *ii = operation.ImportIncident{} }))
	r.add("Desk.ImportIncidents/opened zero", imp(func(ii *operation.ImportIncident) { ii.OpenedAt = time.Time{} }))
	r.add("Desk.ImportIncidents/opened in 9999", imp(func(ii *operation.ImportIncident) { ii.OpenedAt = farFuture }))
	r.add("Desk.ImportIncidents/row in 9999", imp(func(ii *operation.ImportIncident) { ii.History[1].At = farFuture }))
	r.add("Desk.ImportIncidents/row zero time", imp(func(ii *operation.ImportIncident) { ii.History[1].At = time.Time{} }))
	r.add("Desk.ImportIncidents/rows out of order", imp(func(ii *operation.ImportIncident) { ii.History[1].At = ii.OpenedAt.Add(-time.Hour) }))
	r.add("Desk.ImportIncidents/resolve without code", imp(func(ii *operation.ImportIncident) { ii.History[1].ResolutionCode = "" }))
	r.add("Desk.ImportIncidents/number of an existing", imp(func(ii *operation.ImportIncident) { ii.Incident.Number = "INC0000001" }))
	r.add("Desk.ImportIncidents/impact 9", imp(func(ii *operation.ImportIncident) { ii.Incident.Impact = 9 }))
	for _, s := range badTexts {
		v := s.Value
		if v != "" {
			r.add("Desk.ImportIncidents/ref "+s.Name, imp(func(ii *operation.ImportIncident) { ii.Ref = v }))
			r.add("Desk.ImportIncidents/row reason "+s.Name, imp(func(ii *operation.ImportIncident) { ii.History[0].Reason = v }))
			r.add("Desk.ImportIncidents/number "+s.Name, imp(func(ii *operation.ImportIncident) { ii.Incident.Number = v }))
		}
		if v != "" { // both default to the importer
			r.add("Desk.ImportIncidents/opened by "+s.Name, imp(func(ii *operation.ImportIncident) { ii.OpenedBy = v }))
			r.add("Desk.ImportIncidents/row actor "+s.Name, imp(func(ii *operation.ImportIncident) { ii.History[0].Actor = v }))
		}
		r.add("Desk.ImportIncidents/short description "+s.Name, imp(func(ii *operation.ImportIncident) { ii.Incident.ShortDescription = v }))
		r.add("Desk.ImportIncidents/row notes "+s.Name, imp(func(ii *operation.ImportIncident) { ii.History[1].ResolutionNotes = v }))
		r.add("Desk.ImportIncidents/row hold reason "+s.Name, imp(func(ii *operation.ImportIncident) {
			ii.History[0].State, ii.History[0].HoldReason = "Pending", v
		}))
	}
	return r
}

func configBadRows() []badRow {
	var r rowsOf
	newDesk := func(cfg operation.Config) func(ctx context.Context, f badDesk) error {
		return func(ctx context.Context, f badDesk) error { return err1(operation.New(ctx, f.store, cfg)) }
	}
	r.add("New/nil backend", func(ctx context.Context, _ badDesk) error { return err1(operation.New(ctx, nil, operation.Config{})) })
	for _, d := range []time.Duration{-1, math.MinInt64} {
		r.add(fmt.Sprintf("New/reopen window %d", d), newDesk(operation.Config{Incident: operation.IncidentPolicy{ReopenWindow: d}}))
		r.add(fmt.Sprintf("New/auto close %d", d), newDesk(operation.Config{Incident: operation.IncidentPolicy{AutoCloseAfter: d}}))
	}
	for _, s := range badTexts {
		v := s.Value
		r.add("New/hold reason "+s.Name, newDesk(operation.Config{Incident: operation.IncidentPolicy{ExtraHoldReasons: []string{v}}}))
		r.add("New/resolution code "+s.Name, newDesk(operation.Config{Incident: operation.IncidentPolicy{ExtraResolutionCodes: []string{v}}}))
		r.add("New/open state "+s.Name, newDesk(operation.Config{Incident: operation.IncidentPolicy{ExtraOpenStates: []string{v}}}))
		r.add("New/escalation name "+s.Name, newDesk(operation.Config{Escalation: []operation.EscalationRule{{Name: v, After: time.Hour}}}))
		if v != "" {
			r.add("New/alert clear code "+s.Name, newDesk(operation.Config{AlertRule: operation.AlertRule{ClearCode: v}}))
			r.add("New/alert group "+s.Name, newDesk(operation.Config{AlertRule: operation.AlertRule{MinSeverity: 2, AssignmentGroup: v}}))
			r.add("New/escalation reassign "+s.Name, newDesk(operation.Config{Escalation: []operation.EscalationRule{{Name: "e", After: time.Hour, ReassignTo: v}}}))
		}
		r.add("IncidentLifecycle/hold reason "+s.Name, func(ctx context.Context, f badDesk) error {
			lc := operation.IncidentLifecycle(operation.IncidentPolicy{HoldReasons: []string{v}})
			return err1(operation.New(ctx, f.store, operation.Config{IncidentLifecycle: lc}))
		})
		r.answer("IncidentPolicy.IsOpen/"+s.Name, func(context.Context, badDesk) error {
			if (operation.IncidentPolicy{}).IsOpen(v) {
				return errors.New("open")
			}
			return nil
		})
	}
	r.add("New/unknown open state", newDesk(operation.Config{Incident: operation.IncidentPolicy{OpenStates: []string{"dreaming"}}}))
	r.add("New/escalation SLA percent NaN", newDesk(operation.Config{Escalation: []operation.EscalationRule{{Name: "e", SLAPercent: math.NaN()}}}))
	r.add("New/escalation SLA percent -1", newDesk(operation.Config{Escalation: []operation.EscalationRule{{Name: "e", After: time.Hour, SLAPercent: -1}}}))
	r.add("New/escalation after -1", newDesk(operation.Config{Escalation: []operation.EscalationRule{{Name: "e", After: -1}}}))
	r.add("New/escalation priority 0", newDesk(operation.Config{Escalation: []operation.EscalationRule{{Name: "e", After: time.Hour, Priorities: []int{0}}}}))
	r.add("New/alert severity -1", newDesk(operation.Config{AlertRule: operation.AlertRule{MinSeverity: -1}}))
	r.add("New/alert impact MaxInt", newDesk(operation.Config{AlertRule: operation.AlertRule{MinSeverity: 1, Impact: math.MaxInt, Urgency: 1}}))
	r.add("New/matrix empty", newDesk(operation.Config{Incident: operation.IncidentPolicy{Matrix: &operation.PriorityMatrix{}}}))
	r.add("IncidentLifecycle/reopen window -1", func(ctx context.Context, f badDesk) error {
		return err1(operation.New(ctx, f.store, operation.Config{IncidentLifecycle: operation.IncidentLifecycle(operation.IncidentPolicy{ReopenWindow: -1})}))
	})
	for name, cells := range map[string][][]int{
		"nil": nil, "empty row": {{}}, "ragged": {{1, 2}, {3}}, "cell 0": {{0}}, "cell 6": {{6}}, "cell -1": {{-1}},
		"cell MaxInt": {{math.MaxInt}}, "too big": bigMatrix(1000),
	} {
		cells := cells
		r.add("NewPriorityMatrix/"+name, func(context.Context, badDesk) error { return err1(operation.NewPriorityMatrix(cells)) })
	}
	for _, iu := range [][2]int{{0, 1}, {1, 0}, {4, 1}, {1, 4}, {-1, -1}, {math.MaxInt, math.MinInt}} {
		iu := iu
		r.add(fmt.Sprintf("PriorityMatrix.Priority/%d,%d", iu[0], iu[1]), func(context.Context, badDesk) error {
			return err1(operation.DefaultPriorityMatrix().Priority(iu[0], iu[1]))
		})
	}
	r.add("PriorityMatrix.Priority/zero matrix", func(context.Context, badDesk) error {
		return err1((&operation.PriorityMatrix{}).Priority(1, 1))
	})
	for _, p := range []int{0, -1, 6, math.MaxInt, math.MinInt} {
		p := p
		r.answer(fmt.Sprintf("PriorityName/%d", p), func(context.Context, badDesk) error {
			if got := operation.PriorityName(p); got != "" {
				return fmt.Errorf("named %q", got)
			}
			return nil
		})
	}
	validate := map[string]interface{ Validate() error }{
		"Incident": (*operation.Incident)(nil), "Problem": (*operation.Problem)(nil), "KnownError": (*operation.KnownError)(nil),
		"Request": (*operation.Request)(nil), "RequestTask": (*operation.RequestTask)(nil),
	}
	for name, v := range validate {
		v := v
		r.add(name+".Validate/nil", func(context.Context, badDesk) error { return v.Validate() })
	}
	zero := map[string]interface{ Validate() error }{
		"Incident": &operation.Incident{}, "Problem": &operation.Problem{}, "KnownError": &operation.KnownError{},
		"Request": &operation.Request{}, "RequestTask": &operation.RequestTask{},
	}
	for name, v := range zero {
		v := v
		r.add(name+".Validate/zero", func(context.Context, badDesk) error { return v.Validate() })
	}
	r.add("Incident.Validate/short description NUL", func(context.Context, badDesk) error {
		return (&operation.Incident{ShortDescription: withNUL, CallerID: "carl", Impact: 1, Urgency: 1}).Validate()
	})
	r.add("Problem.Validate/short description 1 MiB+", func(context.Context, badDesk) error {
		return (&operation.Problem{ShortDescription: huge}).Validate()
	})
	r.add("Request.Validate/variables too many", func(context.Context, badDesk) error {
		vars := map[string]string{}
		for i := range operation.MaxVariables + 1 {
			vars[fmt.Sprint("v", i)] = "x"
		}
		return (&operation.Request{CatalogItemID: "laptop", ShortDescription: "x", RequestedFor: "carl", RequestedBy: "carl", Variables: vars}).Validate()
	})
	r.add("RequestTask.Validate/order -1", func(context.Context, badDesk) error {
		return (&operation.RequestTask{RequestID: "r", ShortDescription: "x", Order: -1}).Validate()
	})
	return r
}

func bigMatrix(n int) [][]int {
	cells := make([][]int, n)
	for i := range cells {
		cells[i] = make([]int, n)
		for j := range cells[i] {
			cells[i][j] = 5
		}
	}
	return cells
}

// TestBadInputCoversEveryEntryPoint: every exported function and method of
// the pillar (read from its source) has rows in the bad-input table, so an
// entry point added without them is noticed. Accessors and constructors
// that take no input are exempt.
func TestBadInputCoversEveryEntryPoint(t *testing.T) {
	exempt := map[string]bool{"Desk.Alerts": true, "Desk.Incidents": true, "Desk.KnownErrors": true, "Desk.Problems": true,
		"Desk.RequestTasks": true, "Desk.Requests": true, "Desk.Backend": true, "Desk.Notifications": true, "AlertLifecycle": true, "KnownErrorLifecycle": true,
		"ProblemLifecycle": true, "RequestLifecycle": true, "RequestTaskLifecycle": true, "DefaultAuthorizer": true,
		"DefaultPriorityMatrix": true, "PriorityMatrix.Impacts": true, "PriorityMatrix.Urgencies": true,
		"ImportError.Error": true, "ImportError.Unwrap": true, "ImportErrors.Error": true, "ImportErrors.Unwrap": true,
		"ImportReport.Err": true}
	var rows, entries []string
	for _, row := range operationBadRows() {
		rows = append(rows, row.name)
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || !fn.Name.IsExported() {
				continue
			}
			name := fn.Name.Name
			if fn.Recv != nil {
				typ := fn.Recv.List[0].Type
				if star, ok := typ.(*ast.StarExpr); ok {
					typ = star.X
				}
				id, ok := typ.(*ast.Ident)
				if !ok || !id.IsExported() {
					continue
				}
				name = id.Name + "." + name
			}
			entries = append(entries, name)
		}
	}
	assert.Greater(t, len(entries), 50, "the pillar's entry points were read")
	badinput.AssertCovered(t, rows, entries, exempt)
}
