package design

import (
	"errors"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
)

// FuzzReplay feeds arbitrary event sequences (states, field values as raw
// JSON text, comments and assignments, times) to the clock replay of a
// resolution and a response definition: it must never panic, a clock must
// never report more elapsed time than the wall-clock span, and a response
// clock once completed stays completed.
func FuzzReplay(f *testing.F) {
	f.Add("new,on_hold,in_progress,resolved,in_progress", `1`, `"awaiting_caller"`, `"email"`, `[{"author":"ann"}]`, `"ann"`, int64(3600), int64(7200))
	f.Add("new,canceled", `"x"`, `null`, `{}`, `null`, `""`, int64(-5), int64(1e12))
	f.Add("in_progress,,closed", `3.7`, `""`, `"g"`, `[{"author":"carl"},{}]`, `7`, int64(0), int64(1))
	f.Add("new,new,new,in_progress", `2`, `""`, `""`, `[{"author":"carl"}]`, `"bob"`, int64(60), int64(600))
	cal := func() *calendar.Calendar {
		var w [7][]calendar.Range
		for d := range w {
			w[d] = []calendar.Range{{Start: 0, End: calendar.MinutesPerDay}}
		}
		c, err := calendar.Compile(calendar.Config{Week: w, FromYear: 2026, ToYear: 2027})
		if err != nil {
			f.Fatal(err)
		}
		return c
	}()
	def, err := Definition{ID: "d", Metric: Resolution, Kind: "incident",
		Targets: map[int]time.Duration{1: time.Hour, 2: 2 * time.Hour, 3: 3 * time.Hour}}.normalize(nil)
	if err != nil {
		f.Fatal(err)
	}
	resp, err := Definition{ID: "r", Metric: Response, Kind: "incident", Pause: DefaultPause(),
		Targets: map[int]time.Duration{1: time.Hour, 2: 2 * time.Hour, 3: 3 * time.Hour}}.normalize(nil)
	if err != nil {
		f.Fatal(err)
	}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, states, priority, hold, service, comments, assignee string, step, jump int64) {
		var hist []itsm.Event
		at := base
		begin := at
		cur := ""
		for i, s := range splitComma(states) {
			if i > 40 {
				break
			}
			d := time.Duration(step%int64(48*time.Hour/time.Second)) * time.Second
			if i%3 == 2 {
				d = time.Duration(jump % int64(24*time.Hour))
			}
			if d < 0 {
				d = -d
			}
			at = at.Add(d)
			changes := []itsm.FieldChange{{Field: "priority", To: priority}, {Field: "hold_reason", To: hold}, {Field: "service_id", To: service}}
			if i == 0 {
				changes = append(changes, itsm.FieldChange{Field: "caller_id", To: `"carl"`})
			}
			switch i % 4 {
			case 1:
				changes = append(changes, itsm.FieldChange{Field: "comments", From: "null", To: comments})
			case 3:
				changes = append(changes, itsm.FieldChange{Field: "assigned_to", From: `""`, To: assignee})
			}
			hist = append(hist, itsm.Event{Name: "e", From: cur, To: s, At: at, Actor: "ann", Changes: changes})
			cur = s
		}
		tl, err := replay(&def, cal, hist)
		if err != nil {
			if !errors.Is(err, itsm.ErrInvalid) {
				t.Fatalf("replay error does not match ErrInvalid: %v", err)
			}
			return
		}
		if tl.elapsedBefore < 0 || tl.elapsedBefore > at.Sub(begin) {
			t.Fatalf("elapsed %s outside 0..%s", tl.elapsedBefore, at.Sub(begin))
		}
		completed := false
		for n := 1; n <= len(hist); n++ {
			rt, err := replay(&resp, cal, hist[:n])
			if err != nil {
				if !errors.Is(err, itsm.ErrInvalid) {
					t.Fatalf("response replay error does not match ErrInvalid: %v", err)
				}
				return
			}
			if rt.elapsedBefore < 0 || rt.elapsedBefore > at.Sub(begin) {
				t.Fatalf("response elapsed %s outside 0..%s", rt.elapsedBefore, at.Sub(begin))
			}
			if completed && rt.stage != StageCompleted {
				t.Fatalf("a completed response clock moved to %q at event %d", rt.stage, n)
			}
			completed = rt.stage == StageCompleted
		}
	})
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
