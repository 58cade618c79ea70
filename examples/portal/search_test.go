package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The search box finds the viewer's records by their words, goes straight
// to a record whose number is typed, and refuses an oversized query with
// nothing run.
func TestSearchBox(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	r := carl.post("/incidents", url.Values{"short_description": {"Printer jams on floor three"}, "impact": {"3"}, "urgency": {"3"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	inc := d.incident(strings.TrimPrefix(r.location, "/incidents/"))

	tests := []struct {
		name, user, q string
		status        int
		want          string
	}{
		{"words", "carl", "printer jams", 200, inc.Number},
		{"operators are text", "carl", `printer" OR 1=1 -- *`, 200, ""},
		{"another caller sees nothing", "cora", "printer", 200, "Nothing found"},
		{"too long", "carl", strings.Repeat("a", maxSearchQuery+1), 422, "at most 200 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := d.as(tc.user).get("/search?q=" + url.QueryEscape(tc.q))
			assert.Equal(t, tc.status, r.status)
			assert.Contains(t, text(r.body), tc.want)
			if tc.user == "cora" {
				assert.NotContains(t, r.body, inc.Number)
			}
		})
	}
	r = carl.get("/search?q=" + inc.Number)
	assert.Equal(t, http.StatusSeeOther, r.status, "a number goes straight to its record")
	assert.Equal(t, "/incidents/"+inc.ID, r.location)
}
