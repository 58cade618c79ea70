package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // the zone database inside the binary: time zones work on hosts without one

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// KindProfile is the portal's record of a person's own settings, one
// document per user id in the portal's store.
const KindProfile = "portal_profile"

// profile is what a person set for themselves.
type profile struct {
	// TimeZone is an IANA zone name ("Europe/Berlin") the portal shows
	// times in; empty: the directory's (User.TimeZone), else UTC.
	TimeZone string `json:"time_zone,omitempty"`
}

// maxZoneName bounds a time zone name in bytes (the longest IANA name has
// 32).
const maxZoneName = 64

// zoneShaped reports whether name has the shape of an IANA zone name:
// parts of ASCII letters, digits and _+- joined by single slashes, each
// starting with a letter or digit (so never a path such as "../x" or
// "/etc/x"), the first with a letter.
func zoneShaped(name string) bool {
	if name == "" {
		return false
	}
	for i, part := range strings.Split(name, "/") {
		if part == "" || (i == 0 && !isLetter(part[0])) || !isLetter(part[0]) && (part[0] < '0' || part[0] > '9') {
			return false
		}
		for _, c := range []byte(part) {
			if !isLetter(c) && (c < '0' || c > '9') && c != '_' && c != '+' && c != '-' {
				return false
			}
		}
	}
	return true
}

// isLetter reports whether c is an ASCII letter.
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// loadZone returns the location of an IANA zone name, or ErrInvalid with
// a message for people: an empty or local name, a path, an unknown zone.
func loadZone(name string) (*time.Location, error) {
	if name == "" || len(name) > maxZoneName || !zoneShaped(name) || name == "Local" {
		return nil, itsm.Invalidf("Choose a time zone such as Europe/Berlin or America/New_York.")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, itsm.Invalidf("%q is not a time zone the portal knows; choose one such as Europe/Berlin.", name)
	}
	return loc, nil
}

// commonZones are the zones the profile form suggests; any IANA zone is
// accepted.
func commonZones() []string {
	return []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Madrid",
		"Europe/Rome", "Europe/Amsterdam", "Europe/Stockholm", "Europe/Warsaw", "Europe/Athens", "Europe/Helsinki", "Europe/Istanbul",
		"Europe/Moscow", "Africa/Lagos", "Africa/Cairo", "Africa/Johannesburg", "Africa/Nairobi", "Asia/Dubai", "Asia/Karachi",
		"Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo",
		"Asia/Seoul", "Australia/Perth", "Australia/Sydney", "Pacific/Auckland", "America/St_Johns", "America/Halifax",
		"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage",
		"Pacific/Honolulu", "America/Mexico_City", "America/Bogota", "America/Lima", "America/Santiago", "America/Sao_Paulo",
		"America/Argentina/Buenos_Aires"}
}

// profileOf reads a person's settings and the version stored (0: none
// yet).
func (s *Server) profileOf(ctx context.Context, user string) (profile, int64, error) {
	doc, err := s.desk.Backend().Get(ctx, KindProfile, user)
	if errors.Is(err, itsm.ErrNotFound) {
		return profile{}, 0, nil
	}
	if err != nil {
		return profile{}, 0, err
	}
	var p profile
	if err := json.Unmarshal(doc.Data, &p); err != nil {
		return profile{}, 0, fmt.Errorf("portal: profile of %s is corrupt: %w", user, err)
	}
	return p, doc.Version, nil
}

// saveProfile writes a person's settings over the version read.
func (s *Server) saveProfile(ctx context.Context, user string, p profile, version int64) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.desk.Backend().Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, storage.Document{Kind: KindProfile, ID: user, Version: version + 1, Data: data}, version)
	})
}

// zoneOf returns the zone u's pages show times in: their own setting,
// else the directory's, else UTC. A stored zone the portal cannot load
// (the zone database changed) falls back the same way.
func (s *Server) zoneOf(ctx context.Context, u User) *time.Location {
	p, _, err := s.profileOf(ctx, u.ID)
	if err != nil {
		s.logger.Printf("portal: %v", err)
	}
	for _, name := range []string{p.TimeZone, u.TimeZone} {
		if loc, err := loadZone(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// profileData is the profile page.
type profileData struct {
	TimeZone string   // the zone in the form: the stored one, or what was typed
	Set      bool     // the person chose a zone (else the form may propose the browser's)
	Current  string   // the zone pages show now
	Now      string   // the time now in it
	Zones    []string // suggestions
}

func (s *Server) profilePage(w http.ResponseWriter, r *http.Request, u User) {
	p, _, err := s.profileOf(r.Context(), u.ID)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.renderProfile(w, r, u, http.StatusOK, p.TimeZone, p.TimeZone != "", "", nil)
}

func (s *Server) renderProfile(w http.ResponseWriter, r *http.Request, u User, status int, typed string, set bool, msg string, fields map[string]string) {
	loc := s.zoneOf(r.Context(), u)
	s.render(w, r, status, "profile", page{Title: "Your settings", Error: msg, Fields: fields, Data: profileData{
		TimeZone: typed, Set: set, Current: loc.String(), Now: s.clock.Now().In(loc).Format("Mon 2 Jan 15:04 MST"), Zones: commonZones()}})
}

// saveProfileForm stores the zone the person chose (the form proposes
// the browser's when they have none); a name that is no zone is refused
// next to the field, with what they typed kept.
func (s *Server) saveProfileForm(w http.ResponseWriter, r *http.Request, u User) {
	ctx := r.Context()
	name := strings.TrimSpace(r.PostForm.Get("time_zone"))
	if _, err := loadZone(name); err != nil {
		s.renderProfile(w, r, u, http.StatusUnprocessableEntity, name, true, "Please correct the fields marked below.",
			map[string]string{"time_zone": strings.TrimPrefix(err.Error(), itsm.ErrInvalid.Error()+": ")})
		return
	}
	p, version, err := s.profileOf(ctx, u.ID)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	p.TimeZone = name
	if err := s.saveProfile(ctx, u.ID, p, version); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/profile", http.StatusSeeOther)
}
