package itsm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/looplab/fsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

type ticket struct {
	ResolutionCode string
}

// ticketLifecycle is a service-desk lifecycle like the operation pillar's.
func ticketLifecycle() *itsm.Lifecycle[*ticket] {
	return itsm.NewLifecycle[*ticket]("ticket").
		Initial("new").
		States("in_progress", "on_hold", "resolved").
		Final("closed", "canceled").
		Event("start", "in_progress", "new").
		Event("hold", "on_hold", "new", "in_progress", "on_hold").
		Event("resume", "in_progress", "on_hold").
		Event("resolve", "resolved", "new", "in_progress", "on_hold").
		Event("reopen", "in_progress", "resolved").
		Event("close", "closed", "resolved").
		Event("cancel", "canceled", "new", "in_progress", "on_hold").
		Guard("resolve", "needs_resolution_code", func(_ context.Context, t *ticket, _ itsm.Transition) error {
			if t.ResolutionCode == "" {
				return errors.New("a resolution code is required")
			}
			return nil
		})
}

func TestCompileRejectsBrokenDefinitions(t *testing.T) {
	tests := []struct {
		name  string
		build func() *itsm.Lifecycle[*ticket]
		want  []string // substrings each naming the culprit
	}{
		{"no initial", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Final("done")
		}, []string{"no initial state"}},
		{"unknown destination", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done").
				Event("finish", "done", "new").Event("oops", "nowhere", "new")
		}, []string{`event "oops": unknown destination state "nowhere"`}},
		{"unknown source", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done").
				Event("finish", "done", "new", "ghost")
		}, []string{`event "finish": unknown source state "ghost"`}},
		{"unreachable", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").States("island").Final("done").
				Event("finish", "done", "new").Event("leave", "done", "island")
		}, []string{`state "island" is unreachable`}},
		{"dead end", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").States("stuck").Final("done").
				Event("finish", "done", "new").Event("trap", "stuck", "new").Event("spin", "stuck", "stuck")
		}, []string{`state "stuck" is a dead end`}},
		{"duplicate event from one state", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done", "other").
				Event("finish", "done", "new").Event("finish", "other", "new")
		}, []string{`event "finish" declared twice from state "new"`, `state "other" is unreachable`}},
		{"final with way out", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done").
				Event("finish", "done", "new").Event("undo", "new", "done")
		}, []string{`final state "done" has outgoing event "undo"`}},
		{"guard on unknown event", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done").
				Event("finish", "done", "new").
				Guard("finsh", "typo", func(context.Context, *ticket, itsm.Transition) error { return nil })
		}, []string{`guard on unknown event "finsh"`}},
		{"names with spaces", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("on hold").
				Event("put on hold", "on hold", "new")
		}, []string{`state "on hold" is not a lower-case identifier`, `event "put on hold" is not a lower-case identifier`}},
		{"nil guard", func() *itsm.Lifecycle[*ticket] {
			return itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done").
				Event("finish", "done", "new").Guard("finish", "g", nil)
		}, []string{`guard "g" on event "finish" is nil`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.build().Compile()
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			var de *itsm.DefinitionError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, "ticket", de.Kind)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	m, err := ticketLifecycle().Compile()
	require.NoError(t, err)
	ctx := context.Background()
	tests := []struct {
		name      string
		from, ev  string
		rec       ticket
		wantTo    string
		wantGuard string
		wantInErr string
	}{
		{"start", "new", "start", ticket{}, "in_progress", "", ""},
		{"hold while on hold keeps state", "on_hold", "hold", ticket{}, "on_hold", "", ""},
		{"resolve with code", "in_progress", "resolve", ticket{ResolutionCode: "fixed"}, "resolved", "", ""},
		{"resolve without code refused by guard", "in_progress", "resolve", ticket{}, "", "needs_resolution_code", "a resolution code is required"},
		{"close from new not allowed", "new", "close", ticket{}, "", "", "not allowed from this state (allowed: start, hold, resolve, cancel)"},
		{"unknown event", "new", "explode", ticket{}, "", "", "unknown event"},
		{"unknown state", "limbo", "start", ticket{}, "", "", "unknown state"},
		{"final state has no events", "closed", "reopen", ticket{}, "", "", "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			tr, err := m.Decide(ctx, &rec, itsm.Transition{Event: tt.ev, From: tt.from})
			if tt.wantTo != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.wantTo, tr.To)
				return
			}
			require.ErrorIs(t, err, itsm.ErrInvalidTransition)
			var te *itsm.TransitionError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, "ticket", te.Kind)
			assert.Equal(t, tt.from, te.From)
			assert.Equal(t, tt.ev, te.Event)
			assert.Equal(t, tt.wantGuard, te.Guard)
			assert.Contains(t, te.Error(), tt.wantInErr)
		})
	}
}

