package transition_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

// Bad input common to the rows below (internal/badinput).
const (
	badNotUTF8   = badinput.NotUTF8
	badNUL       = badinput.WithNUL
	badUnknownID = badinput.UnknownID
)

var (
	badHuge      = badinput.Huge()
	badFarFuture = badinput.FarFuture()
	badTexts     = badinput.Texts()
	badImporter  = itsm.Actor{ID: "imp", Roles: []string{itsm.RoleImporter}}
	badAllKinds  = []string{transition.KindCI, transition.KindRelationship, transition.KindBaseline, transition.KindBaselinePart,
		transition.KindRelationshipGuard, transition.KindChange, transition.KindChangeCI, transition.KindChangeTemplate,
		transition.KindChangeWindow, transition.KindCABMeeting, transition.KindKnowledge, transition.KindRelease, transition.KindDeployment}
)

// badStores are the stores every row runs on: memory and SQLite on a
// temporary file.
var badStores = map[string]func(t *testing.T) storage.Backend{
	"memory": func(t *testing.T) storage.Backend { return memory.New() },
	"sqlite": func(t *testing.T) storage.Backend { return badinput.SQLite(t) },
}

// badKit is the transition pillar on one store with a record of every kind
// to aim at: the bank's CMDB and a relationship, a baseline, a change in
// new and one awaiting approval, a CAB meeting, a template, a window, a
// published article and a release.
type badKit struct {
	*changeEnv
	kb       *transition.Knowledge
	rs       *transition.Releases
	rel      string
	baseline string
	change   string
	pending  string
	meeting  string
	template string
	window   string
	article  string
	release  string
	// deployment is set by the rows that start one.
	deployment string
}

func newBadKit(t *testing.T, open func(t *testing.T) storage.Backend) *badKit {
	t.Helper()
	ctx := context.Background()
	b := newBankOn(t, open(t))
	cfg := transition.ChangesConfig{Clock: b.clock, CMDB: b.cmdb, Directory: itsm.StaticDirectory{"cab": {"bob", "cara", "ivan"}}}
	ch, err := transition.NewChanges(ctx, b.store, cfg)
	require.NoError(t, err)
	k := &badKit{changeEnv: &changeEnv{bank: b, changes: ch}}
	rels, err := b.cmdb.Relationships(as(admin), b.db)
	require.NoError(t, err)
	k.rel = rels[0].ID
	bl, err := b.cmdb.CreateBaseline(as(agent), "before", "", transition.BaselineScope{CIs: []string{b.db}}, storage.Command{})
	require.NoError(t, err)
	k.baseline = bl.ID
	k.change = k.normal(t, b.db).ID
	k.pending = k.toAuthorize(t, k.normal(t, b.web), lowAnswers).ID
	start := t0.Add(24 * time.Hour)
	m := &transition.CABMeeting{Name: "Weekly CAB", Board: "change_management", Start: start, End: start.Add(time.Hour),
		Attendees: []transition.CABAttendee{{ID: "alice", Role: transition.AttendeeChair}}}
	require.NoError(t, ch.ScheduleCAB(as(alice), m, storage.Command{}))
	k.meeting = m.ID
	tpl := &transition.ChangeTemplate{Name: "Restart web tier", ShortDescription: "Rolling restart", Risk: transition.RiskLow,
		ImplementationPlan: "one node at a time", BackoutPlan: "none", AssignmentGroup: "web"}
	require.NoError(t, ch.CreateTemplate(as(alice), tpl, storage.Command{}))
	k.template = tpl.ID
	w := &transition.ChangeWindow{Name: "sunday", WindowType: transition.WindowMaintenance, Start: t0.Add(120 * time.Hour), End: t0.Add(124 * time.Hour)}
	require.NoError(t, ch.CreateWindow(as(alice), w, storage.Command{}))
	k.window = w.ID
	k.kb, err = transition.NewKnowledge(ctx, b.store, transition.KnowledgeConfig{Clock: b.clock})
	require.NoError(t, err)
	k.article = publish(t, k.kb, "Reset a VPN token", "Open the portal.").ID
	k.rs, err = transition.NewReleases(ctx, b.store, transition.ReleasesConfig{Clock: b.clock, Changes: ch})
	require.NoError(t, err)
	r := &transition.Release{ShortDescription: "Banking 4.2", Version: "4.2.0", Environments: []string{"test", "production"}}
	require.NoError(t, k.rs.Create(as(rita), r, storage.Command{}))
	k.release = r.ID
	return k
}

type badRow struct {
	name  string
	run   func(ctx context.Context, k *badKit) error
	setup func(t *testing.T, k *badKit)
	// known names an open problem another change owns: the row is
	// counted, and skipped while it still fails.
	known string
}

// TestBadInput makes every exported entry point of the transition pillar's
// services meet bad input on memory and on SQLite: each call must return
// an error matching an itsm sentinel, never panic, and leave every document
// and the event log as they were.
func TestBadInput(t *testing.T) {
	rows := append(transitionBadRows(), graphBadRows()...)
	for store, open := range badStores {
		t.Run(store, func(t *testing.T) {
			totals := badinput.NewTotals("transition on " + store)
			for _, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					k := newBadKit(t, open)
					if row.setup != nil {
						row.setup(t, k)
					}
					got, detail := badinput.Try(func() badinput.Snapshot { return badinput.Take(t, k.store, badAllKinds...) }, false,
						func() error { return row.run(badinput.Ctx(row.name, as(alice)), k) })
					totals.Check(t, row.known, got, detail)
				})
			}
			totals.Log(t)
		})
	}
}

// badCall is a good call of an entry point, made with the command given
// (commands ignore it when they take none): the rows give it a nil
// context, no actor and bad commands.
type badCall struct {
	run    func(ctx context.Context, k *badKit, cmd storage.Command) error
	setup  func(t *testing.T, k *badKit)
	create bool // a create: no version to match
	read   bool // takes no command
}

