package operation_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
)

// The design pillar's calendar is the escalation Calendar as it is.
var _ operation.Calendar = (*calendar.Calendar)(nil)

func officeHours(t testing.TB) *calendar.Calendar {
	t.Helper()
	var week [7][]calendar.Range
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []calendar.Range{{Start: 9 * 60, End: 17 * 60}}
	}
	c, err := calendar.Compile(calendar.Config{Name: "office", Week: week, FromYear: 2020, ToYear: 2030})
	require.NoError(t, err)
	return c
}

// escalations returns the escalation rules applied to each incident.
func escalations(t *testing.T, f fixture, incs ...*operation.Incident) [][]string {
	t.Helper()
	out := make([][]string, len(incs))
	for i, inc := range incs {
		got, err := f.desk.Incidents().Get(as(reader), inc.ID)
		require.NoError(t, err)
		out[i] = got.Escalations
	}
	return out
}

// A rule with a calendar counts working time since the incident opened; a
// rule without one counts wall-clock time.
func TestEscalationInBusinessTime(t *testing.T) {
	office := officeHours(t)
	rules := []operation.EscalationRule{
		{Name: "business_8h", Priorities: []int{3}, After: 8 * time.Hour, Calendar: office},
		{Name: "wall_8h", Priorities: []int{3}, After: 8 * time.Hour},
	}
	f := newFixture(t, func(c *operation.Config) { c.Escalation = rules })
	a := f.open(t) // Monday 09:00, priority 3
	f.clock.Advance(7 * time.Hour)
	b := f.open(t) // Monday 16:00
	mon := t0
	steps := []struct {
		at   time.Time
		want [][]string
	}{
		{mon.Add(7*time.Hour + 59*time.Minute), [][]string{nil, nil}},
		{mon.Add(8 * time.Hour), [][]string{{"business_8h", "wall_8h"}, nil}},                         // a: 8h worked
		{mon.Add(24 * time.Hour), [][]string{{"business_8h", "wall_8h"}, {"wall_8h"}}},                // b: 17h wall, 1h worked
		{mon.Add(31 * time.Hour), [][]string{{"business_8h", "wall_8h"}, {"wall_8h", "business_8h"}}}, // Tuesday 16:00
	}
	for _, st := range steps {
		f.clock.Set(st.at) // Escalate refuses a time that has not come
		_, err := f.desk.Escalate(as(system), st.at)
		require.NoError(t, err)
		assert.Equal(t, st.want, escalations(t, f, a, b), "at %s", st.at.Format(time.RFC3339))
	}
	assert.Contains(t, f.note.sent[0].Body, "over 8h0m0s of working time")

	// A time outside the calendar's horizon stops the run, writing nothing.
	g := newFixture(t, func(c *operation.Config) { c.Escalation = rules[:1] })
	g.open(t)
	before := g.snapshot(t)
	g.clock.Set(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err := g.desk.Escalate(as(system), g.clock.Now())
	require.ErrorContains(t, err, "business_8h")
	assert.Equal(t, before, g.snapshot(t))
}

// progress is an SLAProgress from a map, recording what it was asked.
type progress struct {
	slaWatcher
	pct   map[string]float64
	fail  error
	asked *int
}

func (p progress) SLAPercentages(_ context.Context, kind string, ids []string, _ time.Time) (map[string]float64, error) {
	if p.asked != nil {
		*p.asked += len(ids)
	}
	if p.fail != nil {
		return nil, p.fail
	}
	out := map[string]float64{}
	for _, id := range ids {
		if v, ok := p.pct[id]; ok && kind == operation.KindIncident {
			out[id] = v
		}
	}
	return out, nil
}

// Rules by SLA percentage escalate the incidents whose clocks have used
// enough of their targets, read through SLAProgress; combined with After,
// both must hold.
func TestEscalationBySLAPercent(t *testing.T) {
	pct := map[string]float64{}
	rules := []operation.EscalationRule{
		{Name: "sla_80", SLAPercent: 80, Notify: []string{"duty_manager", "network"}},
		{Name: "p1_sla_breached", Priorities: []int{1}, SLAPercent: 100, ReassignTo: "servers"},
		{Name: "sla_50_after_1h", SLAPercent: 50, After: time.Hour},
	}
	asked := 0
	for _, viaSLA := range []bool{false, true} {
		f := newFixture(t, func(c *operation.Config) {
			c.Escalation = rules
			if viaSLA {
				c.SLA = progress{pct: pct, asked: &asked} // an SLAWatcher that also reports progress
			} else {
				c.SLAProgress = progress{pct: pct, asked: &asked}
			}
		})
		p1 := f.open(t, func(i *operation.Incident) { i.Impact, i.Urgency, i.AssignmentGroup = 1, 1, "network" })
		p3 := f.open(t)
		quiet := f.open(t) // no running clock
		pct[p1.ID], pct[p3.ID] = 60, 85
		_, err := f.desk.Escalate(as(system), f.clock.Now())
		require.NoError(t, err)
		assert.Equal(t, [][]string{nil, {"sla_80"}, nil}, escalations(t, f, p1, p3, quiet))
		f.clock.Advance(time.Hour)
		pct[p1.ID] = 100
		n, err := f.desk.Escalate(as(system), f.clock.Now())
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		assert.Equal(t, [][]string{{"sla_80", "p1_sla_breached", "sla_50_after_1h"}, {"sla_80", "sla_50_after_1h"}, nil},
			escalations(t, f, p1, p3, quiet))
		got, err := f.desk.Incidents().Get(as(reader), p1.ID)
		require.NoError(t, err)
		assert.Equal(t, "servers", got.AssignmentGroup)
		i := slices.IndexFunc(f.note.sent, func(n operation.Notification) bool { return n.Number == p3.Number })
		require.GreaterOrEqual(t, i, 0)
		assert.Contains(t, f.note.sent[i].Body, "85% of its SLA target used")
		assert.Equal(t, []string{"duty_manager", "network"}, f.note.sent[i].To)
		// p1's group is among the rule's recipients: notified once.
		i = slices.IndexFunc(f.note.sent, func(n operation.Notification) bool {
			return n.Number == p1.Number && strings.Contains(n.Subject, "(sla_80)")
		})
		require.GreaterOrEqual(t, i, 0)
		assert.Equal(t, []string{"duty_manager", "network"}, f.note.sent[i].To)
	}
	assert.Positive(t, asked)

	// A failing SLA pillar stops the run, writing nothing.
	down := errors.New("sla engine down")
	f := newFixture(t, func(c *operation.Config) {
		c.Escalation = rules[:1]
		c.SLAProgress = progress{fail: down}
	})
	f.open(t)
	before := f.snapshot(t)
	_, err := f.desk.Escalate(as(system), f.clock.Now())
	require.ErrorIs(t, err, down)
	assert.Equal(t, before, f.snapshot(t))
}

func TestEscalationRulesRefused(t *testing.T) {
	office := officeHours(t)
	bad := []struct {
		name string
		rule operation.EscalationRule
		cfg  func(*operation.Config)
	}{
		{"no condition", operation.EscalationRule{Name: "r"}, nil},
		{"negative after", operation.EscalationRule{Name: "r", After: -time.Hour}, nil},
		{"negative percent", operation.EscalationRule{Name: "r", SLAPercent: -1}, nil},
		{"NaN percent", operation.EscalationRule{Name: "r", SLAPercent: math.NaN()}, nil},
		{"absurd percent", operation.EscalationRule{Name: "r", SLAPercent: 5000}, nil},
		{"calendar without after", operation.EscalationRule{Name: "r", SLAPercent: 80, Calendar: office},
			func(c *operation.Config) { c.SLAProgress = progress{} }},
		{"percent without SLA progress", operation.EscalationRule{Name: "r", SLAPercent: 80},
			func(c *operation.Config) { c.SLA = slaWatcher{} }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cfg := operation.Config{Escalation: []operation.EscalationRule{tc.rule}}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			_, err := operation.New(context.Background(), newStore(t), cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), `escalation rule 0 ("r")`)
		})
	}
}
