package transition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// KindKnowledge is the record kind of knowledge articles, numbered
// KB0000001.
const KindKnowledge = "knowledge"

// Article states and events.
const (
	ArticleDraft     = "draft"
	ArticleReview    = "review"
	ArticlePublished = "published"
	ArticleRetired   = "retired"

	ArticleEventSubmit  = "submit"  // draft → review
	ArticleEventPublish = "publish" // review → published (a new version)
	ArticleEventRevise  = "revise"  // review or published → draft, to edit
	ArticleEventRetire  = "retire"  // any → retired
)

// Article is a knowledge article: a how-to, a workaround, a FAQ.
type Article struct {
	itsm.Record
	Title    string `json:"short_description"`
	Body     string `json:"text"`
	Category string `json:"category,omitempty"`
	OwnedBy  string `json:"owned_by"`
	// ArticleVersion counts publications: 1 after the first publish.
	ArticleVersion int64     `json:"article_version"`
	PublishedAt    time.Time `json:"published_at,omitzero"`
	ReviewBy       time.Time `json:"review_by,omitzero"` // when the owner must review it again
	IncidentIDs    []string  `json:"incident_ids,omitempty"`
	ProblemIDs     []string  `json:"problem_ids,omitempty"`
	KnownErrorIDs  []string  `json:"known_error_ids,omitempty"`
	CIIDs          []string  `json:"ci_ids,omitempty"`

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// Validate checks the article's fields.
func (a *Article) Validate() error {
	ve := &itsm.ValidationError{Kind: KindKnowledge, ID: a.ID}
	checkFields(ve, a)
	if strings.TrimSpace(a.Title) == "" {
		ve.Add("short_description", "a title is required")
	}
	if a.OwnedBy == "" {
		ve.Add("owned_by", "an owner is required")
	}
	return ve.Err()
}

// KnowledgeLifecycle returns the article lifecycle: draft → review →
// published, back to draft to revise, retired from anywhere. Publishing
// needs a body and bumps the article version.
func KnowledgeLifecycle() *itsm.Lifecycle[*Article] {
	return itsm.NewLifecycle[*Article](KindKnowledge).
		Initial(ArticleDraft).States(ArticleReview, ArticlePublished).Final(ArticleRetired).
		Event(ArticleEventSubmit, ArticleReview, ArticleDraft).
		Event(ArticleEventPublish, ArticlePublished, ArticleReview).
		Event(ArticleEventRevise, ArticleDraft, ArticleReview, ArticlePublished).
		Event(ArticleEventRetire, ArticleRetired, ArticleDraft, ArticleReview, ArticlePublished).
		Guard(ArticleEventSubmit, "has_body", func(_ context.Context, a *Article, _ itsm.Transition) error {
			if strings.TrimSpace(a.Body) == "" {
				return errors.New("an article needs a body before review")
			}
			return nil
		}).
		Guard(ArticleEventPublish, "not_author", func(_ context.Context, a *Article, tr itsm.Transition) error {
			if tr.Actor.ID != "" && tr.Actor.ID == a.OwnedBy {
				return errors.New("the owner may not publish their own article; another reviewer does")
			}
			return nil
		}).
		Effect(ArticleEventPublish, "new_version", func(_ context.Context, a *Article, tr itsm.Transition) error {
			a.ArticleVersion++
			a.PublishedAt = tr.At
			if a.ReviewBy.IsZero() || !a.ReviewBy.After(tr.At) {
				a.ReviewBy = tr.At.AddDate(1, 0, 0)
			}
			return nil
		})
}

// KnowledgeCollection declares how articles are stored.
func KnowledgeCollection() *storage.Collection[Article, *Article] {
	return storage.NewCollection[Article](KindKnowledge,
		storage.StringField("category", func(a *Article) string { return a.Category }),
		storage.StringField("owned_by", func(a *Article) string { return a.OwnedBy }),
		storage.TimeField("review_by", func(a *Article) time.Time { return a.ReviewBy }),
	).WithIndex("kb_review_queue", "state", "review_by")
}

// Knowledge is the knowledge base.
type Knowledge struct {
	articles *storage.Records[Article, *Article]
}

// KnowledgeConfig configures a Knowledge base. The zero value works.
type KnowledgeConfig struct {
	Lifecycle  *itsm.Lifecycle[*Article] // KnowledgeLifecycle() when nil
	Clock      itsm.Clock                // tells the time of events; the system clock when nil
	Authorizer itsm.Authorizer           // checks every command; itsm.DefaultAuthorizer() when nil
	// Dictionary declares the host's custom fields on knowledge articles, per tenant;
	// nil declares none. See storage.Dictionary.
	Dictionary *storage.Dictionary
	// Telemetry, when set, observes every command of the pillar's records
	// (storage.RecordsConfig.Observer): a *telemetry.Telemetry (package
	// storage/telemetry) gives spans, metrics and logs. Nil: none.
	Telemetry storage.Observer
}

// NewKnowledge registers the article kind and returns the knowledge base.
func NewKnowledge(ctx context.Context, b storage.Backend, cfg KnowledgeConfig) (*Knowledge, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("knowledge: nil context or backend")
	}
	lc := cfg.Lifecycle
	if lc == nil {
		lc = KnowledgeLifecycle()
	}
	m, err := lc.Compile()
	if err != nil {
		return nil, err
	}
	c := KnowledgeCollection().WithDictionary(cfg.Dictionary)
	if b == nil {
		return nil, itsm.Invalidf("knowledge: backend is required")
	}
	if err := c.Register(ctx, b); err != nil {
		return nil, err
	}
	r, err := storage.NewRecords(b, c, m, storage.RecordsConfig{Prefix: "KB", Clock: cfg.Clock, Authorizer: cfg.Authorizer, Observer: cfg.Telemetry})
	if err != nil {
		return nil, err
	}
	return &Knowledge{articles: r}, nil
}