func badCalls() map[string]badCall {
	day := t0.Add(24 * time.Hour)
	approved := func(t *testing.T, k *badKit) {
		_, err := k.changes.FireTemplate(as(alice), k.template, transition.TemplateEventApprove, storage.Command{Reason: "CAB"})
		require.NoError(t, err)
	}
	onAgenda := func(t *testing.T, k *badKit) {
		_, err := k.changes.AddToAgenda(as(alice), k.meeting, []string{k.pending}, storage.Command{})
		require.NoError(t, err)
		_, err = k.changes.FireCAB(as(alice), k.meeting, transition.CABEventStart, storage.Command{})
		require.NoError(t, err)
	}
	// implemented makes k.change a standard change in implement.
	implemented := func(t *testing.T, k *badKit) {
		approved(t, k)
		c := &transition.Change{CIIDs: []string{k.web}, PlannedStart: t0.Add(time.Hour), PlannedEnd: t0.Add(2 * time.Hour)}
		require.NoError(t, k.changes.CreateStandard(as(rita), k.template, c, storage.Command{}))
		for _, ev := range []string{transition.ChangeEventSchedule, transition.ChangeEventImplement} {
			_, err := k.changes.Fire(as(rita), c.ID, ev, storage.Command{}, nil)
			require.NoError(t, err)
		}
		k.change = c.ID
	}
	withChange := func(t *testing.T, k *badKit) {
		_, err := k.rs.AddChange(as(rita), k.release, k.pending, storage.Command{})
		require.NoError(t, err)
	}
	// inReview makes k.change a standard change in review.
	inReview := func(t *testing.T, k *badKit) {
		implemented(t, k)
		_, err := k.changes.Fire(as(rita), k.change, transition.ChangeEventReview, storage.Command{}, nil)
		require.NoError(t, err)
	}
	// deploying brings k.release to deploy with k.pending approved in it.
	deploying := func(t *testing.T, k *badKit) {
		withChange(t, k)
		_, err := k.changes.Approve(as(alice), k.pending, "change_management", "ok", storage.Command{})
		require.NoError(t, err)
		for _, ev := range []string{transition.ReleaseEventBuild, transition.ReleaseEventTest, transition.ReleaseEventDeploy} {
			_, err := k.rs.Fire(as(rita), k.release, ev, storage.Command{}, nil)
			require.NoError(t, err)
		}
	}
	// deployed starts a deployment of k.release to test.
	deployed := func(t *testing.T, k *badKit) {
		deploying(t, k)
		d, err := k.rs.Deploy(as(ivan), k.release, "test", storage.Command{})
		require.NoError(t, err)
		k.deployment = d.ID
	}
	return map[string]badCall{
		"Changes.Close": {setup: inReview, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.Close(ctx, k.change, transition.OutcomeSuccessful, "went well", cmd)
			return err
		}},
		"Releases.Deploy": {create: true, setup: deploying, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.rs.Deploy(ctx, k.release, "test", cmd)
			return err
		}},
		"Releases.FireDeployment": {setup: deployed, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.rs.FireDeployment(ctx, k.deployment, transition.DeploymentEventComplete, cmd)
			return err
		}},
		// The CMDB.
		"NewCMDB": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := transition.NewCMDB(ctx, k.store, transition.CMDBConfig{Clock: k.clock})
			return err
		}},
		"CMDB.CreateCI": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.cmdb.CreateCI(ctx, &transition.CI{Name: "vm3", Class: transition.ClassVirtualMachine}, cmd)
		}},
		"CMDB.CreateInstalledCI": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.cmdb.CreateInstalledCI(ctx, &transition.CI{Name: "vm3", Class: transition.ClassVirtualMachine}, cmd)
		}},
		"CMDB.UpdateCI": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.cmdb.UpdateCI(ctx, k.db, cmd, func(c *transition.CI) error { c.Name = "db-main"; return nil })
			return err
		}},
		"CMDB.FireCI": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.cmdb.FireCI(ctx, k.cluster, transition.CIEventRetire, cmd, nil)
			return err
		}},
		"CMDB.Relate": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.cmdb.Relate(ctx, k.pay, transition.RelDependsOn, k.db, cmd)
			return err
		}},
		"CMDB.RelateTx": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			if ctx == nil {
				_, err := k.cmdb.RelateTx(ctx, nil, k.pay, transition.RelDependsOn, k.db, cmd)
				return err
			}
			return k.store.Update(ctx, func(tx storage.Tx) error {
				_, err := k.cmdb.RelateTx(ctx, tx, k.pay, transition.RelDependsOn, k.db, cmd)
				return err
			})
		}},
		"CMDB.Unrelate": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.cmdb.Unrelate(ctx, k.rel, cmd)
			return err
		}},
		"CMDB.CreateBaseline": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.cmdb.CreateBaseline(ctx, "after", "", transition.BaselineScope{CIs: []string{k.db}}, cmd)
			return err
		}},
		"CMDB.ArchiveBaseline": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.cmdb.ArchiveBaseline(ctx, k.baseline, cmd)
			return err
		}},
		"CMDB.CI": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.CI(ctx, k.db)
			return err
		}},
		"CMDB.CIAsOf": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.CIAsOf(ctx, k.db, t0)
			return err
		}},
		"CMDB.Relationship": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.Relationship(ctx, k.rel)
			return err
		}},
		"CMDB.Relationships": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.Relationships(ctx, k.db)
			return err
		}},
		"CMDB.Baseline": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.Baseline(ctx, k.baseline)
			return err
		}},
		"CMDB.DiffBaselines": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.DiffBaselines(ctx, k.baseline, k.baseline)
			return err
		}},
		"CMDB.DiffBaselineNow": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.DiffBaselineNow(ctx, k.baseline)
			return err
		}},
		"CMDB.Impact": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream})
			return err
		}},

		// Changes.
		"NewChanges": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := transition.NewChanges(ctx, k.store, transition.ChangesConfig{Clock: k.clock, CMDB: k.cmdb})
			return err
		}},
		"Changes.Create": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.changes.Create(ctx, &transition.Change{ShortDescription: "patch", Type: transition.TypeNormal, CIIDs: []string{k.api},
				PlannedStart: day, PlannedEnd: day.Add(time.Hour)}, cmd)
		}},
		"Changes.CreateStandard": {create: true, setup: approved, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.changes.CreateStandard(ctx, k.template, &transition.Change{CIIDs: []string{k.web}, PlannedStart: day, PlannedEnd: day.Add(time.Hour)}, cmd)
		}},
		"Changes.Update": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.Update(ctx, k.change, cmd, func(c *transition.Change) error { c.Description = "more"; return nil })
			return err
		}},
		"Changes.Fire": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.Fire(ctx, k.change, transition.ChangeEventAssess, cmd, nil)
			return err
		}},
		"Changes.AssessRisk": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, _, err := k.changes.AssessRisk(ctx, k.change, lowAnswers, cmd)
			return err
		}},
		"Changes.Approve": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.Approve(ctx, k.pending, "change_management", "ok", cmd)
			return err
		}},
		"Changes.Reject": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.Reject(ctx, k.pending, "change_management", "no", cmd)
			return err
		}},
		"Changes.LinkIncident": {setup: implemented, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.LinkIncident(ctx, k.change, "inc-7", cmd)
			return err
		}},
		"Changes.CreateTemplate": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.changes.CreateTemplate(ctx, &transition.ChangeTemplate{Name: "Restart db", ShortDescription: "restart", Risk: transition.RiskLow,
				ImplementationPlan: "restart", BackoutPlan: "none"}, cmd)
		}},
		"Changes.FireTemplate": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			cmd.Reason += "CAB"
			_, err := k.changes.FireTemplate(ctx, k.template, transition.TemplateEventApprove, cmd)
			return err
		}},
		"Changes.CreateWindow": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.changes.CreateWindow(ctx, &transition.ChangeWindow{Name: "freeze", WindowType: transition.WindowFreeze,
				Start: t0.Add(200 * time.Hour), End: t0.Add(210 * time.Hour)}, cmd)
		}},
		"Changes.WithdrawWindow": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.WithdrawWindow(ctx, k.window, cmd)
			return err
		}},
		"Changes.ScheduleCAB": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.changes.ScheduleCAB(ctx, &transition.CABMeeting{Name: "Extra CAB", Board: "change_management", Start: day, End: day.Add(time.Hour)}, cmd)
		}},
		"Changes.UpdateCAB": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.UpdateCAB(ctx, k.meeting, cmd, func(m *transition.CABMeeting) error { m.Location = "room 5"; return nil })
			return err
		}},
		"Changes.FireCAB": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			cmd.Reason += "moved"
			_, err := k.changes.FireCAB(ctx, k.meeting, transition.CABEventCancel, cmd)
			return err
		}},
		"Changes.AddToAgenda": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.AddToAgenda(ctx, k.meeting, []string{k.pending}, cmd)
			return err
		}},
		"Changes.AgendaFromPending": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, _, err := k.changes.AgendaFromPending(ctx, k.meeting, cmd)
			return err
		}},
		"Changes.RecordAttendance": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.changes.RecordAttendance(ctx, k.meeting, "alice", true, cmd)
			return err
		}},
		"Changes.DecideAgendaItem": {setup: onAgenda, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, _, err := k.changes.DecideAgendaItem(ctx, k.meeting, k.pending, transition.AgendaDeferred, "out of time", cmd)
			return err
		}},
		"Changes.Get": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.changes.Get(ctx, k.change)
			return err
		}},
		"Changes.CAB": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.changes.CAB(ctx, k.meeting)
			return err
		}},
		"Changes.CABMeetings": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.changes.CABMeetings(ctx, t0, t0.Add(48*time.Hour))
			return err
		}},
		"Changes.Calendar": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, _, err := k.changes.Calendar(ctx, t0, t0.Add(48*time.Hour))
			return err
		}},
		"Changes.CalendarView": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.changes.CalendarView(ctx, t0, t0.Add(48*time.Hour), 1)
			return err
		}},
		"Changes.Collisions": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.changes.Collisions(ctx, k.change, 1)
			return err
		}},
		"Changes.Windows": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.changes.Windows(ctx, transition.WindowMaintenance, t0, t0.Add(200*time.Hour))
			return err
		}},

		// Knowledge.
		"NewKnowledge": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := transition.NewKnowledge(ctx, k.store, transition.KnowledgeConfig{Clock: k.clock})
			return err
		}},
		"Knowledge.Published": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.kb.Published(ctx, k.article, 1)
			return err
		}},
		"Knowledge.DueForReview": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.kb.DueForReview(ctx, t0, 10)
			return err
		}},

		// Releases.
		"NewReleases": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := transition.NewReleases(ctx, k.store, transition.ReleasesConfig{Clock: k.clock, Changes: k.changes})
			return err
		}},
		"Releases.Create": {create: true, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			return k.rs.Create(ctx, &transition.Release{ShortDescription: "Banking 4.3", Version: "4.3.0", Environments: []string{"test"}}, cmd)
		}},
		"Releases.AddChange": {run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.rs.AddChange(ctx, k.release, k.pending, cmd)
			return err
		}},
		"Releases.Fire": {setup: withChange, run: func(ctx context.Context, k *badKit, cmd storage.Command) error {
			_, err := k.rs.Fire(ctx, k.release, transition.ReleaseEventBuild, cmd, nil)
			return err
		}},
		"Releases.Get": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.rs.Get(ctx, k.release)
			return err
		}},
		"Releases.Deployments": {read: true, run: func(ctx context.Context, k *badKit, _ storage.Command) error {
			_, err := k.rs.Deployments(ctx, k.release)
			return err
		}},
	}
}

