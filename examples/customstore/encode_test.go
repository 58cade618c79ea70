package customstore

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage"
)

var (
	encStrings = []string{"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "A", "B", "Z", "a", "a\x00", "a\x00b", "ab", "abc", "b", "zz", "é", "\xff", "\xff\xff", "日本"}
	encInts    = []int64{math.MinInt64, math.MinInt64 + 1, -1 << 40, -1, 0, 1, 1 << 53, 1<<53 + 1, math.MaxInt64 - 1, math.MaxInt64}
	encIDs     = []string{"a", "a\x00", "a\x01", "ab", "b", "\xff", "x" + strings.Repeat("\xff", 127)}
)

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// The members of a sorted set must compare bytewise exactly as storage.Plan
// orders (value, id): ascending sets by value then id, descending twins by
// value then id descending (a reverse walk then yields id ascending).
func TestMemberOrder(t *testing.T) {
	var vals []storage.Value
	for _, s := range encStrings {
		vals = append(vals, storage.String(s))
	}
	for _, n := range encInts {
		vals = append(vals, storage.Int(n), storage.TimeMicros(n))
	}
	for _, a := range vals {
		for _, b := range vals {
			if a.Type() != b.Type() {
				continue
			}
			for _, ia := range encIDs {
				for _, ib := range encIDs {
					want := a.Compare(b)
					if want == 0 {
						want = strings.Compare(ia, ib)
					}
					asc := strings.Compare(member([]storage.Value{a}, ia, false), member([]storage.Value{b}, ib, false))
					require.Equal(t, want, sign(asc), "asc %#v/%q vs %#v/%q", a, ia, b, ib)
					descWant := a.Compare(b)
					if descWant == 0 {
						descWant = -strings.Compare(ia, ib)
					}
					desc := strings.Compare(member([]storage.Value{a}, ia, true), member([]storage.Value{b}, ib, true))
					require.Equal(t, descWant, sign(desc), "desc %#v/%q vs %#v/%q", a, ia, b, ib)
				}
			}
		}
	}
}

func TestMemberID(t *testing.T) {
	for _, id := range append(encIDs, strings.Repeat("z", 128), "") {
		got, err := memberID(member([]storage.Value{storage.String("v\x00"), storage.Int(-3)}, id, true))
		require.NoError(t, err)
		assert.Equal(t, id, got)
	}
	for _, bad := range []string{"", "\x05", "ab\x03"} {
		_, err := memberID(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestFieldsRoundTrip(t *testing.T) {
	fields := []storage.Field{{Name: "s", Type: storage.TypeString}, {Name: "n", Type: storage.TypeInt}, {Name: "at", Type: storage.TypeTime}}
	for _, s := range encStrings {
		for _, n := range encInts {
			vals := []storage.Value{storage.String(s), storage.Int(n), storage.Time(time.UnixMicro(n / 7))}
			got, err := decodeFields(fields, encodeFields(vals))
			require.NoError(t, err)
			require.Equal(t, vals, got)
		}
	}
	got, err := decodeFields(nil, "")
	require.NoError(t, err)
	assert.Empty(t, got)
	for what, bad := range map[string]string{
		"empty":          "",
		"short int":      "abc\x00\x01\x00",
		"no terminator":  "abc",
		"bad escape":     "a\x00\x02" + strings.Repeat("\x00", 16),
		"lone zero":      "\x00",
		"trailing bytes": encodeFields([]storage.Value{storage.String("x"), storage.Int(1), storage.Int(2)}) + "!",
	} {
		_, err := decodeFields(fields, bad)
		assert.Error(t, err, what)
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"\xff\xff", "", false},
		{"a", "b", true},
		{"a\xff", "b", true},
		{"ab\x00", "ab\x01", true},
	}
	for _, c := range cases {
		got, ok := prefixEnd(c.in)
		assert.Equal(t, c.ok, ok, "%q", c.in)
		assert.Equal(t, c.want, got, "%q", c.in)
		if ok {
			assert.Greater(t, got, c.in+"\xff\xff\xff")
		}
	}
}

// FuzzDecodeFields: any bytes decode to values or an error, never a panic,
// and whatever decodes encodes back to the same bytes.
func FuzzDecodeFields(f *testing.F) {
	fields := []storage.Field{{Name: "s", Type: storage.TypeString}, {Name: "n", Type: storage.TypeInt}, {Name: "t", Type: storage.TypeString}}
	f.Add(encodeFields([]storage.Value{storage.String("a\x00b"), storage.Int(-1), storage.String("")}))
	f.Add("\x00\x01\x80\x00\x00\x00\x00\x00\x00\x00\x00\x01")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		vals, err := decodeFields(fields, s)
		if err != nil {
			return
		}
		require.Equal(t, s, encodeFields(vals))
		_, _ = memberID(s)
	})
}
