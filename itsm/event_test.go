package itsm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

// chain builds n sealed events of one record.
func chain(n int) []itsm.Event {
	at := time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.UTC)
	evs := make([]itsm.Event, n)
	prev := ""
	for i := range evs {
		evs[i] = itsm.Event{
			ID: fmt.Sprintf("ev-%d", i), Kind: "incident", RecordID: "rec-1", Number: "INC0000001",
			RecordVersion: int64(i + 1), Name: "step", From: "a", To: "b", Actor: "ann",
			At: at.Add(time.Duration(i) * time.Minute), RecordedAt: at,
			Changes: []itsm.Change{{Field: "priority", From: "3", To: fmt.Sprint(i)}},
		}
		itsm.Seal(&evs[i], prev)
		prev = evs[i].Hash
	}
	return evs
}

func TestVerifyDetectsTampering(t *testing.T) {
	good := chain(5)
	head := good[4].Hash
	require.NoError(t, itsm.Verify(good, head))
	require.NoError(t, itsm.Verify(good, ""))
	assert.Equal(t, int64(0), good[0].At.UnixMicro()%1 /* normalised */)
	assert.Equal(t, 0, good[0].At.Nanosecond()%1000, "times are truncated to microseconds")

	tests := []struct {
		name   string
		tamper func([]itsm.Event) []itsm.Event
		head   string
		index  int
	}{
		{"edited reason", func(e []itsm.Event) []itsm.Event { e[2].Reason = "nothing to see"; return e }, head, 2},
		{"edited change", func(e []itsm.Event) []itsm.Event { e[1].Changes[0].To = "1"; e[1].Changes[0].To = "9"; return e }, head, 1},
		{"edited time", func(e []itsm.Event) []itsm.Event { e[3].At = e[3].At.Add(time.Second); return e }, head, 3},
		{"edited actor", func(e []itsm.Event) []itsm.Event { e[0].Actor = "mallory"; return e }, head, 0},
		{"removed middle", func(e []itsm.Event) []itsm.Event { return append(e[:2:2], e[3:]...) }, head, 2},
		{"removed last", func(e []itsm.Event) []itsm.Event { return e[:4] }, head, 4},
		{"swapped", func(e []itsm.Event) []itsm.Event { e[1], e[2] = e[2], e[1]; return e }, head, 1},
		{"re-sealed edit", func(e []itsm.Event) []itsm.Event {
			e[4].Reason = "rewritten"
			itsm.Seal(&e[4], e[3].Hash)
			return e
		}, head, 5},
		{"other record spliced in", func(e []itsm.Event) []itsm.Event { e[3].RecordID = "rec-2"; return e }, head, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := tt.tamper(chain(5))
			err := itsm.Verify(evs, tt.head)
			require.ErrorIs(t, err, itsm.ErrConflict)
			var ce *itsm.ChainError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.index, ce.Index, ce.Error())
		})
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := chain(1)[0]
	mutations := map[string]func(*itsm.Event){
		"ID":            func(e *itsm.Event) { e.ID = "x" },
		"Kind":          func(e *itsm.Event) { e.Kind = "problem" },
		"RecordID":      func(e *itsm.Event) { e.RecordID = "x" },
		"Number":        func(e *itsm.Event) { e.Number = "INC0000002" },
		"RecordVersion": func(e *itsm.Event) { e.RecordVersion = 7 },
		"Name":          func(e *itsm.Event) { e.Name = "other" },
		"From":          func(e *itsm.Event) { e.From = "z" },
		"To":            func(e *itsm.Event) { e.To = "z" },
		"Actor":         func(e *itsm.Event) { e.Actor = "bob" },
		"At":            func(e *itsm.Event) { e.At = e.At.Add(time.Microsecond) },
		"RecordedAt":    func(e *itsm.Event) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		"Reason":        func(e *itsm.Event) { e.Reason = "r" },
		"Changes":       func(e *itsm.Event) { e.Changes = nil },
		"PrevHash":      func(e *itsm.Event) { e.PrevHash = "00" },
		// Shifting a byte between adjacent strings must change the hash too.
		"boundary": func(e *itsm.Event) { e.From, e.To = e.From+e.To[:1], e.To[1:] },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			e := base
			e.Changes = append([]itsm.Change(nil), base.Changes...)
			mutate(&e)
			assert.NotEqual(t, base.Hash, itsm.ComputeHash(&e))
		})
	}
	t.Run("Seq is not covered", func(t *testing.T) {
		e := base
		e.Seq = 99
		assert.Equal(t, base.Hash, itsm.ComputeHash(&e))
	})
}