// Records returns the command runner of articles (Create, Fire, Change,
// History).
func (k *Knowledge) Records() *storage.Records[Article, *Article] { return k.articles }

// DueForReview lists published articles whose review date is at or before
// now, oldest first.
func (k *Knowledge) DueForReview(ctx context.Context, now time.Time, limit int) ([]*Article, error) {
	if now.IsZero() {
		return nil, (&itsm.ValidationError{Kind: KindKnowledge}).Add("now", "is required")
	}
	out, _, err := k.articles.Query(ctx, storage.Query{Filters: []storage.Filter{
		storage.Eq("state", storage.String(ArticlePublished)), storage.Lte("review_by", storage.Time(now))},
		Sort: []storage.Sort{{Field: "state"}, {Field: "review_by"}}, Limit: limit})
	return out, err
}

// SearchIndex is an in-memory full-text index of the published articles,
// projected from the event log like Graph, so search works the same on
// every store. Refresh keeps it current. It is safe for concurrent use.
type SearchIndex struct {
	mu       sync.RWMutex
	backend  storage.Backend
	seq      int64
	docs     map[string]*indexedArticle
	postings map[string]map[string]float64 // term -> article id -> weight
	terms    []string                      // sorted, for prefix lookups
	dirty    bool
}

type indexedArticle struct {
	fields    map[string]string // title, text, number, state
	published bool
	weights   map[string]float64
}

// Hit is one search result.
type Hit struct {
	ID     string  `json:"id"`
	Number string  `json:"number"`
	Title  string  `json:"title"`
	Score  float64 `json:"score"`
}

// SearchIndexConfig configures a SearchIndex. It has no options yet; it
// is there so that adding one does not change NewSearchIndex's signature,
// which has the shape of every other constructor.
type SearchIndexConfig struct{}

