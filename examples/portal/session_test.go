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

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// withCookie returns a fresh browser whose only cookie is the session
// cookie with value v.
func (d *desk) withCookie(v string) *browser {
	b := d.browser()
	u, _ := url.Parse(d.url)
	b.jr.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: v, Path: "/"}})
	return b
}

// sessionValue returns the browser's session cookie value.
func (b *browser) sessionValue() string {
	u, _ := url.Parse(b.d.url)
	for _, c := range b.jr.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// A session cookie is a user only when the portal signed it: a bare user
// id, an edited payload, a cookie signed with another key or an expired
// one all read as logged out.
func TestSessionCookieMustBeSigned(t *testing.T) {
	d := newDesk(t)
	ann := d.as("ann")
	good := ann.sessionValue()
	require.NotEmpty(t, good)
	enc, sig, _ := strings.Cut(good, ".")
	other, err := NewServer(context.Background(), memory.New(), Config{Clock: d.clock})
	require.NoError(t, err)
	foreign, _ := other.testSession("ann")
	tests := []struct {
		name  string
		value string
	}{
		{"a bare user id", "ann"},
		{"the old cookie format", "pillars_user=ann"},
		{"payload without signature", enc},
		{"edited payload, old signature", strings.Replace(good, enc, strings.TrimRight(enc, "=")+"A", 1)},
		{"signature of another payload", d.srv.sign(session{ID: "0123456789abcdef0123456789abcdef", User: "carl", Expires: d.clock.Now().Add(time.Hour)})[:10] + "." + sig},
		{"signed with another portal's key", foreign.Value},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := d.withCookie(tc.value)
			r := b.get("/queue")
			assert.Equal(t, http.StatusSeeOther, r.status)
			assert.Equal(t, "/login", r.location, "not a user")
		})
	}
	assert.Equal(t, http.StatusOK, d.withCookie(good).get("/queue").status, "the signed cookie is ann")
	d.clock.Advance(sessionTTL + time.Minute)
	assert.Equal(t, "/login", d.withCookie(good).get("/queue").location, "an expired session is over")
}

// A CSRF token is valid only with the session it was issued to: another
// session's token, the anonymous session's token after login, or a token
// without a session are refused with nothing written.
func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	d := newDesk(t)
	ann, carl := d.as("ann"), d.as("carl")
	anon := d.browser()
	anonToken := anon.csrf()
	require.NotEmpty(t, anonToken)
	id := d.seeded.Incident
	tests := []struct {
		name string
		b    *browser
		tok  string
	}{
		{"carl's token in ann's session", ann, carl.csrf()},
		{"ann's token in carl's session", carl, ann.csrf()},
		{"a token issued before login", ann, anonToken},
		{"a token without any session", d.browser(), ann.csrf()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.snapshot()
			r := tc.b.post("/incidents/"+id+"/comment", url.Values{"csrf": {tc.tok}, "text": {"forged"}})
			assert.Equal(t, http.StatusForbidden, r.status)
			assert.Contains(t, text(r.body), "CSRF token")
			assert.Equal(t, before, d.snapshot())
		})
	}
	// Logging in issues a new session: the anonymous session's cookie,
	// replayed, is no one.
	b := d.browser()
	b.get("/login")
	pre := b.sessionValue()
	require.Equal(t, http.StatusSeeOther, b.post("/login", url.Values{"user": {"ann"}}).status)
	assert.NotEqual(t, pre, b.sessionValue())
	assert.Equal(t, "/login", d.withCookie(pre).get("/queue").location)
	// Its own token works.
	r := ann.post("/incidents/"+id+"/comment", url.Values{"text": {"fine"}})
	assert.Equal(t, http.StatusSeeOther, r.status, text(r.body))
}

// A path the portal serves under another method answers 405 with Allow.
func TestMethodNotAllowed(t *testing.T) {
	d := newDesk(t)
	ann := d.as("ann")
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/incidents/" + d.seeded.Incident + "/take", "POST"},
		{http.MethodGet, "/logout", "POST"},
		{http.MethodPost, "/queue", "GET, HEAD"},
		{http.MethodDelete, "/incidents/" + d.seeded.Incident, "GET, HEAD"},
		{http.MethodPut, "/login", "GET, HEAD, POST"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			body := url.Values{"csrf": {ann.csrf()}}.Encode()
			req, err := http.NewRequest(tc.method, d.url+tc.path, strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := ann.c.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)
			assert.Equal(t, tc.allow, res.Header.Get("Allow"))
		})
	}
	assert.Equal(t, http.StatusNotFound, ann.get("/nowhere").status)
}

func TestSessionKeyIsChecked(t *testing.T) {
	_, err := NewServer(context.Background(), memory.New(), Config{SessionKey: []byte("short")})
	assert.ErrorIs(t, err, itsm.ErrInvalid)
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	s, err := NewServer(context.Background(), memory.New(), Config{Clock: clock, SessionKey: []byte(strings.Repeat("k", 32))})
	require.NoError(t, err)
	c1, _ := s.testSession("ann")
	s2, err := NewServer(context.Background(), memory.New(), Config{Clock: clock, SessionKey: []byte(strings.Repeat("k", 32))})
	require.NoError(t, err)
	c2, _ := s2.testSession("ann")
	assert.Equal(t, c1.Value, c2.Value, "the same key signs alike, so sessions survive a restart")
}
