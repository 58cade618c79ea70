package main

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
)

// attachTo returns the handler adding the posted file to a record of kind
// (an incident or a request); the library's policy refuses a bad name,
// type or size with nothing written, shown next to the field in words
// for people, the record's page shown again.
func (s *Server) attachTo(kind string) func(w http.ResponseWriter, r *http.Request, u User) {
	return func(w http.ResponseWriter, r *http.Request, _ User) {
		id := r.PathValue("id")
		back := func(problem string) {
			fields := map[string]string{"file": problem}
			if kind == operation.KindRequest {
				s.requestPage(w, r, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.", fields, nil)
				return
			}
			s.incidentPage(w, r, http.StatusUnprocessableEntity, id, "Please correct the fields marked below.", fields, nil)
		}
		f, hdr, err := r.FormFile("file")
		if err != nil {
			back("Choose a file to attach.")
			return
		}
		defer f.Close()
		if _, err := s.files.Add(r.Context(), kind, id, hdr.Filename, hdr.Header.Get("Content-Type"), f); err != nil {
			if problem := uploadProblem(err); problem != "" {
				back(problem)
				return
			}
			s.failErr(w, r, err)
			return
		}
		http.Redirect(w, r, "/"+kind+"s/"+id, http.StatusSeeOther)
	}
}

// uploadProblem says what is wrong with a refused upload in words for
// people, or "" when the refusal is not about the file (no such record,
// not allowed).
func uploadProblem(err error) string {
	var ve *itsm.ValidationError
	if !errors.As(err, &ve) {
		return ""
	}
	switch {
	case ve.Fields["name"] != "":
		return "Rename the file: its name " + ve.Fields["name"] + "."
	case ve.Fields["size"] != "":
		if ve.Fields["size"] == "is 0: the content is empty" {
			return "The file is empty."
		}
		return fmt.Sprintf("The file is too large: attach at most %d MB.", MaxUpload>>20)
	case ve.Fields["content_type"] != "":
		return "This kind of file is not accepted (" + ve.Fields["content_type"] + "); attach a picture, a PDF or a text file."
	}
	return ve.Error()
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
