package main

import (
	"io"
	"mime"
	"net/http"

	"github.com/pillars-itsm/pillars/operation"
)

// attach adds the posted file to an incident; the library's policy
// refuses a bad name, type or size with nothing written, shown next to
// the field.
func (s *Server) attach(w http.ResponseWriter, r *http.Request, _ User) {
	id := r.PathValue("id")
	f, hdr, err := r.FormFile("file")
	if err != nil {
		s.incidentPage(w, r, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.",
			map[string]string{"file": "Choose a file to attach."}, nil)
		return
	}
	defer f.Close()
	if _, err := s.files.Add(r.Context(), operation.KindIncident, id, hdr.Filename, hdr.Header.Get("Content-Type"), f); err != nil {
		status, msg := classify(err)
		if status == http.StatusUnprocessableEntity {
			s.incidentPage(w, r, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.",
				map[string]string{"file": msg}, nil)
			return
		}
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/incidents/"+id, http.StatusSeeOther)
}

// download serves an attachment to whoever may read its record, always
// as a download (never rendered by the browser).
func (s *Server) download(w http.ResponseWriter, r *http.Request, _ User) {
	a, rc, err := s.files.Open(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = io.Copy(w, rc)
}