// badExempt are accessors that take no input, and lookups that answer
// false or nothing for a bad name (they return no error to classify).
func badExempt() map[string]bool {
	return map[string]bool{"Graph.Stats": true, "Graph.ClassOf": true, "Graph.Reaches": true,
		"GraphBuilder.Build": true, "Classes.Class": true, "Classes.IsA": true, "Classes.Descendants": true, "Classes.Names": true,
		"RelationshipTypes.Type": true, "RelationshipTypes.Names": true,
		// Documented leniencies: a relationship's unknown ends are added with
		// no class, and removing an unknown relationship is a no-op.
		"GraphBuilder.RemoveRelationship": true,
		"CMDB.Backend":                    true, "CMDB.CIRecords": true, "CMDB.Classes": true, "CMDB.RelationshipRecords": true,
		"CMDB.RelationshipTypes": true, "CMDB.UseGraph": true, "Changes.Machine": true, "Changes.Records": true, "Knowledge.Records": true}
}

func transitionBadRows() []badRow {
	var rows []badRow
	add := func(name string, run func(ctx context.Context, k *badKit) error) {
		rows = append(rows, badRow{name: name, run: run})
	}
	// Every entry point with a nil context and without an actor; the
	// trailing storage.Command of every command with a reason that is not
	// text or too long, a time no store answers for, a stale version.
	for name, c := range badCalls() {
		c := c
		rows = append(rows, badRow{name: "nil ctx/" + name, setup: c.setup,
			run: func(ctx context.Context, k *badKit) error { return c.run(ctx, k, storage.Command{}) }})
		if !strings.HasPrefix(name, "New") {
			rows = append(rows, badRow{name: name + "/no actor", setup: c.setup,
				run: func(ctx context.Context, k *badKit) error { return c.run(context.Background(), k, storage.Command{}) }})
		}
		if c.read {
			continue
		}
		for bad, cmd := range map[string]storage.Command{
			"reason invalid UTF-8":  {Reason: badNotUTF8},
			"reason NUL":            {Reason: badNUL},
			"reason over MaxReason": {Reason: strings.Repeat("r", storage.MaxReason+1)},
			"at in 9999":            {At: badFarFuture},
			"negative version":      {IfVersion: -1},
		} {
			cmd := cmd
			rows = append(rows, badRow{name: name + "/command " + bad, setup: c.setup,
				run: func(ctx context.Context, k *badKit) error { return c.run(ctx, k, cmd) }})
		}
		stale := storage.Command{IfVersion: 1 << 40}
		label := "stale version"
		if c.create {
			stale, label = storage.Command{IfVersion: 1}, "version on a create"
		}
		rows = append(rows, badRow{name: name + "/command " + label, setup: c.setup,
			run: func(ctx context.Context, k *badKit) error { return c.run(ctx, k, stale) }})
		// An importer may backdate, but not to a time after the clock's now.
		rows = append(rows, badRow{name: name + "/command at in 9999 by an importer", setup: c.setup,
			run: func(ctx context.Context, k *badKit) error {
				return c.run(itsm.WithActor(ctx, badImporter), k, storage.Command{At: badFarFuture})
			}})
	}

	// Nil backends and nil and zero records.
	add("NewCMDB/nil backend", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewCMDB(ctx, nil, transition.CMDBConfig{})
		return err
	})
	add("NewChanges/nil backend", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewChanges(ctx, nil, transition.ChangesConfig{CMDB: k.cmdb})
		return err
	})
	add("NewKnowledge/nil backend", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewKnowledge(ctx, nil, transition.KnowledgeConfig{})
		return err
	})
	add("NewReleases/nil backend", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewReleases(ctx, nil, transition.ReleasesConfig{Changes: k.changes})
		return err
	})
	add("NewReleases/nil changes", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewReleases(ctx, k.store, transition.ReleasesConfig{})
		return err
	})
	for name, run := range map[string]func(ctx context.Context, k *badKit) error{
		"CMDB.CreateCI": func(ctx context.Context, k *badKit) error { return k.cmdb.CreateCI(ctx, nil, storage.Command{}) },
		"CMDB.CreateInstalledCI": func(ctx context.Context, k *badKit) error {
			return k.cmdb.CreateInstalledCI(ctx, nil, storage.Command{})
		},
		"Changes.Create": func(ctx context.Context, k *badKit) error { return k.changes.Create(ctx, nil, storage.Command{}) },
		"Changes.CreateStandard": func(ctx context.Context, k *badKit) error {
			return k.changes.CreateStandard(ctx, k.template, nil, storage.Command{})
		},
		"Changes.CreateTemplate": func(ctx context.Context, k *badKit) error {
			return k.changes.CreateTemplate(ctx, nil, storage.Command{})
		},
		"Changes.CreateWindow": func(ctx context.Context, k *badKit) error { return k.changes.CreateWindow(ctx, nil, storage.Command{}) },
		"Changes.ScheduleCAB":  func(ctx context.Context, k *badKit) error { return k.changes.ScheduleCAB(ctx, nil, storage.Command{}) },
		"Releases.Create":      func(ctx context.Context, k *badKit) error { return k.rs.Create(ctx, nil, storage.Command{}) },
	} {
		add(name+"/nil", run)
	}
	for name, run := range map[string]func(ctx context.Context, k *badKit) error{
		"CMDB.CreateCI": func(ctx context.Context, k *badKit) error {
			return k.cmdb.CreateCI(ctx, &transition.CI{}, storage.Command{})
		},
		"Changes.Create": func(ctx context.Context, k *badKit) error {
			return k.changes.Create(ctx, &transition.Change{}, storage.Command{})
		},
		"Changes.CreateTemplate": func(ctx context.Context, k *badKit) error {
			return k.changes.CreateTemplate(ctx, &transition.ChangeTemplate{}, storage.Command{})
		},
		"Changes.CreateWindow": func(ctx context.Context, k *badKit) error {
			return k.changes.CreateWindow(ctx, &transition.ChangeWindow{}, storage.Command{})
		},
		"Changes.ScheduleCAB": func(ctx context.Context, k *badKit) error {
			return k.changes.ScheduleCAB(ctx, &transition.CABMeeting{}, storage.Command{})
		},
		"Releases.Create": func(ctx context.Context, k *badKit) error {
			return k.rs.Create(ctx, &transition.Release{}, storage.Command{})
		},
		"CMDB.CreateBaseline": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.CreateBaseline(ctx, "x", "", transition.BaselineScope{}, storage.Command{})
			return err
		},
		"CMDB.Impact": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{})
			return err
		},
	} {
		add(name+"/zero", run)
	}
	add("CMDB.UpdateCI/nil edit", func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.UpdateCI(ctx, k.db, storage.Command{}, nil)
		return err
	})
	add("CMDB.UpdateCI/edit panics", func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.UpdateCI(ctx, k.db, storage.Command{}, func(*transition.CI) error { panic("boom") })
		return err
	})
	add("Changes.Update/edit panics", func(ctx context.Context, k *badKit) error {
		_, err := k.changes.Update(ctx, k.change, storage.Command{}, func(*transition.Change) error { panic("boom") })
		return err
	})
	add("Changes.UpdateCAB/edit panics", func(ctx context.Context, k *badKit) error {
		_, err := k.changes.UpdateCAB(ctx, k.meeting, storage.Command{}, func(*transition.CABMeeting) error { panic("boom") })
		return err
	})

	// Bad strings: text fields, names, ids, states and events.
	for _, s := range badTexts {
		v := s.Value
		for name, run := range badIDCalls(v) {
			add(name+"/id "+s.Name, run)
		}
		calls := badCalls()
		rows = append(rows, badRow{name: "Changes.Close/outcome " + s.Name, setup: calls["Changes.Close"].setup,
			run: func(ctx context.Context, k *badKit) error {
				_, err := k.changes.Close(ctx, k.change, v, "notes", storage.Command{})
				return err
			}})
		rows = append(rows, badRow{name: "Releases.Deploy/environment " + s.Name, setup: calls["Releases.Deploy"].setup,
			run: func(ctx context.Context, k *badKit) error {
				_, err := k.rs.Deploy(ctx, k.release, v, storage.Command{})
				return err
			}})
		rows = append(rows, badRow{name: "Releases.FireDeployment/event " + s.Name, setup: calls["Releases.FireDeployment"].setup,
			run: func(ctx context.Context, k *badKit) error {
				_, err := k.rs.FireDeployment(ctx, k.deployment, v, storage.Command{Reason: "r"})
				return err
			}})
		if v != "" {
			rows = append(rows, badRow{name: "Changes.Close/notes " + s.Name, setup: calls["Changes.Close"].setup,
				run: func(ctx context.Context, k *badKit) error {
					_, err := k.changes.Close(ctx, k.change, transition.OutcomeSuccessful, v, storage.Command{})
					return err
				}})
		}
		add("CMDB.CreateCI/name "+s.Name, func(ctx context.Context, k *badKit) error {
			return k.cmdb.CreateCI(ctx, &transition.CI{Name: v, Class: transition.ClassServer}, storage.Command{})
		})
		add("CMDB.CreateCI/class "+s.Name, func(ctx context.Context, k *badKit) error {
			return k.cmdb.CreateCI(ctx, &transition.CI{Name: "x", Class: v}, storage.Command{})
		})
		add("CMDB.Relate/type "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Relate(ctx, k.pay, v, k.db, storage.Command{})
			return err
		})
		add("CMDB.FireCI/event "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.FireCI(ctx, k.db, v, storage.Command{Reason: "r"}, nil)
			return err
		})
		add("Changes.Fire/event "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Fire(ctx, k.change, v, storage.Command{Reason: "r"}, nil)
			return err
		})
		add("Changes.FireTemplate/event "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.FireTemplate(ctx, k.template, v, storage.Command{Reason: "r"})
			return err
		})
		add("Changes.FireCAB/event "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.FireCAB(ctx, k.meeting, v, storage.Command{Reason: "r"})
			return err
		})
		add("Releases.Fire/event "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.rs.Fire(ctx, k.release, v, storage.Command{Reason: "r"}, nil)
			return err
		})
		add("Changes.Windows/kind "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Windows(ctx, v, t0, t0.Add(time.Hour))
			return err
		})
		add("Changes.Approve/group "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Approve(ctx, k.pending, v, "ok", storage.Command{})
			return err
		})
		add("Changes.DecideAgendaItem/decision "+s.Name, func(ctx context.Context, k *badKit) error {
			_, _, err := k.changes.DecideAgendaItem(ctx, k.meeting, k.pending, v, "c", storage.Command{})
			return err
		})
		add("Changes.RecordAttendance/person "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.RecordAttendance(ctx, k.meeting, v, true, storage.Command{})
			return err
		})
		add("Changes.AssessRisk/answer "+s.Name, func(ctx context.Context, k *badKit) error {
			_, _, err := k.changes.AssessRisk(ctx, k.change, map[string]string{"outage": v, "tested": "yes", "backout": "yes", "done_before": "often"}, storage.Command{})
			return err
		})
		add("CMDB.CreateBaseline/name "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.CreateBaseline(ctx, v, "", transition.BaselineScope{CIs: []string{k.db}}, storage.Command{})
			return err
		})
		add("Releases.Create/version "+s.Name, func(ctx context.Context, k *badKit) error {
			return k.rs.Create(ctx, &transition.Release{ShortDescription: "r", Version: v, Environments: []string{"test"}}, storage.Command{})
		})
		if v != "" {
			add("CMDB.CreateBaseline/description "+s.Name, func(ctx context.Context, k *badKit) error {
				_, err := k.cmdb.CreateBaseline(ctx, "x", v, transition.BaselineScope{CIs: []string{k.db}}, storage.Command{})
				return err
			})
			add("CMDB.UpdateCI/name "+s.Name, func(ctx context.Context, k *badKit) error {
				_, err := k.cmdb.UpdateCI(ctx, k.db, storage.Command{}, func(c *transition.CI) error { c.Name = v; return nil })
				return err
			})
			add("Changes.Create/description "+s.Name, func(ctx context.Context, k *badKit) error {
				return k.changes.Create(ctx, &transition.Change{ShortDescription: "patch", Description: v, Type: transition.TypeNormal}, storage.Command{})
			})
			add("Changes.Update/description "+s.Name, func(ctx context.Context, k *badKit) error {
				_, err := k.changes.Update(ctx, k.change, storage.Command{}, func(c *transition.Change) error { c.Description = v; return nil })
				return err
			})
			add("Changes.Approve/comment "+s.Name, func(ctx context.Context, k *badKit) error {
				_, err := k.changes.Approve(ctx, k.pending, "change_management", v, storage.Command{})
				return err
			})
			add("Changes.Reject/comment "+s.Name, func(ctx context.Context, k *badKit) error {
				_, err := k.changes.Reject(ctx, k.pending, "change_management", v, storage.Command{})
				return err
			})
			add("Changes.LinkIncident/incident "+s.Name, func(ctx context.Context, k *badKit) error {
				_, err := k.changes.LinkIncident(ctx, k.change, v, storage.Command{})
				return err
			})
			add("Changes.CreateWindow/name "+s.Name, func(ctx context.Context, k *badKit) error {
				return k.changes.CreateWindow(ctx, &transition.ChangeWindow{Name: v, WindowType: transition.WindowFreeze,
					Start: t0.Add(200 * time.Hour), End: t0.Add(210 * time.Hour)}, storage.Command{})
			})
			add("Changes.ScheduleCAB/location "+s.Name, func(ctx context.Context, k *badKit) error {
				day := t0.Add(24 * time.Hour)
				return k.changes.ScheduleCAB(ctx, &transition.CABMeeting{Name: "x", Board: "change_management", Location: v, Start: day, End: day.Add(time.Hour)}, storage.Command{})
			})
			add("Changes.CreateTemplate/name "+s.Name, func(ctx context.Context, k *badKit) error {
				return k.changes.CreateTemplate(ctx, &transition.ChangeTemplate{Name: v, ShortDescription: "restart", Risk: transition.RiskLow,
					ImplementationPlan: "restart", BackoutPlan: "none"}, storage.Command{})
			})
			add("Releases.Create/environment "+s.Name, func(ctx context.Context, k *badKit) error {
				return k.rs.Create(ctx, &transition.Release{ShortDescription: "r", Version: "1", Environments: []string{v}}, storage.Command{})
			})
		}
	}
	for name, run := range badIDCalls(badUnknownID) {
		add(name+"/unknown id", run)
	}

	// Negative and huge numbers.
	for _, n := range []int{-1, math.MaxInt} {
		n := n
		add(fmt.Sprintf("CMDB.Impact/depth %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream, MaxDepth: n})
			return err
		})
		add(fmt.Sprintf("CMDB.Impact/limit %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream, Limit: n})
			return err
		})
		add(fmt.Sprintf("CMDB.CreateBaseline/depth %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.CreateBaseline(ctx, "x", "", transition.BaselineScope{CIs: []string{k.db}, Depth: n, Direction: transition.Upstream}, storage.Command{})
			return err
		})
		add(fmt.Sprintf("Changes.CalendarView/depth %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.changes.CalendarView(ctx, t0, t0.Add(time.Hour), n)
			return err
		})
		add(fmt.Sprintf("Changes.Collisions/depth %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Collisions(ctx, k.change, n)
			return err
		})
		add(fmt.Sprintf("Knowledge.DueForReview/limit %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.kb.DueForReview(ctx, t0, n)
			return err
		})
	}
	for _, n := range []int64{0, -1, math.MaxInt64} {
		n := n
		add(fmt.Sprintf("Knowledge.Published/version %d", n), func(ctx context.Context, k *badKit) error {
			_, err := k.kb.Published(ctx, k.article, n)
			return err
		})
	}
	add("CMDB.Impact/unknown direction", func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{k.host1}, Direction: storage.Direction(99)})
		return err
	})
	add("CMDB.Impact/unknown type", func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream, Types: []string{"likes"}})
		return err
	})
	add("Changes.AddToAgenda/no changes", func(ctx context.Context, k *badKit) error {
		_, err := k.changes.AddToAgenda(ctx, k.meeting, nil, storage.Command{})
		return err
	})
	add("Changes.AssessRisk/no answers", func(ctx context.Context, k *badKit) error {
		_, _, err := k.changes.AssessRisk(ctx, k.change, nil, storage.Command{})
		return err
	})
	add("Changes.Approve/not awaiting approval", func(ctx context.Context, k *badKit) error {
		_, err := k.changes.Approve(ctx, k.change, "change_management", "ok", storage.Command{})
		return err
	})
	add("Changes.DecideAgendaItem/not on the agenda", func(ctx context.Context, k *badKit) error {
		_, _, err := k.changes.DecideAgendaItem(ctx, k.meeting, k.pending, transition.AgendaApproved, "ok", storage.Command{})
		return err
	})
	add("CMDB.Relate/to itself", func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.Relate(ctx, k.db, transition.RelDependsOn, k.db, storage.Command{})
		return err
	})
	add("CMDB.Relate/twice", func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.Relate(ctx, k.api, transition.RelDependsOn, k.db, storage.Command{})
		return err
	})
	rows = append(rows, badRow{name: "CMDB.Unrelate/twice", setup: func(t *testing.T, k *badKit) {
		_, err := k.cmdb.Unrelate(as(alice), k.rel, storage.Command{})
		require.NoError(t, err)
	}, run: func(ctx context.Context, k *badKit) error {
		_, err := k.cmdb.Unrelate(ctx, k.rel, storage.Command{})
		return err
	}})
	// Adding a change twice to its release is idempotent, not refused.
	add("Releases.Fire/build without changes", func(ctx context.Context, k *badKit) error {
		_, err := k.rs.Fire(ctx, k.release, transition.ReleaseEventBuild, storage.Command{}, nil)
		return err
	})

	// Zero and far-future times, reversed ranges.
	for name, r := range map[string][2]time.Time{
		"zero":      {},
		"reversed":  {t0.Add(time.Hour), t0},
		"year 9999": {badFarFuture, badFarFuture.Add(time.Hour)},
	} {
		r := r
		add("Changes.Create/planned "+name, func(ctx context.Context, k *badKit) error {
			start, end := r[0], r[1]
			if start.IsZero() {
				start = t0 // a start without an end
			}
			return k.changes.Create(ctx, &transition.Change{ShortDescription: "patch", Type: transition.TypeNormal, PlannedStart: start, PlannedEnd: end}, storage.Command{})
		})
		add("Changes.CreateWindow/"+name, func(ctx context.Context, k *badKit) error {
			return k.changes.CreateWindow(ctx, &transition.ChangeWindow{Name: "w", WindowType: transition.WindowFreeze, Start: r[0], End: r[1]}, storage.Command{})
		})
		add("Changes.ScheduleCAB/"+name, func(ctx context.Context, k *badKit) error {
			return k.changes.ScheduleCAB(ctx, &transition.CABMeeting{Name: "x", Board: "change_management", Start: r[0], End: r[1]}, storage.Command{})
		})
		if name == "year 9999" {
			continue // a read far ahead is answered (nothing planned then), not refused
		}
		add("Changes.CABMeetings/"+name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.CABMeetings(ctx, r[0], r[1])
			return err
		})
		add("Changes.Calendar/"+name, func(ctx context.Context, k *badKit) error {
			_, _, err := k.changes.Calendar(ctx, r[0], r[1])
			return err
		})
		add("Changes.CalendarView/"+name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.CalendarView(ctx, r[0], r[1], 1)
			return err
		})
		add("Changes.Windows/"+name, func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Windows(ctx, transition.WindowFreeze, r[0], r[1])
			return err
		})
		if name != "zero" {
			continue // one time, not a range: only the zero time is bad
		}
		add("CMDB.CIAsOf/"+name, func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.CIAsOf(ctx, k.db, r[0])
			return err
		})
		add("Knowledge.DueForReview/"+name, func(ctx context.Context, k *badKit) error {
			_, err := k.kb.DueForReview(ctx, r[0], 10)
			return err
		})
	}
	return rows
}