// TestDecideMatchesLooplabFSM is the differential test: for every state and
// event, the compiled table allows exactly what a fresh looplab/fsm machine
// with the same events allows, and leads to the same state.
func TestDecideMatchesLooplabFSM(t *testing.T) {
	m, err := ticketLifecycle().Compile()
	require.NoError(t, err)
	ctx := context.Background()
	rec := &ticket{ResolutionCode: "fixed"} // guards pass
	events := append(m.Events(), "unknown_event")
	for _, s := range m.States() {
		for _, ev := range events {
			f := m.FSM(s)
			ferr := f.Event(ctx, ev)
			var noTransition fsm.NoTransitionError
			fsmAllowed := ferr == nil || errors.As(ferr, &noTransition) // self-loop: allowed, state unchanged
			tr, err := m.Decide(ctx, rec, itsm.Transition{Event: ev, From: s})
			assert.Equal(t, fsmAllowed, err == nil, "state %s event %s: fsm %v, ours %v", s, ev, ferr, err)
			if err == nil {
				assert.Equal(t, f.Current(), tr.To, "state %s event %s", s, ev)
			}
		}
	}
}

func TestCloneExtendsWithoutChangingTheOriginal(t *testing.T) {
	base := ticketLifecycle()
	ext := base.Clone().
		States("awaiting_vendor").
		Event("wait_vendor", "awaiting_vendor", "in_progress").
		Event("vendor_replied", "in_progress", "awaiting_vendor").
		Guard("cancel", "not_on_fridays", func(context.Context, *ticket, itsm.Transition) error {
			return errors.New("no cancellations today")
		})
	mx, err := ext.Compile()
	require.NoError(t, err)
	mb, err := base.Compile()
	require.NoError(t, err)

	assert.True(t, mx.HasState("awaiting_vendor"))
	assert.False(t, mb.HasState("awaiting_vendor"))
	_, err = mx.Decide(context.Background(), &ticket{}, itsm.Transition{Event: "cancel", From: "new"})
	assert.ErrorIs(t, err, itsm.ErrInvalidTransition)
	_, err = mb.Decide(context.Background(), &ticket{}, itsm.Transition{Event: "cancel", From: "new"})
	assert.NoError(t, err)
}

func TestEffectsRunInOrderAndNameTheirFailure(t *testing.T) {
	var order []string
	l := itsm.NewLifecycle[*ticket]("ticket").Initial("new").Final("done").Event("finish", "done", "new").
		Effect("finish", "first", func(context.Context, *ticket, itsm.Transition) error { order = append(order, "first"); return nil }).
		Effect("finish", "second", func(context.Context, *ticket, itsm.Transition) error {
			order = append(order, "second")
			return errors.New("disk full")
		})
	m, err := l.Compile()
	require.NoError(t, err)
	err = m.RunEffects(context.Background(), &ticket{}, itsm.Transition{Event: "finish", From: "new", To: "done"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "effect second on finish: disk full")
	assert.Equal(t, []string{"first", "second"}, order)
}

func TestMermaid(t *testing.T) {
	m, err := itsm.NewLifecycle[*ticket]("ticket").Initial("new").States("open").Final("done").
		Event("start", "open", "new").
		Event("finish", "done", "open").
		Guard("finish", "has_code", func(context.Context, *ticket, itsm.Transition) error { return nil }).
		Compile()
	require.NoError(t, err)
	want := "stateDiagram-v2\n" +
		"    [*] --> new\n" +
		"    new --> open: start\n" +
		"    open --> done: finish [has_code]\n" +
		"    done --> [*]\n"
	assert.Equal(t, want, m.Mermaid())
	assert.Contains(t, m.Graphviz(), `"new" -> "open" [ label = "start" ];`)
}

func TestCheckStateAndAvailable(t *testing.T) {
	m, err := ticketLifecycle().Compile()
	require.NoError(t, err)
	assert.NoError(t, m.CheckState("on_hold"))
	assert.ErrorIs(t, m.CheckState("On Hold"), itsm.ErrInvalidTransition)
	assert.Equal(t, []string{"hold", "resume", "resolve", "cancel"}, m.Available("on_hold"))
	assert.Empty(t, m.Available("closed"))
	assert.True(t, m.IsFinal("closed"))
	assert.False(t, m.IsFinal("resolved"))
	assert.Equal(t, "new", m.Initial())
}

// FuzzLifecycleEvents applies random event sequences: the record never
// reaches a state the definition lacks, refusals leave the state unchanged,
// and nothing panics.
func FuzzLifecycleEvents(f *testing.F) {
	m, err := ticketLifecycle().Compile()
	require.NoError(f, err)
	events := append(m.Events(), "bogus", "")
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{3, 4, 3, 5, 9})
	f.Fuzz(func(t *testing.T, seq []byte) {
		state := m.Initial()
		rec := &ticket{}
		for i, b := range seq {
			rec.ResolutionCode = ""
			if i%2 == 0 {
				rec.ResolutionCode = "fixed"
			}
			tr, err := m.Decide(context.Background(), rec, itsm.Transition{Event: events[int(b)%len(events)], From: state})
			if err != nil {
				require.ErrorIs(t, err, itsm.ErrInvalidTransition)
				continue
			}
			require.True(t, m.HasState(tr.To), "reached undeclared state %q", tr.To)
			state = tr.To
		}
	})
}