// NewSearchIndex builds the index from the store's event log.
func NewSearchIndex(ctx context.Context, b storage.Backend, _ SearchIndexConfig) (*SearchIndex, error) {
	if b == nil || ctx == nil {
		return nil, itsm.Invalidf("knowledge search: nil backend or context")
	}
	s := &SearchIndex{backend: b, docs: map[string]*indexedArticle{}, postings: map[string]map[string]float64{}}
	if _, err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Refresh applies the article events written since the last refresh and
// returns how many events it read.
func (s *SearchIndex) Refresh(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("knowledge search: nil context")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	err := readEvents(ctx, s.backend, "knowledge_search", s.seq, func(e itsm.Event) error {
		n++
		s.seq = e.Seq
		if e.Kind != KindKnowledge {
			return nil
		}
		a := s.docs[e.RecordID]
		if a == nil {
			a = &indexedArticle{fields: map[string]string{}}
			s.docs[e.RecordID] = a
		}
		for _, c := range e.Changes {
			switch c.Field {
			case "short_description", "text", "number":
				var v string
				if c.To != "" {
					if err := json.Unmarshal([]byte(c.To), &v); err != nil {
						return itsm.Invalidf("knowledge event %s: field %s: %v", e.ID, c.Field, err)
					}
				}
				a.fields[c.Field] = v
			}
		}
		a.fields["state"] = e.To
		s.reindex(e.RecordID, a)
		return nil
	})
	if s.dirty {
		s.terms = s.terms[:0]
		for t := range s.postings {
			s.terms = append(s.terms, t)
		}
		sort.Strings(s.terms)
		s.dirty = false
	}
	return n, err
}

// reindex replaces an article's postings: only the published version is
// searchable; title terms weigh three times body terms.
func (s *SearchIndex) reindex(id string, a *indexedArticle) {
	for t := range a.weights {
		delete(s.postings[t], id)
		if len(s.postings[t]) == 0 {
			delete(s.postings, t)
			s.dirty = true
		}
	}
	a.weights = nil
	a.published = a.fields["state"] == ArticlePublished
	if !a.published {
		return
	}
	w := map[string]float64{}
	for _, t := range Tokenize(a.fields["short_description"]) {
		w[t] += 3
	}
	body := Tokenize(a.fields["text"])
	for _, t := range body {
		w[t]++
	}
	norm := 1 / math.Sqrt(float64(len(body)+1))
	for t, v := range w {
		v = (1 + math.Log(v)) * (0.5 + norm)
		w[t] = v
		p := s.postings[t]
		if p == nil {
			p = map[string]float64{}
			s.postings[t] = p
			s.dirty = true
		}
		p[id] = v
	}
	a.weights = w
}

// Tokenize splits text into lower-case words of letters and digits.
func Tokenize(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// Search returns the published articles matching every word of the query,
// the last word matching as a prefix (as a person types), ranked by
// tf-idf with title words weighing more, best first, at most limit (1..100).
func (s *SearchIndex) Search(query string, limit int) ([]Hit, error) {
	if limit < 1 || limit > 100 {
		return nil, itsm.Invalidf("knowledge search: limit %d outside 1..100", limit)
	}
	if len(query) > MaxSearchQuery || !utf8.ValidString(query) || strings.IndexByte(query, 0) >= 0 {
		return nil, itsm.Invalidf("knowledge search: the query is over %d bytes, not UTF-8 or holds NUL", MaxSearchQuery)
	}
	words := Tokenize(query)
	if len(words) == 0 {
		return nil, itsm.Invalidf("knowledge search: the query %q has no words", query)
	}
	if len(words) > 16 {
		words = words[:16]
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := float64(len(s.docs) + 1)
	var scores map[string]float64
	for i, w := range words {
		terms := []string{w}
		if i == len(words)-1 {
			terms = s.prefixed(w)
		}
		cur := map[string]float64{}
		for _, t := range terms {
			p := s.postings[t]
			idf := math.Log(1 + n/float64(len(p)+1))
			exact := 1.0
			if t != w {
				exact = 0.6 // a prefix match counts less than the whole word
			}
			for id, wt := range p {
				cur[id] = max(cur[id], wt*idf*exact)
			}
		}
		if scores == nil {
			scores = cur
			continue
		}
		for id := range scores {
			if v, ok := cur[id]; ok {
				scores[id] += v
			} else {
				delete(scores, id)
			}
		}
	}
	hits := make([]Hit, 0, len(scores))
	for id, sc := range scores {
		a := s.docs[id]
		hits = append(hits, Hit{ID: id, Number: a.fields["number"], Title: a.fields["short_description"], Score: math.Round(sc*1000) / 1000})
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return cmpString(a.Number, b.Number)
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

// prefixed returns the indexed terms starting with p (at most 200).
func (s *SearchIndex) prefixed(p string) []string {
	i := sort.SearchStrings(s.terms, p)
	var out []string
	for ; i < len(s.terms) && strings.HasPrefix(s.terms[i], p) && len(out) < 200; i++ {
		out = append(out, s.terms[i])
	}
	return out
}

// Published returns the article as it was when its version n was
// published, rebuilt from its verified event chain: earlier versions stay
// readable after the article is revised. An unknown version is ErrNotFound.
func (k *Knowledge) Published(ctx context.Context, id string, n int64) (*Article, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("knowledge: nil context")
	}
	evs, err := k.articles.History(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := itsm.Verify(evs, ""); err != nil {
		return nil, err
	}
	count := int64(0)
	for i, e := range evs {
		if e.Name != ArticleEventPublish {
			continue
		}
		if count++; count == n {
			out := &Article{}
			if err := replay(evs[:i+1], out); err != nil {
				return nil, err
			}
			return out, nil
		}
	}
	return nil, &itsm.NotFoundError{Kind: KindKnowledge, ID: fmt.Sprintf("%s version %d", id, n)}
}
