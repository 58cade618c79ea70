package calendar_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pillars-itsm/pillars/design/calendar"
	"github.com/pillars-itsm/pillars/itsm"
)

// FuzzParse feeds arbitrary specs to Parse: it must never panic, refuse with
// ErrInvalid, and on success Add then Between must round-trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"time_zone":"Europe/London","hours":{"mon":["09:00-17:00"]},"from_year":2026,"to_year":2026}`), int64(0), int64(3600e9))
	f.Add([]byte(`{"time_zone":"Australia/Lord_Howe","hours":{"sun":["00:00-03:00","22:00-24:00"],"mon":["00:00-24:00"]},"holiday_sets":["us"],"from_year":2030,"to_year":2031}`), int64(1e15), int64(1e12))
	f.Add([]byte(`{"hours":{"fri":["17:00-24:00"],"sat":["00:00-02:00"]},"closures":[{"start":"2026-01-02T18:00:00Z","end":"2026-01-02T19:00:00Z"}],"from_year":2026,"to_year":2027}`), int64(5e12), int64(1))
	f.Add([]byte(`{"hours":{"mon":["25:00-26:00"]}}`), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, startOff, dur int64) {
		c, err := calendar.Parse(data)
		if err != nil {
			if !errors.Is(err, itsm.ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		from, to := c.Horizon()
		span := to.Sub(from)
		if startOff < 0 {
			startOff = -startOff
		}
		start := from.Add(time.Duration(startOff % int64(span)))
		if dur < 0 {
			dur = -dur
		}
		d := time.Duration(dur % int64(400*24*time.Hour))
		end, err := c.Add(start, d)
		if err != nil {
			if !errors.Is(err, itsm.ErrInvalid) {
				t.Fatalf("Add error does not match ErrInvalid: %v", err)
			}
			return
		}
		back, err := c.Between(start, end)
		if err != nil || back != d {
			t.Fatalf("Between(%s, Add(%s, %s) = %s) = %s, %v", start, start, d, end, back, err)
		}
	})
}

// FuzzArithmetic draws a random calendar, start and durations from the
// fuzzer's seed and checks every property against the reference (see
// TestPropertyAgainstReference).
func FuzzArithmetic(f *testing.F) {
	for _, s := range []uint64{0, 1, 44, 162, 1 << 40} {
		f.Add(s, s*7+1)
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		if err := randomCase(rand.New(rand.NewPCG(a, b))).check(); err != nil {
			t.Fatal(err)
		}
	})
}
