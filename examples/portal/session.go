package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sessionCookie is the login stand-in's session cookie. Its value is
// "sid|user|expiry" followed by an HMAC-SHA256 of it under the portal's
// session key, so a bare or edited value (a user id typed into the cookie)
// is no session at all. The user picker on /login is a STAND-IN for the
// host's single sign-on: a real deployment replaces login/logout and keeps
// the signed session.
const sessionCookie = "pillars_session"

// sessionTTL is how long a session lasts without a new login.
const sessionTTL = 12 * time.Hour

// session is what the signed cookie carries: a random session id (the CSRF
// token is derived from it) and the logged-in user's id ("" before login).
type session struct {
	ID      string
	User    string
	Expires time.Time
}

// sign returns the cookie value of a session.
func (s *Server) sign(se session) string {
	payload := se.ID + "|" + se.User + "|" + strconv.FormatInt(se.Expires.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.mac("session", payload)
}

// mac is the hex HMAC of a purpose-labelled message under the session key.
func (s *Server) mac(purpose, msg string) string {
	h := hmac.New(sha256.New, s.key)
	_, _ = io.WriteString(h, purpose+"\x00"+msg)
	return hex.EncodeToString(h.Sum(nil))
}

// session returns the request's session when its cookie verifies and has
// not expired.
func (s *Server) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	enc, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return session{}, false
	}
	payload := string(raw)
	if !hmac.Equal([]byte(sig), []byte(s.mac("session", payload))) {
		return session{}, false
	}
	parts := strings.Split(payload, "|")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !s.clock.Now().Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	return session{ID: parts[0], User: parts[1], Expires: time.Unix(exp, 0)}, true
}

// startSession issues a new session (a fresh id: logging in never keeps
// the anonymous session's id) for user and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user string) session {
	var b [16]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	se := session{ID: hex.EncodeToString(b[:]), User: user, Expires: s.clock.Now().Add(sessionTTL).Truncate(time.Second)}
	v := s.sign(se)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}) // a browser-session cookie; the signed expiry ends it
	// Later reads of this request (the page rendered after login) see it.
	r.Header.Del("Cookie")
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
	return se
}

// csrfFor is the CSRF token of a session: an HMAC of its id, so a token is
// valid only with the session cookie it was issued for.
func (s *Server) csrfFor(se session) string { return s.mac("csrf", se.ID) }

// csrfToken returns the request's CSRF token, starting an anonymous
// session when the request has none (the login form needs a token too).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	se, ok := s.session(r)
	if !ok {
		se = s.startSession(w, r, "")
	}
	return s.csrfFor(se)
}

// checkCSRF reports whether the form's token belongs to the request's
// session.
func (s *Server) checkCSRF(r *http.Request) bool {
	se, ok := s.session(r)
	if !ok {
		return false
	}
	tok := r.PostForm.Get("csrf")
	return tok != "" && hmac.Equal([]byte(tok), []byte(s.csrfFor(se)))
}
