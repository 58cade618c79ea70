package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// suggestions asks /knowledge/suggest for a title as the browser's script
// does.
func (b *browser) suggestions(q string) (int, []suggestion, map[string]string) {
	b.d.t.Helper()
	r := b.get("/knowledge/suggest?q=" + url.QueryEscape(q))
	if r.status != http.StatusOK {
		var e map[string]string
		_ = json.Unmarshal([]byte(r.body), &e)
		return r.status, nil, e
	}
	var out []suggestion
	require.NoError(b.d.t, json.Unmarshal([]byte(r.body), &out), r.body)
	return r.status, out, nil
}

// While a caller types a title the portal offers the published articles
// that share its telling words, best first; drafts never; bad titles are
// refused in words, operators are words like any other.
func TestKnowledgeSuggestions(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	tests := []struct {
		name, q string
		status  int
		want    []string // article numbers' titles, in order
		problem string
	}{
		{"a title", "Printer on floor 3 prints blank pages", http.StatusOK, []string{"Blank or faded pages: replace the toner cartridge"}, ""},
		{"another", "outlook wants my password", http.StatusOK, []string{"Outlook asks for the password again and again"}, ""},
		{"words of both", "blank pages and the outlook password", http.StatusOK,
			[]string{"Outlook asks for the password again and again", "Blank or faded pages: replace the toner cartridge"}, ""},
		{"only the draft's words", "suppliers compared", http.StatusOK, nil, ""},
		{"nothing telling", "it is the", http.StatusOK, nil, ""},
		{"empty", "", http.StatusOK, nil, ""},
		{"engine operators", `toner" OR 1=1 -- * NEAR(a b) & | !`, http.StatusOK, []string{"Blank or faded pages: replace the toner cartridge"}, ""},
		{"10 KB", strings.Repeat("toner ", 1700), http.StatusUnprocessableEntity, nil, "at most 200 characters"},
		{"not UTF-8", "toner \xff\xfe", http.StatusUnprocessableEntity, nil, "at most 200 characters of text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, got, e := carl.suggestions(tc.q)
			require.Equal(t, tc.status, status)
			if tc.problem != "" {
				assert.Contains(t, e["error"], tc.problem)
				return
			}
			var titles []string
			for _, s := range got {
				titles = append(titles, s.Title)
				assert.Regexp(t, `^KB\d{7}$`, s.Number)
				assert.True(t, strings.HasPrefix(s.URL, "/knowledge/"))
			}
			assert.Equal(t, tc.want, titles)
		})
	}
	// An agent reads drafts on their page, but suggestions are what a
	// caller may be pointed to: published only.
	_, got, _ := d.as("ann").suggestions("toner suppliers")
	require.Len(t, got, 1)
	assert.Equal(t, "/knowledge/"+d.seeded.TonerArticle, got[0].URL)
	// Without a session the endpoint sends the browser to log in.
	r := d.browser().get("/knowledge/suggest?q=toner")
	assert.Equal(t, http.StatusSeeOther, r.status)
	assert.Equal(t, "/login", r.location)

	// The articles' pages: a caller reads the published one, not the draft.
	page := carl.get("/knowledge/" + d.seeded.TonerArticle)
	require.Equal(t, http.StatusOK, page.status)
	assert.Contains(t, text(page.body), "take out the toner cartridge")
	assert.Equal(t, http.StatusForbidden, carl.get("/knowledge/"+d.seeded.DraftArticle).status)
	assert.Equal(t, http.StatusOK, d.as("ann").get("/knowledge/"+d.seeded.DraftArticle).status)
	// The search box finds articles too, as the viewer may read them.
	hits := text(carl.get("/search?q=toner").body)
	assert.Contains(t, hits, "Blank or faded pages")
	assert.NotContains(t, hits, "suppliers compared")
}

// Without a script the raise form shows the articles as a step: the title
// that has articles comes back once with them (nothing raised, the typed
// form kept); raising it then, or a title without articles, raises at once.
func TestSimilarArticlesStep(t *testing.T) {
	d := newDesk(t)
	carl := d.as("carl")
	form := url.Values{"short_description": {"Blank pages on the <big> printer"}, "description": {"since Monday"}, "impact": {"2"}, "urgency": {"3"}}
	before := d.snapshot()
	r := carl.post("/incidents", form)
	require.Equal(t, http.StatusOK, r.status, text(r.body))
	assert.Equal(t, before, d.snapshot(), "nothing raised yet")
	assert.Contains(t, text(r.body), "Before you raise it: these articles may already answer it.")
	assert.Contains(t, r.body, `href="/knowledge/`+d.seeded.TonerArticle+`"`)
	assert.Contains(t, r.body, `value="Blank pages on the &lt;big&gt; printer"`, "what was typed is kept, escaped")
	assert.Contains(t, r.body, "since Monday")
	assert.Contains(t, r.body, `name="seen_articles" id="seen_articles" value="1"`)

	form.Set("seen_articles", "1")
	r = carl.post("/incidents", form)
	require.Equal(t, http.StatusSeeOther, r.status, text(r.body))
	assert.Equal(t, "Blank pages on the <big> printer", d.incident(strings.TrimPrefix(r.location, "/incidents/")).ShortDescription)

	r = carl.post("/incidents", url.Values{"short_description": {"Scanner offline"}, "impact": {"3"}, "urgency": {"3"}})
	assert.Equal(t, http.StatusSeeOther, r.status, "no article: no step")
}