// graphBadRows are the rows of the in-memory entry points: the graph
// index and its builder, the search index, the class and relationship type
// registries and the risk model. They write nothing, and the snapshot
// checks that too.
func graphBadRows() []badRow {
	var rows []badRow
	add := func(name string, run func(ctx context.Context, k *badKit) error) {
		rows = append(rows, badRow{name: name, run: run})
	}
	graph := func(k *badKit) (*transition.Graph, error) { return transition.LoadGraph(as(admin), k.cmdb) }
	add("nil ctx/LoadGraph", func(ctx context.Context, k *badKit) error { _, err := transition.LoadGraph(ctx, k.cmdb); return err })
	add("LoadGraph/nil CMDB", func(ctx context.Context, k *badKit) error { _, err := transition.LoadGraph(ctx, nil); return err })
	add("nil ctx/Graph.Refresh", func(ctx context.Context, k *badKit) error {
		g, err := graph(k)
		if err != nil {
			return fmt.Errorf("setup: %v", err)
		}
		_, err = g.Refresh(ctx)
		return err
	})
	add("nil ctx/Graph.Impact", func(ctx context.Context, k *badKit) error {
		g, err := graph(k)
		if err != nil {
			return fmt.Errorf("setup: %v", err)
		}
		_, err = g.Impact(ctx, k.cmdb, transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream})
		return err
	})
	add("Graph.Impact/nil CMDB", func(ctx context.Context, k *badKit) error {
		g, err := graph(k)
		if err != nil {
			return fmt.Errorf("setup: %v", err)
		}
		_, err = g.Impact(ctx, nil, transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream})
		return err
	})
	for name, q := range map[string]func(k *badKit) transition.ImpactQuery{
		"zero": func(*badKit) transition.ImpactQuery { return transition.ImpactQuery{} },
		"unknown id": func(*badKit) transition.ImpactQuery {
			return transition.ImpactQuery{CIs: []string{badUnknownID}, Direction: transition.Upstream}
		},
		"id NUL": func(*badKit) transition.ImpactQuery {
			return transition.ImpactQuery{CIs: []string{badNUL}, Direction: transition.Upstream}
		},
		"depth -1": func(k *badKit) transition.ImpactQuery {
			return transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream, MaxDepth: -1}
		},
		"limit MaxInt": func(k *badKit) transition.ImpactQuery {
			return transition.ImpactQuery{CIs: []string{k.host1}, Direction: transition.Upstream, Limit: math.MaxInt}
		},
		"unknown direction": func(k *badKit) transition.ImpactQuery {
			return transition.ImpactQuery{CIs: []string{k.host1}, Direction: storage.Direction(99)}
		},
	} {
		q := q
		add("Graph.Impact/"+name, func(ctx context.Context, k *badKit) error {
			g, err := graph(k)
			if err != nil {
				return fmt.Errorf("setup: %v", err)
			}
			_, err = g.Impact(ctx, k.cmdb, q(k))
			return err
		})
	}
	for name, args := range map[string]struct {
		start        []string
		dir          storage.Direction
		types        []string
		depth, limit int
	}{
		"no start":          {nil, storage.Down, nil, 1, 10},
		"depth -1":          {[]string{"x"}, storage.Down, nil, -1, 10},
		"depth MaxInt":      {[]string{"x"}, storage.Down, nil, math.MaxInt, 10},
		"limit -1":          {[]string{"x"}, storage.Down, nil, 1, -1},
		"unknown direction": {[]string{"x"}, storage.Direction(99), nil, 1, 10},
		"start NUL":         {[]string{badNUL}, storage.Down, nil, 1, 10},
	} {
		args := args
		add("Graph.Traverse/"+name, func(ctx context.Context, k *badKit) error {
			g, err := graph(k)
			if err != nil {
				return fmt.Errorf("setup: %v", err)
			}
			_, err = g.Traverse(args.start, args.dir, args.types, args.depth, args.limit)
			return err
		})
		if name != "limit -1" {
			add("Graph.Reach/"+name, func(ctx context.Context, k *badKit) error {
				g, err := graph(k)
				if err != nil {
					return fmt.Errorf("setup: %v", err)
				}
				_, err = g.Reach(args.start, args.dir, args.types, args.depth)
				return err
			})
		}
	}
	for name, build := range map[string]func(b *transition.GraphBuilder){
		"AddCI/id empty": func(b *transition.GraphBuilder) { b.AddCI("", transition.ClassServer) },
		"AddCI/id NUL":   func(b *transition.GraphBuilder) { b.AddCI(badNUL, transition.ClassServer) },
		"AddRelationship/type empty": func(b *transition.GraphBuilder) {
			b.AddCI("a", transition.ClassServer)
			b.AddCI("b", transition.ClassServer)
			b.AddRelationship("r", "a", "b", "")
		},
	} {
		build := build
		add("GraphBuilder."+name, func(ctx context.Context, k *badKit) error {
			b := transition.NewGraphBuilder()
			build(b)
			_, err := b.Build()
			return err
		})
	}
	add("nil ctx/NewSearchIndex", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewSearchIndex(ctx, k.store, transition.SearchIndexConfig{})
		return err
	})
	add("NewSearchIndex/nil backend", func(ctx context.Context, k *badKit) error {
		_, err := transition.NewSearchIndex(ctx, nil, transition.SearchIndexConfig{})
		return err
	})
	search := func(k *badKit) (*transition.SearchIndex, error) {
		return transition.NewSearchIndex(as(admin), k.store, transition.SearchIndexConfig{})
	}
	add("nil ctx/SearchIndex.Refresh", func(ctx context.Context, k *badKit) error {
		ix, err := search(k)
		if err != nil {
			return fmt.Errorf("setup: %v", err)
		}
		_, err = ix.Refresh(ctx)
		return err
	})
	for name, args := range map[string]struct {
		q     string
		limit int
	}{"empty": {"", 10}, "1 MiB+": {badHuge, 10}, "invalid UTF-8": {badNotUTF8, 10}, "NUL": {badNUL, 10},
		"limit -1": {"vpn", -1}, "limit MaxInt": {"vpn", math.MaxInt}} {
		args := args
		add("SearchIndex.Search/"+name, func(ctx context.Context, k *badKit) error {
			ix, err := search(k)
			if err != nil {
				return fmt.Errorf("setup: %v", err)
			}
			_, err = ix.Search(args.q, args.limit)
			return err
		})
	}
	for _, s := range badTexts {
		v := s.Value
		add("Classes.Define/name "+s.Name, func(ctx context.Context, k *badKit) error {
			return transition.DefaultClasses().Define(transition.Class{Name: v, Parent: transition.ClassServer})
		})
		add("Classes.Define/parent "+s.Name, func(ctx context.Context, k *badKit) error {
			return transition.DefaultClasses().Define(transition.Class{Name: "router2", Parent: v})
		})
		add("Classes.Attributes/class "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := transition.DefaultClasses().Attributes(v)
			return err
		})
		add("RelationshipTypes.Define/name "+s.Name, func(ctx context.Context, k *badKit) error {
			return transition.DefaultRelationshipTypes().Define(transition.RelationshipType{Name: v, Reverse: "r"}, transition.DefaultClasses())
		})
		add("RiskModel.Assess/answer "+s.Name, func(ctx context.Context, k *badKit) error {
			_, err := transition.DefaultRiskModel().Assess(map[string]string{"outage": v, "tested": "yes", "backout": "yes", "done_before": "often"}, nil)
			return err
		})
	}
	add("RelationshipTypes.Define/negative bound", func(ctx context.Context, k *badKit) error {
		return transition.DefaultRelationshipTypes().Define(transition.RelationshipType{Name: "likes", Reverse: "liked_by", MaxPerChild: -1}, transition.DefaultClasses())
	})
	add("Classes.Define/attribute type unknown", func(ctx context.Context, k *badKit) error {
		return transition.DefaultClasses().Define(transition.Class{Name: "router2", Parent: transition.ClassServer,
			Attributes: []transition.Attribute{{Name: "ports", Type: "complex"}}})
	})
	add("RiskModel.Assess/no answers", func(ctx context.Context, k *badKit) error {
		_, err := transition.DefaultRiskModel().Assess(nil, nil)
		return err
	})
	add("RiskModel.Check/zero", func(ctx context.Context, k *badKit) error { return (&transition.RiskModel{}).Check() })
	add("RiskModel.Check/thresholds reversed", func(ctx context.Context, k *badKit) error {
		m := transition.DefaultRiskModel()
		m.Moderate, m.High = m.High, m.Moderate
		return m.Check()
	})
	add("RiskModel.Check/negative cap", func(ctx context.Context, k *badKit) error {
		m := transition.DefaultRiskModel()
		m.MaxImpactPoints = -1
		return m.Check()
	})
	return rows
}

