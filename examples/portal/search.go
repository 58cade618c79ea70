package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// Searcher is what the portal's search box needs: ranked hits the viewer
// may read, paged, with a number typed as the query marked Exact. The
// library's storage.SearchService is one (full text, kept current by a
// stream consumer); Config.Search can plug another.
type Searcher interface {
	Search(ctx context.Context, query string, kinds []string, p storage.Paging) ([]storage.SearchHit, string, error)
}

// maxSearchQuery is the longest query the search box takes, in bytes.
const maxSearchQuery = 200

// newSearch builds the library's full-text search over the incidents,
// problems, requests, changes and knowledge articles of the store.
func (s *Server) newSearch() (*storage.SearchService, error) {
	srcs := append(operation.SearchSources(s.desk), transition.SearchSources(s.changes, s.kb)...)
	return storage.NewSearchService(s.desk.Backend(), srcs...)
}

// hitURL is the page of a hit's record.
func hitURL(h storage.SearchHit) string {
	switch h.Kind {
	case operation.KindIncident:
		return "/incidents/" + h.ID
	case operation.KindRequest:
		return "/requests/" + h.ID
	case transition.KindChange:
		return "/changes/" + h.ID
	case transition.KindKnowledge:
		return "/knowledge/" + h.ID
	}
	return ""
}

type searchData struct {
	Query string
	Hits  []searchRow
	Next  string
}

type searchRow struct {
	storage.SearchHit
	URL, Kind string
}

// searchPage serves /search?q=: a number goes straight to its record,
// words list the records that hold them, best first.
func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, _ User) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := searchData{Query: q}
	switch {
	case q == "":
		s.render(w, r, http.StatusOK, "search", page{Title: "Search", Data: d})
		return
	case len(q) > maxSearchQuery || !utf8.ValidString(q):
		s.render(w, r, http.StatusUnprocessableEntity, "search", page{Title: "Search", Error: "Please correct the search.",
			Fields: map[string]string{"q": "Search for at most " + strconv.Itoa(maxSearchQuery) + " characters of text."}, Data: searchData{}})
		return
	}
	hits, next, err := s.search.Search(r.Context(), q, nil, storage.Paging{Limit: perPage, Cursor: r.URL.Query().Get("after")})
	if err != nil {
		if fe := fieldErrors(err); fe != nil {
			s.render(w, r, http.StatusUnprocessableEntity, "search", page{Title: "Search", Error: "Please correct the search.",
				Fields: map[string]string{"q": "Type a few words or a ticket number."}, Data: d})
			return
		}
		s.failErr(w, r, err)
		return
	}
	if len(hits) == 1 && hits[0].Exact && hitURL(hits[0]) != "" {
		http.Redirect(w, r, hitURL(hits[0]), http.StatusSeeOther)
		return
	}
	for _, h := range hits {
		d.Hits = append(d.Hits, searchRow{SearchHit: h, URL: hitURL(h), Kind: stateLabel(h.Kind)})
	}
	if next != "" {
		d.Next = "/search?q=" + urlQuery(q) + "&after=" + urlQuery(next)
	}
	s.render(w, r, http.StatusOK, "search", page{Title: "Search", Data: d})
}

// urlQuery escapes a query-string value.
func urlQuery(v string) string { return url.QueryEscape(v) }
