package design

import (
	"errors"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
)

// FuzzReplay feeds arbitrary event sequences (states, field values as raw
// JSON text, times) to the clock replay: it must never panic, and a clock
// must never report more elapsed time than the wall-clock span.
func FuzzReplay(f *testing.F) {
	f.Add("new,on_hold,in_progress,resolved,in_progress", `1`, `"awaiting_caller"`, `"email"`, int64(3600), int64(7200))
	f.Add("new,canceled", `"x"`, `null`, `{}`, int64(-5), int64(1e12))
	f.Add("in_progress,,closed", `3.7`, `""`, `"g"`, int64(0), int64(1))
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
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, states, priority, hold, service string, step, jump int64) {
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
			hist = append(hist, itsm.Event{Name: "e", From: cur, To: s, At: at, Changes: []itsm.Change{
				{Field: "priority", To: priority}, {Field: "hold_reason", To: hold}, {Field: "service_id", To: service},
			}})
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