// badIDCalls are the entry points that take an id, called with id.
func badIDCalls(id string) map[string]func(ctx context.Context, k *badKit) error {
	return map[string]func(ctx context.Context, k *badKit) error{
		"CMDB.CI":           func(ctx context.Context, k *badKit) error { _, err := k.cmdb.CI(ctx, id); return err },
		"CMDB.CIAsOf":       func(ctx context.Context, k *badKit) error { _, err := k.cmdb.CIAsOf(ctx, id, t0); return err },
		"CMDB.Relationship": func(ctx context.Context, k *badKit) error { _, err := k.cmdb.Relationship(ctx, id); return err },
		"CMDB.Relationships": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Relationships(ctx, id)
			return err
		},
		"CMDB.Baseline": func(ctx context.Context, k *badKit) error { _, err := k.cmdb.Baseline(ctx, id); return err },
		"CMDB.DiffBaselines": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.DiffBaselines(ctx, k.baseline, id)
			return err
		},
		"CMDB.DiffBaselineNow": func(ctx context.Context, k *badKit) error { _, err := k.cmdb.DiffBaselineNow(ctx, id); return err },
		"CMDB.ArchiveBaseline": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.ArchiveBaseline(ctx, id, storage.Command{})
			return err
		},
		"CMDB.UpdateCI": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.UpdateCI(ctx, id, storage.Command{}, func(c *transition.CI) error { c.Name = "x"; return nil })
			return err
		},
		"CMDB.FireCI": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.FireCI(ctx, id, transition.CIEventRetire, storage.Command{Reason: "r"}, nil)
			return err
		},
		"CMDB.Relate": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Relate(ctx, k.pay, transition.RelDependsOn, id, storage.Command{})
			return err
		},
		"CMDB.Unrelate": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Unrelate(ctx, id, storage.Command{})
			return err
		},
		"CMDB.Impact": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.Impact(ctx, transition.ImpactQuery{CIs: []string{id}, Direction: transition.Upstream})
			return err
		},
		"CMDB.CreateBaseline": func(ctx context.Context, k *badKit) error {
			_, err := k.cmdb.CreateBaseline(ctx, "x", "", transition.BaselineScope{CIs: []string{id}}, storage.Command{})
			return err
		},
		"Changes.Get": func(ctx context.Context, k *badKit) error { _, err := k.changes.Get(ctx, id); return err },
		"Changes.Update": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Update(ctx, id, storage.Command{}, func(c *transition.Change) error { c.Description = "x"; return nil })
			return err
		},
		"Changes.Fire": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Fire(ctx, id, transition.ChangeEventAssess, storage.Command{}, nil)
			return err
		},
		"Changes.AssessRisk": func(ctx context.Context, k *badKit) error {
			_, _, err := k.changes.AssessRisk(ctx, id, lowAnswers, storage.Command{})
			return err
		},
		"Changes.Approve": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Approve(ctx, id, "change_management", "ok", storage.Command{})
			return err
		},
		"Changes.Reject": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Reject(ctx, id, "change_management", "no", storage.Command{})
			return err
		},
		"Changes.LinkIncident": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.LinkIncident(ctx, id, "inc-7", storage.Command{})
			return err
		},
		"Changes.Collisions": func(ctx context.Context, k *badKit) error { _, err := k.changes.Collisions(ctx, id, 1); return err },
		"Changes.Create/ci": func(ctx context.Context, k *badKit) error {
			return k.changes.Create(ctx, &transition.Change{ShortDescription: "patch", Type: transition.TypeNormal, CIIDs: []string{id}}, storage.Command{})
		},
		"Changes.CreateStandard": func(ctx context.Context, k *badKit) error {
			return k.changes.CreateStandard(ctx, id, &transition.Change{}, storage.Command{})
		},
		"Changes.FireTemplate": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.FireTemplate(ctx, id, transition.TemplateEventApprove, storage.Command{Reason: "r"})
			return err
		},
		"Changes.WithdrawWindow": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.WithdrawWindow(ctx, id, storage.Command{})
			return err
		},
		"Changes.CAB": func(ctx context.Context, k *badKit) error { _, err := k.changes.CAB(ctx, id); return err },
		"Changes.UpdateCAB": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.UpdateCAB(ctx, id, storage.Command{}, func(m *transition.CABMeeting) error { m.Location = "x"; return nil })
			return err
		},
		"Changes.FireCAB": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.FireCAB(ctx, id, transition.CABEventCancel, storage.Command{Reason: "r"})
			return err
		},
		"Changes.AddToAgenda": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.AddToAgenda(ctx, k.meeting, []string{id}, storage.Command{})
			return err
		},
		"Changes.AgendaFromPending": func(ctx context.Context, k *badKit) error {
			_, _, err := k.changes.AgendaFromPending(ctx, id, storage.Command{})
			return err
		},
		"Changes.RecordAttendance": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.RecordAttendance(ctx, id, "alice", true, storage.Command{})
			return err
		},
		"Changes.DecideAgendaItem": func(ctx context.Context, k *badKit) error {
			_, _, err := k.changes.DecideAgendaItem(ctx, k.meeting, id, transition.AgendaApproved, "c", storage.Command{})
			return err
		},
		"Knowledge.Published": func(ctx context.Context, k *badKit) error { _, err := k.kb.Published(ctx, id, 1); return err },
		"Releases.Get":        func(ctx context.Context, k *badKit) error { _, err := k.rs.Get(ctx, id); return err },
		"Releases.AddChange": func(ctx context.Context, k *badKit) error {
			_, err := k.rs.AddChange(ctx, k.release, id, storage.Command{})
			return err
		},
		"Releases.Fire": func(ctx context.Context, k *badKit) error {
			_, err := k.rs.Fire(ctx, id, transition.ReleaseEventBuild, storage.Command{}, nil)
			return err
		},
		"Releases.Deployments": func(ctx context.Context, k *badKit) error { _, err := k.rs.Deployments(ctx, id); return err },
		"Changes.Close": func(ctx context.Context, k *badKit) error {
			_, err := k.changes.Close(ctx, id, transition.OutcomeSuccessful, "notes", storage.Command{})
			return err
		},
		"Releases.Deploy": func(ctx context.Context, k *badKit) error {
			_, err := k.rs.Deploy(ctx, id, "test", storage.Command{})
			return err
		},
		"Releases.FireDeployment": func(ctx context.Context, k *badKit) error {
			_, err := k.rs.FireDeployment(ctx, id, transition.DeploymentEventComplete, storage.Command{})
			return err
		},
	}
}

