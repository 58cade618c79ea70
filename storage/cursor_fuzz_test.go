package storage

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

// fuzzSchema and fuzzQueries are the plans FuzzCursor decodes against: no
// sort, one field of each type, and a composite ordering mixing directions.
var (
	fuzzSchema = Schema{
		Kind:    "ticket",
		Fields:  []Field{{Name: "grp", Type: TypeString}, {Name: "prio", Type: TypeInt}, {Name: "opened", Type: TypeTime}},
		Indexes: []Index{{Name: "queue", Fields: []string{"grp", "prio", "opened"}}},
	}
	fuzzQueries = []Query{
		{Kind: "ticket"},
		{Kind: "ticket", Sort: []Sort{{Field: "grp"}}},
		{Kind: "ticket", Sort: []Sort{{Field: "prio", Desc: true}}},
		{Kind: "ticket", Filters: []Filter{Gte("opened", TimeMicros(0))}, Sort: []Sort{{Field: "opened"}}},
		{Kind: "ticket", Filters: []Filter{Eq("grp", String("g1"))}, Sort: []Sort{{Field: "prio", Desc: true}, {Field: "opened"}}},
		{Kind: "ticket", Filters: []Filter{In("prio", Int(1), Int(2))}, Sort: []Sort{{Field: "grp"}, {Field: "prio"}, {Field: "opened", Desc: true}}},
	}
)

// maxFuzzString bounds the string sort value of the round trip: indexed
// strings are at most MaxStringValue bytes.
const maxFuzzString = MaxStringValue

// FuzzCursor feeds random cursors to CheckQuery, which must return a plan or
// an error matching ErrInvalid and never panic; an accepted cursor must
// re-encode to an equivalent one. It also checks that the cursor of any
// valid document round trips to its sort key and id, and is refused by every
// other query.
func FuzzCursor(f *testing.F) {
	for qi, q := range fuzzQueries {
		p, err := fuzzSchema.CheckQuery(q)
		require.NoError(f, err)
		d := Document{Kind: "ticket", ID: "0190a5c4-7d1e-7000-8000-000000000001", Version: 1,
			Fields: []Value{String("g1"), Int(-3), TimeMicros(1_700_000_000_000_000)}}
		valid := p.NextCursor(d)
		f.Add(valid, uint8(qi), "g1", int64(-3), d.ID)
		f.Add(valid[:len(valid)-1], uint8(qi), "", int64(0), "x")
		f.Add(valid+"A", uint8(qi+1), "é", int64(1)<<62, "y")
	}
	f.Add("", uint8(0), "", int64(0), "")
	f.Add("!!!", uint8(1), "a", int64(-1), "id")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte{cursorVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}), uint8(2), "", int64(0), "z")

	f.Fuzz(func(t *testing.T, cursor string, qi uint8, str string, n int64, id string) {
		q := fuzzQueries[int(qi)%len(fuzzQueries)]

		// Any string: a plan or ErrInvalid.
		q.Cursor = cursor
		p, err := fuzzSchema.CheckQuery(q)
		if err != nil {
			require.True(t, errors.Is(err, itsm.ErrInvalid), "cursor %q: error %v does not match ErrInvalid", cursor, err)
		} else if cursor != "" {
			require.True(t, p.AfterSet)
			require.Len(t, p.After, len(p.SortFields))
			for i, v := range p.After {
				require.Equal(t, fuzzSchema.Fields[p.SortFields[i]].Type, v.Type(), "key %d of an accepted cursor", i)
			}
			require.NotEmpty(t, p.AfterID)
			require.LessOrEqual(t, len(p.AfterID), 128)
			again := q
			again.Cursor = encodeCursor(p, p.After, p.AfterID)
			p2, err := fuzzSchema.CheckQuery(again)
			require.NoError(t, err, "re-encoded accepted cursor")
			require.Equal(t, p.After, p2.After)
			require.Equal(t, p.AfterID, p2.AfterID)
		}

		// A valid document's cursor round trips, within the contract's
		// limits on ids and cursor size.
		if id == "" || len(id) > 128 || len(str) > maxFuzzString {
			return
		}
		q.Cursor = ""
		p0, err := fuzzSchema.CheckQuery(q)
		require.NoError(t, err)
		d := Document{Kind: "ticket", ID: id, Version: 1, Fields: []Value{String(str), Int(n), TimeMicros(n)}}
		c := p0.NextCursor(d)
		q.Cursor = c
		p1, err := fuzzSchema.CheckQuery(q)
		require.NoError(t, err, "the cursor of a valid document")
		require.Equal(t, p0.SortKey(d), p1.After)
		require.Equal(t, id, p1.AfterID)
		require.False(t, p1.AfterCursor(d), "the cursor's own document is not after it")
		for j, other := range fuzzQueries {
			if j == int(qi)%len(fuzzQueries) {
				continue
			}
			other.Cursor = c
			_, err := fuzzSchema.CheckQuery(other)
			require.ErrorIs(t, err, itsm.ErrInvalid, "cursor of query %d replayed on query %d", int(qi)%len(fuzzQueries), j)
		}
	})
}
