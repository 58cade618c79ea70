package sqlite

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// chain returns n sealed events of one record, versions 1..n.
func chain(kind, id string, n int, at time.Time) []itsm.Event {
	events := make([]itsm.Event, n)
	prev := ""
	for i := range events {
		e := itsm.Event{ID: fmt.Sprintf("%s-%s-%d", kind, id, i+1), Kind: kind, RecordID: id, Number: "INC0000001",
			RecordVersion: int64(i + 1), Name: "update", From: "new", To: "work", Actor: "u1",
			At: at.Add(time.Duration(i) * time.Minute), RecordedAt: at.Add(time.Duration(i)*time.Minute + 1234*time.Nanosecond)}
		switch i % 3 {
		case 0:
			e.Name, e.From = itsm.EventCreate, ""
			e.Changes = []itsm.FieldChange{{Field: "title", From: `""`, To: `"Printer <on> fire & smoke"`}}
		case 1:
			e.Reason = "customer called; ünïcode ✓"
			e.Changes = []itsm.FieldChange{}
		}
		itsm.Seal(&e, prev)
		prev = e.Hash
		events[i] = e
	}
	return events
}

func TestEventsRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	at := time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.FixedZone("X", 3600)) // before the epoch, odd zone
	a, b := chain("ticket", "a", 5, at), chain("ticket", "b", 4, t0)
	// Interleave the two records across units.
	for i := range 5 {
		require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
			if i < len(b) {
				return tx.Append(ctx, a[i], b[i])
			}
			return tx.Append(ctx, a[i])
		}))
	}
	for _, want := range [][]itsm.Event{a, b} {
		h, err := s.History(ctx, "ticket", want[0].RecordID)
		require.NoError(t, err)
		require.NoError(t, itsm.Verify(h, want[len(want)-1].Hash), "history verifies against the record head")
		require.Len(t, h, len(want))
		for i := range h {
			assert.Positive(t, h[i].Seq)
			w := want[i]
			w.Seq = h[i].Seq
			w.Tenant = itsm.DefaultTenant // set by the store
			assert.Equal(t, w, h[i], "event %d round-trips exactly", i)
		}
	}
	all, err := s.ReadEvents(ctx, 0, 100)
	require.NoError(t, err)
	require.Len(t, all, 9)
	for i, e := range all {
		assert.Equal(t, int64(i+1), e.Seq, "seq is dense and in commit order")
	}
	assert.Equal(t, []string{a[0].ID, b[0].ID, a[1].ID}, []string{all[0].ID, all[1].ID, all[2].ID}, "order given within a unit")

	page, err := s.ReadEvents(ctx, 3, 2)
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, int64(4), page[0].Seq)
	none, err := s.ReadEvents(ctx, 9, 10)
	require.NoError(t, err)
	assert.Empty(t, none)
	_, err = s.ReadEvents(ctx, 0, 0)
	require.ErrorIs(t, err, itsm.ErrInvalid)
	h, err := s.History(ctx, "ticket", "nobody")
	require.NoError(t, err)
	assert.Empty(t, h)

	t.Run("invalid UTF-8 changes are refused", func(t *testing.T) {
		e := chain("ticket", "c", 1, t0)[0]
		e.Changes = []itsm.FieldChange{{Field: "x", From: "\xff", To: "1"}}
		err := s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, e) })
		require.ErrorIs(t, err, itsm.ErrInvalid)
	})
}

// TestReadEventsNeverSkips: a reader polling while several stores on one
// file append sees every event exactly once, in seq order.
func TestReadEventsNeverSkips(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "log.db")
	writers := []*Store{openAt(t, path), openAt(t, path)}
	reader := openAt(t, path)
	const units = 60
	var wg sync.WaitGroup
	for w, s := range writers {
		wg.Go(func() {
			for i := range units {
				e := itsm.Event{ID: fmt.Sprintf("w%d-%d", w, i), Kind: "k", RecordID: fmt.Sprintf("w%d", w), RecordVersion: int64(i + 1)}
				assert.NoError(t, s.Update(ctx, func(tx storage.Tx) error { return tx.Append(ctx, e, e) }))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last int64
	seen := 0
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		evs, err := reader.ReadEvents(ctx, last, 7)
		require.NoError(t, err)
		for _, e := range evs {
			require.Equal(t, last+1, e.Seq, "no gap, no repeat")
			last = e.Seq
			seen++
		}
		if finished && len(evs) == 0 {
			break
		}
	}
	assert.Equal(t, 2*2*units, seen)
}

// TestChangesJSON: the hand-written encoder of an event's changes writes
// exactly what encoding/json writes, and refuses invalid UTF-8.
func TestChangesJSON(t *testing.T) {
	tests := []struct {
		name    string
		changes []itsm.FieldChange
		valid   bool
	}{
		{"empty", []itsm.FieldChange{}, true},
		{"plain", []itsm.FieldChange{{Field: "grp", From: `"g01"`, To: `"g02"`}}, true},
		{"two", []itsm.FieldChange{{Field: "a", From: "1", To: "2"}, {Field: "b", From: "", To: "x"}}, true},
		{"escapes", []itsm.FieldChange{{Field: "t", From: "a\"b\\c\nd\re\tf\bg\fh\x00i\x1fj\x7f", To: "<b>&amp;</b>"}}, true},
		{"unicode", []itsm.FieldChange{{Field: "t", From: "ünïcode ✓ 😀", To: "line\u2028para\u2029end"}}, true},
		{"invalid utf-8", []itsm.FieldChange{{Field: "t", From: "ok", To: "bad\xff"}}, false},
		{"truncated rune", []itsm.FieldChange{{Field: "t\xe2\x82", From: "", To: ""}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendChangesJSON(nil, tt.changes)
			if !tt.valid {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			want, err := json.Marshal(tt.changes)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

func FuzzChangesJSON(f *testing.F) {
	f.Add("grp", `"g01"`, `"g02"`, false)
	f.Add("t", "a\"b\\c\n<&>", "\u2028\u2029\x00", false)
	f.Add("x", "\xff", "", false)
	f.Add("comments", "", `[{"text":"hi"}]`, true)
	f.Fuzz(func(t *testing.T, field, from, to string, appended bool) {
		cs := []itsm.FieldChange{{Field: field, From: from, To: to, Appended: appended}, {Field: "n", From: "1", To: "2"}}
		got, err := appendChangesJSON(nil, cs)
		if !utf8.ValidString(field) || !utf8.ValidString(from) || !utf8.ValidString(to) {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		want, err := json.Marshal(cs)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		var back []itsm.FieldChange
		require.NoError(t, json.Unmarshal(got, &back))
		require.Equal(t, cs, back)
	})
}