func TestNeedsReason(t *testing.T) {
	m, err := itsm.NewLifecycle[*ticket]("ticket").Initial("open").Final("canceled").
		Event("cancel", "canceled", "open").
		Guard("cancel", "needs_reason", itsm.NeedsReason[*ticket]("canceling needs a reason")).
		Compile()
	require.NoError(t, err)
	for _, tt := range []struct {
		reason string
		ok     bool
	}{{"", false}, {" \t\n", false}, {"duplicate of INC0000042", true}} {
		_, err := m.Decide(context.Background(), &ticket{}, itsm.Transition{Event: "cancel", From: "open", Reason: tt.reason})
		if tt.ok {
			assert.NoError(t, err, "%q", tt.reason)
			continue
		}
		var te *itsm.TransitionError
		require.ErrorAs(t, err, &te, "%q", tt.reason)
		assert.ErrorIs(t, err, itsm.ErrInvalidTransition)
		assert.Contains(t, te.Error(), "canceling needs a reason")
		var ve *itsm.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "canceling needs a reason", ve.Fields["reason"])
	}
}

func TestStampAt(t *testing.T) {
	type job struct{ StartedAt, ClosedAt time.Time }
	m, err := itsm.NewLifecycle[*job]("job").Initial("queued").States("running").Final("done").
		Event("start", "running", "queued").
		Event("finish", "done", "running").
		Effect("start", "stamp_started_at", itsm.StampAt(func(j *job) *time.Time { return &j.StartedAt })).
		Effect("finish", "stamp_nothing", itsm.StampAt(func(*job) *time.Time { return nil })).
		Compile()
	require.NoError(t, err)
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name    string
		event   string
		from    string
		wantErr bool
		want    job
	}{
		{"stamps the transition's time", "start", "queued", false, job{StartedAt: at}},
		{"a missing field aborts the transition", "finish", "running", true, job{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &job{}
			tr, err := m.Decide(ctx, j, itsm.Transition{Event: tt.event, From: tt.from, At: at})
			require.NoError(t, err)
			err = m.RunEffects(ctx, j, tr)
			if tt.wantErr {
				require.ErrorContains(t, err, "the field to stamp is missing")
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, *j)
		})
	}
}

func TestGuardRefusalKeepsItsType(t *testing.T) {
	plain := errors.New("a plain refusal")
	m, err := itsm.NewLifecycle[*ticket]("ticket").Initial("open").Final("done", "canceled").
		Event("finish", "done", "open").
		Event("cancel", "canceled", "open").
		Guard("finish", "needs_code", func(_ context.Context, tk *ticket, _ itsm.Transition) error {
			if tk.ResolutionCode == "" {
				return (&itsm.ValidationError{Kind: "ticket"}).Add("resolution_code", "is required")
			}
			return plain
		}).
		Guard("cancel", "needs_reason", itsm.NeedsReason[*ticket]("canceling needs a reason")).
		Compile()
	require.NoError(t, err)
	tests := []struct {
		name       string
		event      string
		rec        ticket
		guard      string
		invalid    bool     // also matches ErrInvalid
		fields     []string // the ValidationError's fields, when invalid
		wrapsPlain bool
	}{
		{"missing field", "finish", ticket{}, "needs_code", true, []string{"resolution_code"}, false},
		{"plain error", "finish", ticket{ResolutionCode: "x"}, "needs_code", false, nil, true},
		{"missing reason", "cancel", ticket{}, "needs_reason", true, []string{"reason"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			_, err := m.Decide(context.Background(), &rec, itsm.Transition{Event: tt.event, From: "open"})
			require.ErrorIs(t, err, itsm.ErrInvalidTransition)
			var te *itsm.TransitionError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.guard, te.Guard)
			assert.Equal(t, tt.invalid, errors.Is(err, itsm.ErrInvalid))
			assert.Equal(t, tt.wrapsPlain, errors.Is(err, plain))
			var ve *itsm.ValidationError
			if assert.Equal(t, tt.invalid, errors.As(err, &ve)) && tt.invalid {
				for _, f := range tt.fields {
					assert.Contains(t, ve.Fields, f)
				}
			}
		})
	}
	// An engine refusal wraps nothing.
	_, err = m.Decide(context.Background(), &ticket{}, itsm.Transition{Event: "finish", From: "done"})
	require.ErrorIs(t, err, itsm.ErrInvalidTransition)
	assert.NotErrorIs(t, err, itsm.ErrInvalid)
}

