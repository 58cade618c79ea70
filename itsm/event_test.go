package itsm_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
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
			Changes: []itsm.FieldChange{{Field: "priority", From: "3", To: fmt.Sprint(i)}},
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
			e.Changes = append([]itsm.FieldChange(nil), base.Changes...)
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

// streamedHash is ComputeHash as first written, field by field into a
// streaming SHA-256: the reference the one-buffer version must match, so
// that hashes already stored keep verifying.
func streamedHash(e *itsm.Event) string {
	h := sha256.New()
	var buf [8]byte
	str := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	num := func(n int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(n))
		h.Write(buf[:])
	}
	str("pillars-event-v1")
	str(e.PrevHash)
	str(e.ID)
	str(e.Kind)
	str(e.RecordID)
	str(e.Number)
	num(e.RecordVersion)
	str(e.Name)
	str(e.From)
	str(e.To)
	str(e.Actor)
	num(e.At.UnixMicro())
	num(e.RecordedAt.UnixMicro())
	str(e.Reason)
	num(int64(len(e.Changes)))
	for _, c := range e.Changes {
		str(c.Field)
		str(c.From)
		str(c.To)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestComputeHashIsStable pins the hashes of fixed events (computed by the
// streaming implementation before ComputeHash hashed one buffer): a change
// of the hash input would break every stored chain.
func TestComputeHashIsStable(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		ev   itsm.Event
		want string
	}{
		{"zero event", itsm.Event{}, "171f1d062f27c17e4d80b7ceabdb51ac60e135aca38f74fb70449a4c3603463b"},
		{"create with changes", itsm.Event{ID: "ev-1", Kind: "incident", RecordID: "rec-1", Number: "INC0000001", RecordVersion: 1,
			Name: "create", To: "new", Actor: "ann", At: at, RecordedAt: at,
			Changes: []itsm.FieldChange{{Field: "caller_id", To: `"carl"`}, {Field: "impact", To: "2"}}},
			"549c189825f7e56ed8859c9057cd344e9206b6c1a9cd57adf6beb27e1382ae7f"},
		{"larger than the stack buffer", itsm.Event{ID: "ev-2", Kind: "incident", RecordID: "rec-1", RecordVersion: 2, Name: "hold",
			From: "new", To: "on_hold", Actor: "ann", At: at.Add(time.Hour), RecordedAt: at.Add(2 * time.Hour),
			Reason: "waiting on the caller", PrevHash: strings.Repeat("ab", 32),
			Changes: []itsm.FieldChange{{Field: "notes", From: strings.Repeat("é", 800), To: ""}}},
			"5e1dfe96c9523b009a08ec8803a50a9d5612de25c332ac0013fd640836276a18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, itsm.ComputeHash(&tt.ev))
			assert.Equal(t, tt.want, streamedHash(&tt.ev))
		})
	}
}

// FuzzComputeHash checks the one-buffer hash against the streaming
// reference on arbitrary field contents and change lists.
func FuzzComputeHash(f *testing.F) {
	f.Add("ev-1", "incident", "INC0000001", "hold", "new", "on_hold", "ann", "reason", int64(3), int64(1700000000000000), "a\x00b", 2)
	f.Add("", "", "", "", "", "", "", "", int64(-1), int64(0), "", 0)
	f.Add(strings.Repeat("x", 900), "k", "n", "e", "f", "t", "a", strings.Repeat("r", 300), int64(1<<40), int64(-5), "chg", 7)
	f.Fuzz(func(t *testing.T, id, kind, number, name, from, to, actor, reason string, version, micros int64, change string, nChanges int) {
		e := itsm.Event{ID: id, Kind: kind, RecordID: id + kind, Number: number, RecordVersion: version, Name: name,
			From: from, To: to, Actor: actor, Reason: reason, PrevHash: reason + number,
			At: time.UnixMicro(micros).UTC(), RecordedAt: time.UnixMicro(micros / 3).UTC()}
		for i := range nChanges & 15 {
			e.Changes = append(e.Changes, itsm.FieldChange{Field: change[:len(change)*i/16], From: change, To: change[len(change)*i/16:]})
		}
		require.Equal(t, streamedHash(&e), itsm.ComputeHash(&e))
	})
}

// An Appended change hashes under its own version with a flag per change,
// so marking a change appended changes the hash, and two change lists that
// would read alike with the flag as an optional extra string do not collide.
func TestAppendedChangesHashApart(t *testing.T) {
	base := itsm.Event{ID: "ev-1", Kind: "incident", RecordID: "rec-1", RecordVersion: 2, Name: "update", Actor: "ann"}
	plain, appended := base, base
	plain.Changes = []itsm.FieldChange{{Field: "comments", To: `[{"text":"hi"}]`}}
	appended.Changes = []itsm.FieldChange{{Field: "comments", To: `[{"text":"hi"}]`, Appended: true}}
	assert.NotEqual(t, itsm.ComputeHash(&plain), itsm.ComputeHash(&appended))

	a, b := base, base
	a.Changes = []itsm.FieldChange{{Field: "f1", From: "x", To: "+append"}, {Field: "f2", From: "y", To: "+append"}}
	b.Changes = []itsm.FieldChange{{Field: "f1", From: "x", To: "+append"}, {Field: "+append", From: "f2", To: "y", Appended: true}}
	assert.NotEqual(t, itsm.ComputeHash(&a), itsm.ComputeHash(&b))

	appended.RecordVersion = 1
	itsm.Seal(&appended, "")
	require.NoError(t, itsm.Verify([]itsm.Event{appended}, appended.Hash))
}
