package improvement_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
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
	badTexts  = badinput.Texts()
)

// badKit is the kit with a synced engine, a register and an item in it.
type badKit struct {
	*kit
	engine *improvement.Engine
	reg    *improvement.Register
	item   string
}

var badKinds = []string{"incident", "change", "request", "task_sla", improvement.ItemKind, improvement.CheckpointKind}

func newBadKit(t *testing.T) badKit {
	t.Helper()
	k := badKit{kit: newKit(t)}
	scenario(t, k.kit)
	k.engine = openSynced(t, k.store, improvement.Config{})
	require.NoError(t, k.engine.Checkpoint(context.Background()))
	var err error
	k.reg, err = improvement.NewRegister(context.Background(), k.store, improvement.RegisterConfig{Clock: k.clock})
	require.NoError(t, err)
	it := &improvement.Item{Title: "Faster email fixes", KPI: improvement.MTTR, Baseline: 4, Target: 2}
	require.NoError(t, k.reg.Identify(agent, it, storage.Command{}))
	k.item = it.ID
	return k
}

// snapshotOf is every document of the kit's kinds and the whole event log.
func snapshotOf(t *testing.T, s storage.Backend) badinput.Snapshot {
	t.Helper()
	return badinput.Take(t, s, badKinds...)
}

type badRow struct {
	name string
	run  func(ctx context.Context, k badKit) error
	// setup brings the kit to the state the row needs, before the store
	// is snapshotted.
	setup func(t *testing.T, k badKit)
	// known names an open problem another change owns: the row is
	// counted, and skipped while it still fails.
	known string
}

// TestBadInput makes every exported entry point of the improvement pillar
// meet bad input: each call must return an error matching an itsm
// sentinel, never panic, and leave every document and the event log as
// they were.
func TestBadInput(t *testing.T) {
	totals := badinput.NewTotals("improvement")
	for _, row := range improvementBadRows() {
		t.Run(row.name, func(t *testing.T) {
			k := newBadKit(t)
			if row.setup != nil {
				row.setup(t, k)
			}
			got, detail := badinput.Try(func() badinput.Snapshot { return snapshotOf(t, k.store) }, false,
				func() error { return row.run(badinput.Ctx(row.name, agent), k) })
			totals.Check(t, row.known, got, detail)
		})
	}
	totals.Log(t)
}