func TestNotFinalAndReuseByName(t *testing.T) {
	countReopen := func(_ context.Context, tk *ticket, _ itsm.Transition) error {
		tk.ResolutionCode += "+"
		return nil
	}
	base := func() *itsm.Lifecycle[*ticket] {
		return ticketLifecycle().
			Guard("reopen", "has_code", func(_ context.Context, tk *ticket, _ itsm.Transition) error {
				if tk.ResolutionCode == "" {
					return errors.New("no code")
				}
				return nil
			}).
			Effect("reopen", "count_reopen", countReopen)
	}
	t.Run("closed stays final by default", func(t *testing.T) {
		_, err := base().Event("reopen", "in_progress", "closed").Compile()
		require.ErrorIs(t, err, itsm.ErrInvalid)
		assert.ErrorContains(t, err, `final state "closed" has outgoing event "reopen"`)
	})
	t.Run("NotFinal lets closed be reopened with the same guards and effects", func(t *testing.T) {
		m, err := base().NotFinal("closed").Event("reopen", "in_progress", "closed").Compile()
		require.NoError(t, err)
		assert.False(t, m.IsFinal("closed"))
		assert.True(t, m.IsFinal("canceled"))
		tk := &ticket{ResolutionCode: "fixed"}
		tr, err := m.Decide(context.Background(), tk, itsm.Transition{Event: "reopen", From: "closed"})
		require.NoError(t, err)
		require.NoError(t, m.RunEffects(context.Background(), tk, tr))
		assert.Equal(t, "in_progress", tr.To)
		assert.Equal(t, "fixed+", tk.ResolutionCode)
		_, err = m.Decide(context.Background(), &ticket{}, itsm.Transition{Event: "reopen", From: "closed"})
		assert.ErrorIs(t, err, itsm.ErrInvalidTransition)
	})
	t.Run("a new event reuses guards and effects by name", func(t *testing.T) {
		m, err := base().NotFinal("closed").
			Event("revive", "in_progress", "closed").
			GuardFrom("revive", "reopen", "has_code").
			EffectFrom("revive", "reopen", "count_reopen").
			Compile()
		require.NoError(t, err)
		tk := &ticket{ResolutionCode: "fixed"}
		tr, err := m.Decide(context.Background(), tk, itsm.Transition{Event: "revive", From: "closed"})
		require.NoError(t, err)
		require.NoError(t, m.RunEffects(context.Background(), tk, tr))
		assert.Equal(t, "fixed+", tk.ResolutionCode)
		_, err = m.Decide(context.Background(), &ticket{}, itsm.Transition{Event: "revive", From: "closed"})
		var te *itsm.TransitionError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "has_code", te.Guard)
		assert.Contains(t, m.Mermaid(), "closed --> in_progress: revive [has_code]")
	})
	for _, tt := range []struct {
		name  string
		build func() *itsm.Lifecycle[*ticket]
		want  string
	}{
		{"unknown guard name", func() *itsm.Lifecycle[*ticket] {
			return base().GuardFrom("resolve", "reopen", "has_cod")
		}, `guard "has_cod": event "reopen" has no guard of that name`},
		{"unknown effect name", func() *itsm.Lifecycle[*ticket] {
			return base().EffectFrom("resolve", "reopn", "count_reopen")
		}, `effect "count_reopen": event "reopn" has no effect of that name`},
		{"NotFinal of an undeclared state", func() *itsm.Lifecycle[*ticket] {
			return base().NotFinal("archived")
		}, `NotFinal names undeclared state "archived"`},
		{"NotFinal without a way out", func() *itsm.Lifecycle[*ticket] {
			return base().NotFinal("canceled")
		}, `state "canceled" is a dead end`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.build().Compile()
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestTransitionLive(t *testing.T) {
	for _, tt := range []struct {
		tr   itsm.Transition
		live bool
	}{
		{itsm.Transition{}, true},
		{itsm.Transition{Import: true}, false},
		{itsm.Transition{Import: true, Strict: true}, true},
		{itsm.Transition{Strict: true}, true},
	} {
		assert.Equal(t, tt.live, tt.tr.Live(), "%+v", tt.tr)
	}
}