// TestBadCallsSucceed: each good call the rows spoil succeeds as it is, so
// a row's refusal is its bad input's.
func TestBadCallsSucceed(t *testing.T) {
	for name, c := range badCalls() {
		t.Run(name, func(t *testing.T) {
			k := newBadKit(t, badStores["memory"])
			if c.setup != nil {
				c.setup(t, k)
			}
			require.NoError(t, c.run(as(alice), k, storage.Command{}))
		})
	}
}

// TestBadInputCoversEveryMethod: every exported method of the transition
// services has rows in the bad-input table, so a method added without them
// is noticed.
func TestBadInputCoversEveryMethod(t *testing.T) {
	var names []string
	for _, row := range append(transitionBadRows(), graphBadRows()...) {
		names = append(names, row.name)
	}
	methods := badinput.Methods((*transition.CMDB)(nil), (*transition.Changes)(nil), (*transition.Knowledge)(nil), (*transition.Releases)(nil),
		(*transition.Graph)(nil), (*transition.GraphBuilder)(nil), (*transition.SearchIndex)(nil), (*transition.Classes)(nil),
		(*transition.RelationshipTypes)(nil), (*transition.RiskModel)(nil))
	badinput.AssertCovered(t, names, append([]string{"NewCMDB", "NewChanges", "NewKnowledge", "NewReleases", "LoadGraph", "NewSearchIndex"}, methods...), badExempt())
}