func improvementBadRows() []badRow {
	var rows []badRow
	add := func(name string, run func(ctx context.Context, k badKit) error) {
		rows = append(rows, badRow{name: name, run: run})
	}
	from, to := day0, day0.AddDate(0, 0, 1)

	for name, run := range map[string]func(ctx context.Context, k badKit) error{
		"New": func(ctx context.Context, k badKit) error {
			_, err := improvement.New(ctx, k.store, improvement.Config{})
			return err
		},
		"Engine.Sync":       func(ctx context.Context, k badKit) error { _, err := k.engine.Sync(ctx); return err },
		"Engine.Checkpoint": func(ctx context.Context, k badKit) error { return k.engine.Checkpoint(ctx) },
		"Engine.Volume": func(ctx context.Context, k badKit) error {
			_, err := k.engine.Volume(ctx, "", "incidents", from, to)
			return err
		},
		"Engine.DailyVolumes": func(ctx context.Context, k badKit) error {
			_, err := k.engine.DailyVolumes(ctx, "", "incidents", from, to)
			return err
		},
		"NewRegister": func(ctx context.Context, k badKit) error {
			_, err := improvement.NewRegister(ctx, k.store, improvement.RegisterConfig{})
			return err
		},
		"Register.Get": func(ctx context.Context, k badKit) error { _, err := k.reg.Get(ctx, k.item); return err },
		"Register.Identify": func(ctx context.Context, k badKit) error {
			return k.reg.Identify(ctx, &improvement.Item{Title: "x", KPI: improvement.MTTR, Baseline: 1, Target: 1}, storage.Command{})
		},
		"Register.Fire": func(ctx context.Context, k badKit) error {
			_, err := k.reg.Fire(ctx, k.item, "approve", storage.Command{})
			return err
		},
		"Register.Advance": func(ctx context.Context, k badKit) error {
			_, err := k.reg.Advance(ctx, k.item, storage.Command{})
			return err
		},
		"Register.Measure": func(ctx context.Context, k badKit) error {
			_, err := k.reg.Measure(ctx, k.item, 1, from, to, storage.Command{})
			return err
		},
		"Register.Close": func(ctx context.Context, k badKit) error {
			_, err := k.reg.Close(ctx, k.item, storage.Command{})
			return err
		},
		"Register.Items": func(ctx context.Context, k badKit) error {
			_, _, err := k.reg.Items(ctx, "", storage.Paging{})
			return err
		},
	} {
		add("nil ctx/"+name, run)
	}

	// Engine configuration.
	for _, s := range badTexts[1:] {
		v := s.Value
		add("New/name "+s.Name, func(ctx context.Context, k badKit) error {
			_, err := improvement.New(ctx, k.store, improvement.Config{Name: v})
			return err
		})
		add("New/incident kind "+s.Name, func(ctx context.Context, k badKit) error {
			_, err := improvement.New(ctx, k.store, improvement.Config{Name: "other", IncidentKind: v})
			return err
		})
	}
	for _, s := range badTexts {
		v := s.Value
		add("New/tenant "+s.Name, func(ctx context.Context, k badKit) error {
			_, err := improvement.New(ctx, k.store, improvement.Config{Name: "other", Tenants: []string{v}})
			return err
		})
	}
	add("New/nil backend", func(ctx context.Context, k badKit) error {
		_, err := improvement.New(ctx, nil, improvement.Config{})
		return err
	})

	// Queries. A range however wide is no bad input: rows come from the
	// days with measurements, not from the days of the range.
	for name, q := range map[string]improvement.Query{
		"unknown KPI":            {KPI: "happiness", From: from, To: to},
		"reversed range":         {KPI: improvement.MTTR, From: to, To: from},
		"negative prio":          {KPI: improvement.MTTR, Priority: -1},
		"unknown period":         {KPI: improvement.MTTR, Period: "fortnight"},
		"unknown slice":          {KPI: improvement.MTTR, By: []improvement.Dimension{"colour"}},
		"slice twice":            {KPI: improvement.MTTR, By: []improvement.Dimension{improvement.ByService, improvement.ByService}},
		"MTBF by group":          {KPI: improvement.MTBF, By: []improvement.Dimension{improvement.ByGroup}},
		"percentiles of a ratio": {KPI: improvement.ReopenRate, Percentiles: true},
		"percentiles of a count": {KPI: improvement.Backlog, Percentiles: true},
	} {
		q := q
		add("Engine.Compute/"+name, func(_ context.Context, k badKit) error { _, err := k.engine.Compute(q); return err })
	}
	add("Engine.Summary/reversed", func(_ context.Context, k badKit) error { _, err := k.engine.Summary(to, from); return err })
	add("Engine.KPIValue/unknown KPI", func(_ context.Context, k badKit) error {
		_, _, err := k.engine.KPIValue("happiness", "", from, to)
		return err
	})
	for name, args := range map[string]struct {
		unit     string
		from, to time.Time
	}{
		"unknown unit":   {"problems", from, to},
		"not midnight":   {"incidents", from.Add(time.Hour), to},
		"reversed":       {"incidents", to, from},
		"unit with NUL":  {withNUL, from, to},
		"unit 1 MiB+":    {huge, from, to},
		"year 1 to 9999": {"incidents", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), farFuture},
	} {
		args := args
		// Volume sums a range however wide (cheaply, with no row per day):
		// only DailyVolumes is bounded.
		if name != "reversed" && name != "year 1 to 9999" {
			add("Engine.Volume/"+name, func(ctx context.Context, k badKit) error {
				_, err := k.engine.Volume(ctx, "", args.unit, args.from, args.to)
				return err
			})
		}
		add("Engine.DailyVolumes/"+name, func(ctx context.Context, k badKit) error {
			_, err := k.engine.DailyVolumes(ctx, "", args.unit, args.from, args.to)
			return err
		})
	}
	for _, s := range badTexts {
		v := s.Value
		add("ReadResultJSON/"+s.Name, func(context.Context, badKit) error {
			_, err := improvement.ReadResultJSON(strings.NewReader(v))
			return err
		})
		add("ReadResultJSON/kpi "+s.Name, func(context.Context, badKit) error {
			_, err := improvement.ReadResultJSON(strings.NewReader(fmt.Sprintf(`{"kpi":%q,"unit":"hours","rows":[]}`, v)))
			return err
		})
	}

	// The CSI register.
	item := func(fn func(*improvement.Item)) *improvement.Item {
		it := &improvement.Item{Title: "Faster fixes", KPI: improvement.MTTR, Baseline: 4, Target: 2}
		fn(it)
		return it
	}
	for _, s := range badTexts {
		v := s.Value
		add("Register.Identify/title "+s.Name, func(ctx context.Context, k badKit) error {
			return k.reg.Identify(ctx, item(func(it *improvement.Item) { it.Title = v }), storage.Command{})
		})
		if v != "" {
			add("Register.Identify/slice service "+s.Name, func(ctx context.Context, k badKit) error {
				return k.reg.Identify(ctx, item(func(it *improvement.Item) { it.SliceService = v }), storage.Command{})
			})
			add("Register.Items/cursor "+s.Name, func(ctx context.Context, k badKit) error {
				_, _, err := k.reg.Items(ctx, "", storage.Paging{Cursor: v})
				return err
			})
		}
		add("Register.Get/id "+s.Name, func(ctx context.Context, k badKit) error { _, err := k.reg.Get(ctx, v); return err })
		add("Register.Fire/event "+s.Name, func(ctx context.Context, k badKit) error {
			_, err := k.reg.Fire(ctx, k.item, v, storage.Command{})
			return err
		})
		add("Register.Advance/id "+s.Name, func(ctx context.Context, k badKit) error {
			_, err := k.reg.Advance(ctx, v, storage.Command{})
			return err
		})
		add("Register.Items/state "+s.Name+" or unknown", func(ctx context.Context, k badKit) error {
			if v == "" {
				v = "dreaming"
			}
			_, _, err := k.reg.Items(ctx, v, storage.Paging{})
			return err
		})
	}
	inProgress := badInProgress
	for _, x := range []float64{math.NaN(), math.Inf(1), -1} {
		x := x
		add(fmt.Sprintf("Register.Identify/baseline %v", x), func(ctx context.Context, k badKit) error {
			return k.reg.Identify(ctx, item(func(it *improvement.Item) { it.Baseline = x }), storage.Command{})
		})
		rows = append(rows, badRow{name: fmt.Sprintf("Register.Measure/value %v", x), setup: inProgress,
			run: func(ctx context.Context, k badKit) error {
				_, err := k.reg.Measure(ctx, k.item, x, from, to, storage.Command{})
				return err
			}})
	}
	rows = append(rows, badRow{name: "Register.Measure/year 9999", setup: inProgress,
		run: func(ctx context.Context, k badKit) error {
			_, err := k.reg.Measure(ctx, k.item, 1, farFuture, farFuture.Add(time.Hour), storage.Command{})
			return err
		}})
	rows = append(rows, badRow{name: "Register.Measure/reversed range", setup: inProgress,
		run: func(ctx context.Context, k badKit) error {
			_, err := k.reg.Measure(ctx, k.item, 1, to, from, storage.Command{})
			return err
		}})
	add("Register.Identify/nil", func(ctx context.Context, k badKit) error { return k.reg.Identify(ctx, nil, storage.Command{}) })
	add("Register.Identify/unknown KPI", func(ctx context.Context, k badKit) error {
		return k.reg.Identify(ctx, item(func(it *improvement.Item) { it.KPI = "happiness" }), storage.Command{})
	})
	add("Register.Identify/negative priority", func(ctx context.Context, k badKit) error {
		return k.reg.Identify(ctx, item(func(it *improvement.Item) { it.SlicePriority = -1 }), storage.Command{})
	})
	add("Register.Identify/step 99", func(ctx context.Context, k badKit) error {
		return k.reg.Identify(ctx, item(func(it *improvement.Item) { it.Step = 99 }), storage.Command{})
	})
	add("Register.IdentifyFromKPI/nil engine", func(ctx context.Context, k badKit) error {
		return k.reg.IdentifyFromKPI(ctx, nil, item(func(*improvement.Item) {}), from, to, storage.Command{})
	})
	add("Register.IdentifyFromKPI/reversed", func(ctx context.Context, k badKit) error {
		return k.reg.IdentifyFromKPI(ctx, k.engine, item(func(*improvement.Item) {}), to, from, storage.Command{})
	})
	add("Register.IdentifyFromKPI/no measurements", func(ctx context.Context, k badKit) error {
		return k.reg.IdentifyFromKPI(ctx, k.engine, item(func(*improvement.Item) {}), farFuture.AddDate(0, 0, -1), farFuture, storage.Command{})
	})
	add("Register.Fire/unknown id", func(ctx context.Context, k badKit) error {
		_, err := k.reg.Fire(ctx, unknownID, "approve", storage.Command{})
		return err
	})
	add("Register.Fire/not allowed", func(ctx context.Context, k badKit) error {
		_, err := k.reg.Fire(ctx, k.item, "close", storage.Command{})
		return err
	})
	add("Register.Fire/reason 1 MiB+", func(ctx context.Context, k badKit) error {
		_, err := k.reg.Fire(ctx, k.item, "approve", storage.Command{Reason: huge})
		return err
	})
	rows = append(rows, badRow{name: "Register.Advance/last step of the state",
		setup: func(t *testing.T, k badKit) {
			for {
				if _, err := k.reg.Advance(agent, k.item, storage.Command{}); err != nil {
					require.ErrorIs(t, err, itsm.ErrInvalidTransition)
					return
				}
			}
		},
		run: func(ctx context.Context, k badKit) error {
			_, err := k.reg.Advance(ctx, k.item, storage.Command{})
			return err
		}})
	add("Register.Measure/not in progress", func(ctx context.Context, k badKit) error {
		_, err := k.reg.Measure(ctx, k.item, 1, from, to, storage.Command{})
		return err
	})
	add("Register.MeasureFromKPI/nil engine", func(ctx context.Context, k badKit) error {
		_, err := k.reg.MeasureFromKPI(ctx, nil, k.item, from, to, storage.Command{})
		return err
	})
	add("Register.MeasureFromKPI/unknown id", func(ctx context.Context, k badKit) error {
		_, err := k.reg.MeasureFromKPI(ctx, k.engine, unknownID, from, to, storage.Command{})
		return err
	})
	add("Register.Close/unmeasured", func(ctx context.Context, k badKit) error {
		_, err := k.reg.Close(ctx, k.item, storage.Command{})
		return err
	})
	add("Register.Close/unknown id", func(ctx context.Context, k badKit) error {
		_, err := k.reg.Close(ctx, unknownID, storage.Command{})
		return err
	})
	add("Register.Items/limit -1", func(ctx context.Context, k badKit) error {
		_, _, err := k.reg.Items(ctx, "", storage.Paging{Limit: -1})
		return err
	})
	add("Register.Items/limit MaxInt", func(ctx context.Context, k badKit) error {
		_, _, err := k.reg.Items(ctx, "", storage.Paging{Limit: math.MaxInt})
		return err
	})

	// The trailing storage.Command of every command: a reason that is not
	// text or is too long, a time no store answers for, a stale version.
	for name, c := range badCommandCalls() {
		c := c
		for bad, cmd := range map[string]storage.Command{
			"reason invalid UTF-8":  {Reason: notUTF8},
			"reason NUL":            {Reason: withNUL},
			"reason over MaxReason": {Reason: strings.Repeat("r", storage.MaxReason+1)},
			"at in 9999":            {At: farFuture},
			"stale version":         {IfVersion: 1 << 40},
		} {
			if bad == "stale version" && (name == "Register.Identify" || name == "Register.IdentifyFromKPI") {
				continue // a create has no version to match
			}
			cmd := cmd
			rows = append(rows, badRow{name: name + "/command " + bad, setup: c.setup,
				run: func(ctx context.Context, k badKit) error { return c.run(ctx, k, cmd) }})
		}
		// An importer may backdate, but not to a time after the clock's now.
		rows = append(rows, badRow{name: name + "/command at in 9999 by an importer", setup: c.setup,
			run: func(ctx context.Context, k badKit) error {
				imp := itsm.WithActor(ctx, itsm.Actor{ID: "imp", Roles: []string{itsm.RoleImporter}})
				return c.run(imp, k, storage.Command{At: farFuture})
			}})
	}
	return rows
}

