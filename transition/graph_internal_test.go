package transition

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
)

// FuzzChangedString checks the event-change decoder of the graph projection
// against encoding/json: any string a record may hold decodes to itself, and
// malformed change text is refused with ErrInvalid, never a panic.
func FuzzChangedString(f *testing.F) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "<tag>&", "é\u2028", "\x00\xff"} {
		f.Add(s, `"`+s)
	}
	f.Add("x", "\"\x01\"")
	f.Add("x", "\"\xff\"")
	f.Add("x", `"a\"`)
	f.Fuzz(func(t *testing.T, s, raw string) {
		enc, err := json.Marshal(s)
		require.NoError(t, err)
		var want string
		require.NoError(t, json.Unmarshal(enc, &want))
		got, ok, err := changedString(itsm.Event{Changes: []itsm.FieldChange{{Field: "f", To: string(enc)}}}, "f")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, got)

		got, ok, err = changedString(itsm.Event{Changes: []itsm.FieldChange{{Field: "f", To: raw}}}, "f")
		if err != nil {
			require.ErrorIs(t, err, itsm.ErrInvalid)
			return
		}
		require.True(t, ok)
		if raw != "" {
			var w string
			require.NoError(t, json.Unmarshal([]byte(raw), &w), "accepted %q", raw)
			require.Equal(t, w, got)
		}
	})
}