// TestBounds: each bound the suite relies on, at its limit and just past
// it: a search query of MaxSearchQuery bytes is searched, one more byte is
// refused; a change planned in MaxYear is kept, one planned a year later is
// refused on the field.
func TestBounds(t *testing.T) {
	k := newBadKit(t, badStores["memory"])
	ix, err := transition.NewSearchIndex(as(admin), k.store, transition.SearchIndexConfig{})
	require.NoError(t, err)
	q := "vpn " + strings.Repeat("x", transition.MaxSearchQuery-4)
	_, err = ix.Search(q, 10)
	require.NoError(t, err)
	_, err = ix.Search(q+"x", 10)
	require.ErrorIs(t, err, itsm.ErrInvalid)

	last := time.Date(transition.MaxYear, 12, 31, 22, 0, 0, 0, time.UTC)
	require.NoError(t, k.changes.Create(as(rita), &transition.Change{ShortDescription: "far", Type: transition.TypeNormal,
		PlannedStart: last, PlannedEnd: last.Add(time.Hour)}, storage.Command{}))
	next := last.AddDate(0, 0, 1)
	err = k.changes.Create(as(rita), &transition.Change{ShortDescription: "too far", Type: transition.TypeNormal,
		PlannedStart: next, PlannedEnd: next.Add(time.Hour)}, storage.Command{})
	var ve *itsm.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Contains(t, ve.Fields, "planned_start")
}