// badInProgress approves and starts the kit's item.
func badInProgress(t *testing.T, k badKit) {
	for _, ev := range []string{"approve", "start"} {
		_, err := k.reg.Fire(agent, k.item, ev, storage.Command{})
		require.NoError(t, err)
	}
}

// badCommandCall is a good call of a register command, made with the
// command given: the rows give it bad commands.
type badCommandCall struct {
	run   func(ctx context.Context, k badKit, cmd storage.Command) error
	setup func(t *testing.T, k badKit)
}

// badCommandCalls are good calls of every register command, each with
// the setup it needs (TestBadCommandCallsSucceed).
func badCommandCalls() map[string]badCommandCall {
	from, to := day0, day0.AddDate(0, 0, 1)
	item := func() *improvement.Item {
		return &improvement.Item{Title: "Faster fixes", KPI: improvement.MTTR, Baseline: 4, Target: 2}
	}
	return map[string]badCommandCall{
		"Register.Identify": {run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			return k.reg.Identify(ctx, item(), cmd)
		}},
		"Register.IdentifyFromKPI": {run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			return k.reg.IdentifyFromKPI(ctx, k.engine, item(), day0.AddDate(0, 0, -7), to, cmd)
		}},
		"Register.Fire": {run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			_, err := k.reg.Fire(ctx, k.item, "approve", cmd)
			return err
		}},
		"Register.Advance": {setup: func(t *testing.T, k badKit) {
			_, err := k.reg.Fire(agent, k.item, improvement.EventApprove, storage.Command{}) // steps 3..6 are approved's
			require.NoError(t, err)
		}, run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			_, err := k.reg.Advance(ctx, k.item, cmd)
			return err
		}},
		"Register.Measure": {setup: badInProgress, run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			_, err := k.reg.Measure(ctx, k.item, 1, from, to, cmd)
			return err
		}},
		"Register.MeasureFromKPI": {setup: badInProgress, run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			_, err := k.reg.MeasureFromKPI(ctx, k.engine, k.item, day0.AddDate(0, 0, -7), to, cmd)
			return err
		}},
		"Register.Close": {setup: func(t *testing.T, k badKit) {
			badInProgress(t, k)
			_, err := k.reg.Measure(agent, k.item, 1, from, to, storage.Command{})
			require.NoError(t, err)
		}, run: func(ctx context.Context, k badKit, cmd storage.Command) error {
			_, err := k.reg.Close(ctx, k.item, cmd)
			return err
		}},
	}
}

// TestBadCommandCallsSucceed: each call the command rows make succeeds
// with the zero command, so a row's refusal is its command's.
func TestBadCommandCallsSucceed(t *testing.T) {
	for name, c := range badCommandCalls() {
		t.Run(name, func(t *testing.T) {
			k := newBadKit(t)
			if c.setup != nil {
				c.setup(t, k)
			}
			require.NoError(t, c.run(agent, k, storage.Command{}))
		})
	}
}

// TestBadInputCoversEveryMethod: every exported method of the engine and
// the register has rows in the bad-input table, so a method added without
// them is noticed. Methods that take no input, and Apply (its input is the
// log, fuzzed by FuzzApply), are exempt.
func TestBadInputCoversEveryMethod(t *testing.T) {
	var names []string
	for _, row := range improvementBadRows() {
		names = append(names, row.name)
	}
	badinput.AssertCovered(t, names, badinput.Methods((*improvement.Engine)(nil), (*improvement.Register)(nil)),
		map[string]bool{"Engine.Seq": true, "Engine.Apply": true, "Register.Records": true})
}
