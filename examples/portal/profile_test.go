package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A person's pages show times in their own zone: UTC until they choose
// one (or the directory gives one), the zone they save on their settings
// page after, kept in the store across a restart; a name that is no zone
// is refused next to the field with nothing stored.
func TestTimesInTheUsersZone(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	id := d.seeded.Incident
	opened := text(carl.get("/incidents/" + id).body)
	assert.Contains(t, opened, "Opened Wed 25 Nov 09:00 UTC")
	assert.Contains(t, opened, "Times in UTC")

	page := carl.get("/profile").body
	assert.Contains(t, page, `data-suggest-browser="1"`, "no zone chosen yet: the form may offer the browser's")
	assert.Contains(t, text(page), "Times are shown in UTC")

	r := carl.post("/profile", url.Values{"time_zone": {"Europe/Berlin"}})
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	page = carl.get("/profile").body
	assert.NotContains(t, page, "data-suggest-browser", "a chosen zone is not overwritten by the browser's")
	assert.Contains(t, page, `value="Europe/Berlin"`)
	after := text(carl.get("/incidents/" + id).body)
	assert.Contains(t, after, "Opened Wed 25 Nov 10:00 CET")
	assert.Contains(t, after, "Times in Europe/Berlin")
	assert.Contains(t, text(d.as("cora").get("/profile").body), "Times are shown in UTC", "one person's zone is theirs alone")

	// The directory's zone is the default; a chosen one overrides it.
	cora := d.srv.byID["cora"]
	cora.TimeZone = "Asia/Tokyo"
	d.srv.byID["cora"] = cora
	assert.Contains(t, text(d.as("cora").get("/my").body), "Times in Asia/Tokyo")
	assert.Contains(t, text(d.as("ann").get("/queue").body), "Wed 25 Nov 09:00 UTC", "the agent has no zone")

	// The setting is a record in the store: a new portal on the same
	// store (a restart) shows the same zone.
	again, err := NewServer(context.Background(), d.store, Config{Clock: d.clock})
	require.NoError(t, err)
	p, version, err := again.profileOf(context.Background(), "carl")
	require.NoError(t, err)
	assert.Equal(t, "Europe/Berlin", p.TimeZone)
	assert.Equal(t, int64(1), version)

	tests := []struct{ name, zone, want string }{
		{"empty", "", "Choose a time zone"},
		{"unknown", "Mars/Olympus_Mons", "is not a time zone the portal knows"},
		{"a relative path", "../../etc/passwd", "Choose a time zone"},
		{"an absolute path", "/etc/localtime", "Choose a time zone"},
		{"a backslash path", `Europe\Berlin`, "Choose a time zone"},
		{"the server's local zone", "Local", "Choose a time zone"},
		{"a control character", "Europe/Berlin\x01", "Choose a time zone"},
		{"10 KB", strings.Repeat("Europe/", 1500), "Choose a time zone"},
		{"markup", `<script>alert(1)</script>`, "Choose a time zone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			r := carl.post("/profile", url.Values{"time_zone": {tc.zone}})
			assert.Equal(t, http.StatusUnprocessableEntity, r.status)
			assert.Contains(t, r.body, `id="time_zone"`)
			assert.Contains(t, r.body, `aria-invalid="true"`)
			assert.Contains(t, text(r.body), tc.want)
			assert.NotContains(t, r.body, "<script>alert", "what was typed is kept, escaped")
			assert.Equal(t, before, d.snapshot())
			p, v, err := d.srv.profileOf(context.Background(), "carl")
			require.NoError(t, err)
			assert.Equal(t, "Europe/Berlin", p.TimeZone, "nothing stored")
			assert.Equal(t, int64(1), v)
		})
	}
}

// The zone names the form suggests all load, and the shape check lets
// through every real zone name while refusing paths.
func TestZoneNames(t *testing.T) {
	for _, z := range append(commonZones(), "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince") {
		loc, err := loadZone(z)
		require.NoError(t, err, z)
		assert.Equal(t, z, loc.String())
	}
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	loc, err := loadZone("America/New_York")
	require.NoError(t, err)
	assert.Equal(t, "Wed 1 Jul 08:00 EDT", templateFuncs(loc)["when"].(func(time.Time) string)(now))
	for _, bad := range []string{"", ".", "..", "a//b", "Europe/", "/Europe", "Europe/../Berlin", "Europe/Ber lin", "Ёжик"} {
		assert.False(t, zoneShaped(bad), bad)
	}
}
