package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/transition"
)

// Knowledge suggestions: while a caller types an incident's title the
// portal lists published articles that may already answer it. app.js asks
// /knowledge/suggest as they type; without a script the raise form shows
// the same list as a step before the incident is raised.

// maxSuggestions is how many articles a suggestion lists.
const maxSuggestions = 5

// maxSuggestWords is how many of a title's words are looked up.
const maxSuggestWords = 6

// suggestion is an article offered for a title.
type suggestion struct {
	Number string `json:"number"`
	Title  string `json:"title"`
	URL    string `json:"url"`
}

// publishedOnly is the portal's rule on reading knowledge: agents (and the
// system, managers, admins) read every article, everyone else only the
// published ones. A check without a record (may the actor read the kind at
// all) passes.
func publishedOnly(_ context.Context, req itsm.AccessRequest) string {
	a := req.Actor
	if a.HasRole("agent") || a.HasRole("admin") || a.HasRole(itsm.RoleSystem) || a.HasRole(itsm.RoleManager) || a.HasRole(itsm.RoleImporter) {
		return ""
	}
	art, ok := req.Record.(*transition.Article)
	if !ok || art == nil || art.State == transition.ArticlePublished {
		return ""
	}
	return "only published articles are shown"
}

// skipWord reports whether a word of a title says too little to look up.
func skipWord(w string) bool {
	if utf8.RuneCountInString(w) < 3 {
		return true
	}
	switch w {
	case "the", "and", "for", "with", "from", "not", "does", "doesn", "can", "cannot", "any", "are", "was", "has", "have",
		"but", "this", "that", "when", "will", "won", "again", "still", "keeps", "all", "our", "you", "your", "into":
		return true
	}
	return false
}

// suggest returns the published articles the viewer may read that share
// the most telling words of title, best first: each word is looked up on
// its own (a title is rarely all in one article) and the scores added.
func (s *Server) suggest(ctx context.Context, title string) ([]suggestion, error) {
	if len(title) > maxSearchQuery || !utf8.ValidString(title) || strings.IndexByte(title, 0) >= 0 {
		return nil, itsm.Invalidf("Type a title of at most %d characters of text.", maxSearchQuery)
	}
	var words []string
	for _, w := range storage.Tokenize(title) {
		if !skipWord(w) && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	// The longest words tell the most.
	slices.SortStableFunc(words, func(a, b string) int { return len(b) - len(a) })
	words = words[:min(len(words), maxSuggestWords)]
	score := map[string]float64{}
	hits := map[string]storage.SearchHit{}
	for _, w := range words {
		found, _, err := s.search.Search(ctx, w, []string{transition.KindKnowledge}, storage.Paging{Limit: maxSuggestions * 2})
		if err != nil {
			return nil, err
		}
		for _, h := range found {
			score[h.ID] += h.Score
			hits[h.ID] = h
		}
	}
	ids := make([]string, 0, len(hits))
	for id := range hits {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		switch {
		case score[a] > score[b]:
			return -1
		case score[a] < score[b]:
			return 1
		}
		return strings.Compare(hits[a].Number, hits[b].Number)
	})
	var out []suggestion
	for _, id := range ids {
		// The index may trail the records: what is offered must still be
		// readable (a retired or revised article is not).
		art, err := s.kb.Records().Get(ctx, id)
		if err != nil || art.State != transition.ArticlePublished {
			continue
		}
		out = append(out, suggestion{Number: art.Number, Title: art.Title, URL: "/knowledge/" + art.ID})
		if len(out) == maxSuggestions {
			break
		}
	}
	return out, nil
}

// suggestJSON serves /knowledge/suggest?q=: the suggestions for a title as
// JSON, for app.js. A title too long or not text is a 422 with a message.
func (s *Server) suggestJSON(w http.ResponseWriter, r *http.Request, _ User) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	out, err := s.suggest(r.Context(), strings.TrimSpace(r.URL.Query().Get("q")))
	if err != nil {
		status, msg := classify(err)
		if status == http.StatusInternalServerError {
			s.logger.Printf("portal: suggest: %v", err)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": strings.TrimPrefix(msg, itsm.ErrInvalid.Error()+": ")})
		return
	}
	if out == nil {
		out = []suggestion{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// articleData is an article's page.
type articleData struct {
	Article *transition.Article
}

// showArticle serves a knowledge article to whoever may read it.
func (s *Server) showArticle(w http.ResponseWriter, r *http.Request, _ User) {
	art, err := s.kb.Records().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "article", page{Title: art.Number + " " + art.Title, Data: articleData{art}})
}
