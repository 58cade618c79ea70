package storage

// This file holds full-text search over records: the searchable text of a
// record (TextEntry), the query an index answers (TextQuery), the in-memory
// index every backend without a TextIndexer falls back to, and the
// SearchService that authorises every hit as Records.Get would and keeps
// the index current from the event log. The capability itself, TextIndexer,
// and TextIndexFor, its fallback, are in capability.go.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
)

// Bounds of a search query.
const (
	// MaxSearchQuery is the longest query text, in bytes; a longer one is
	// refused with ErrInvalid rather than cut.
	MaxSearchQuery = 1024
	// MaxSearchTerms is the most words a query may hold.
	MaxSearchTerms = 16
	// MaxTermBytes is the longest word; longer words are cut to it, both
	// when indexed and when searched, so they still match.
	MaxTermBytes = 64
)

// TextEntry is the searchable text of one record. Title and Public are what
// every reader of the record may read (the short description, the
// description, the comments); Internal is what only an actor allowed
// itsm.ActionReadInternal may read (work notes). Owner and Group are the
// values of the kind's audience fields (itsm.Audience), so that an index
// can apply an actor's read scope itself (TextQuery.Scopes).
type TextEntry struct {
	Kind     string
	ID       string
	Number   string
	Title    string
	Public   string
	Internal string
	Owner    string
	Group    string
}

// TextScope limits the entries of one kind a query matches to those whose
// Owner (Field "owner") or Group (Field "group") is one of Values: an
// actor's read scope, applied in the index so that a page fills with
// records the actor may read instead of being filtered after the search.
type TextScope struct {
	Kind   string
	Field  string // "owner" or "group"
	Values []string
}

// TextQuery is what a TextIndexer answers: the tenant's entries of Kinds
// holding every one of Terms (words as Tokenize returns them; the last
// matches as a prefix).
type TextQuery struct {
	Kinds    []string
	Terms    []string
	Internal bool // match Internal text too
	// Scopes limit the entries of their kinds; a kind without one is
	// matched whole.
	Scopes []TextScope
	Offset int
	Limit  int // 1..MaxLimit
}

// TextHit is one entry a TextIndexer found; a higher Score ranks first.
type TextHit struct {
	Kind  string
	ID    string
	Score float64
}

// Check validates the query; it is exported so TextIndexer implementations
// refuse exactly what the in-memory index refuses.
func (q TextQuery) Check() error {
	switch {
	case len(q.Kinds) == 0:
		return itsm.Invalidf("search: no kinds")
	case len(q.Terms) == 0 || len(q.Terms) > MaxSearchTerms:
		return itsm.Invalidf("search: %d terms, want 1..%d", len(q.Terms), MaxSearchTerms)
	case q.Limit < 1 || q.Limit > MaxLimit+1:
		return itsm.Invalidf("search: limit %d outside 1..%d", q.Limit, MaxLimit+1)
	case q.Offset < 0:
		return itsm.Invalidf("search: offset %d is negative", q.Offset)
	}
	for _, k := range q.Kinds {
		if !ValidName(k) {
			return itsm.Invalidf("search: kind %q is not a lower-case identifier", k)
		}
	}
	for _, sc := range q.Scopes {
		if !slices.Contains(q.Kinds, sc.Kind) || sc.Field != "owner" && sc.Field != "group" || len(sc.Values) == 0 || len(sc.Values) > MaxInValues {
			return itsm.Invalidf("search: scope %+v: a searched kind, field owner or group, 1..%d values", sc, MaxInValues)
		}
	}
	for _, t := range q.Terms {
		if t == "" || len(t) > MaxTermBytes || !slices.Equal(Tokenize(t), []string{t}) {
			return itsm.Invalidf("search: %q is not a term Tokenize returns", t)
		}
	}
	return nil
}

// Check validates the entry for IndexText.
func (e TextEntry) Check() error {
	if !ValidName(e.Kind) || !itsm.ValidID(e.ID) {
		return itsm.Invalidf("search: entry %s %s: bad kind or id", e.Kind, e.ID)
	}
	for _, s := range []string{e.Number, e.Title, e.Public, e.Internal, e.Owner, e.Group} {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return itsm.Invalidf("search: entry %s %s: text must be UTF-8 without NUL", e.Kind, e.ID)
		}
	}
	return nil
}

// Tokenize splits text into the words a TextIndexer indexes and matches:
// runs of letters and digits, lower-cased, each cut to MaxTermBytes.
// Everything else (quotes, parentheses, *, :, &, |, !, -, ^) separates
// words, so no engine operator survives it.
func Tokenize(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	for i, w := range words {
		if len(w) > MaxTermBytes {
			w = w[:MaxTermBytes]
			for !utf8.ValidString(w) {
				w = w[:len(w)-1]
			}
			words[i] = w
		}
	}
	return words
}

// MemoryTextIndex is the in-memory TextIndexer: the memory store's and the
// fallback of every backend without an index of its own. It ranks by
// tf-idf, title words counting three times. It is safe for concurrent use.
type MemoryTextIndex struct {
	mu      sync.RWMutex
	tenants map[string]*memTextTenant
}

type memTextTenant struct {
	docs     map[textKey]*memTextDoc
	postings map[string]map[textKey]float64 // term -> entry -> weight; internal terms under "\x00"+term
	terms    []string                       // sorted, for prefix lookups; nil when stale
}

type textKey struct{ kind, id string }

type memTextDoc struct {
	terms        []string // posting keys it is under
	owner, group string
}

// NewMemoryTextIndex returns an empty in-memory index.
func NewMemoryTextIndex() *MemoryTextIndex {
	return &MemoryTextIndex{tenants: map[string]*memTextTenant{}}
}

func (m *MemoryTextIndex) tenant(ctx context.Context, create bool) (*memTextTenant, error) {
	if ctx == nil {
		return nil, itsm.Invalidf("search: nil context")
	}
	t, err := TenantOf(ctx, false)
	if err != nil {
		return nil, err
	}
	tt := m.tenants[t]
	if tt == nil && create {
		tt = &memTextTenant{docs: map[textKey]*memTextDoc{}, postings: map[string]map[textKey]float64{}}
		m.tenants[t] = tt
	}
	return tt, nil
}

// IndexText implements TextIndexer.
func (m *MemoryTextIndex) IndexText(ctx context.Context, entries []TextEntry) error {
	for _, e := range entries {
		if err := e.Check(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tt, err := m.tenant(ctx, true)
	if err != nil {
		return err
	}
	for _, e := range entries {
		k := textKey{e.Kind, e.ID}
		tt.remove(k)
		w := map[string]float64{}
		for _, t := range Tokenize(e.Title) {
			w[t] += 3
		}
		body := Tokenize(e.Public)
		for _, t := range body {
			w[t]++
		}
		internal := Tokenize(e.Internal)
		for _, t := range internal {
			w["\x00"+t]++
		}
		norm := 0.5 + 1/math.Sqrt(float64(len(body)+len(internal)+1))
		d := &memTextDoc{terms: make([]string, 0, len(w)), owner: e.Owner, group: e.Group}
		for t, v := range w {
			p := tt.postings[t]
			if p == nil {
				p = map[textKey]float64{}
				tt.postings[t] = p
				tt.terms = nil
			}
			p[k] = (1 + math.Log(v)) * norm
			d.terms = append(d.terms, t)
		}
		tt.docs[k] = d
	}
	return nil
}

func (tt *memTextTenant) remove(k textKey) {
	d := tt.docs[k]
	if d == nil {
		return
	}
	for _, t := range d.terms {
		delete(tt.postings[t], k)
		if len(tt.postings[t]) == 0 {
			delete(tt.postings, t)
			tt.terms = nil
		}
	}
	delete(tt.docs, k)
}

// RemoveText implements TextIndexer.
func (m *MemoryTextIndex) RemoveText(ctx context.Context, kind string, ids []string) error {
	if !ValidName(kind) {
		return itsm.Invalidf("search: kind %q is not a lower-case identifier", kind)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tt, err := m.tenant(ctx, false)
	if err != nil || tt == nil {
		return err
	}
	for _, id := range ids {
		tt.remove(textKey{kind, id})
	}
	return nil
}

// SearchText implements TextIndexer.
func (m *MemoryTextIndex) SearchText(ctx context.Context, q TextQuery) ([]TextHit, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	m.mu.Lock() // the sorted term list may need rebuilding
	defer m.mu.Unlock()
	tt, err := m.tenant(ctx, false)
	if err != nil || tt == nil {
		return nil, err
	}
	if tt.terms == nil {
		tt.terms = make([]string, 0, len(tt.postings))
		for t := range tt.postings {
			tt.terms = append(tt.terms, t)
		}
		sort.Strings(tt.terms)
	}
	n := float64(len(tt.docs) + 1)
	var scores map[textKey]float64
	for i, w := range q.Terms {
		keys := []string{w}
		if q.Internal {
			keys = append(keys, "\x00"+w)
		}
		if i == len(q.Terms)-1 {
			keys = tt.prefixed(w, q.Internal)
		}
		cur := map[textKey]float64{}
		for _, t := range keys {
			p := tt.postings[t]
			idf := math.Log(1 + n/float64(len(p)+1))
			exact := 1.0
			if strings.TrimPrefix(t, "\x00") != w {
				exact = 0.6
			}
			for k, wt := range p {
				if q.InScope(k.kind, tt.docs[k].owner, tt.docs[k].group) {
					cur[k] = max(cur[k], wt*idf*exact)
				}
			}
		}
		if scores == nil {
			scores = cur
			continue
		}
		for k := range scores {
			if v, ok := cur[k]; ok {
				scores[k] += v
			} else {
				delete(scores, k)
			}
		}
	}
	hits := make([]TextHit, 0, len(scores))
	for k, s := range scores {
		hits = append(hits, TextHit{Kind: k.kind, ID: k.id, Score: s})
	}
	SortTextHits(hits)
	if q.Offset >= len(hits) {
		return nil, nil
	}
	hits = hits[q.Offset:]
	return hits[:min(len(hits), q.Limit)], nil
}

// InScope reports whether an entry of kind with owner and group is one
// the query may match: its kind is searched and, when the query scopes the
// kind, the entry's scoped field holds one of the scope's values.
func (q TextQuery) InScope(kind, owner, group string) bool {
	if !slices.Contains(q.Kinds, kind) {
		return false
	}
	for _, sc := range q.Scopes {
		if sc.Kind == kind {
			v := owner
			if sc.Field == "group" {
				v = group
			}
			return slices.Contains(sc.Values, v)
		}
	}
	return true
}

// SortTextHits orders hits best first, ties by kind and id: the order
// every TextIndexer returns.
func SortTextHits(hits []TextHit) {
	slices.SortFunc(hits, func(a, b TextHit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		case a.Kind != b.Kind:
			return strings.Compare(a.Kind, b.Kind)
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// prefixed returns the posting keys of the terms starting with p (at most
// 200 of each visibility).
func (tt *memTextTenant) prefixed(p string, internal bool) []string {
	var out []string
	for _, pre := range []string{p, "\x00" + p} {
		if pre != p && !internal {
			break
		}
		i := sort.SearchStrings(tt.terms, pre)
		for n := 0; i < len(tt.terms) && strings.HasPrefix(tt.terms[i], pre) && n < 200; i, n = i+1, n+1 {
			out = append(out, tt.terms[i])
		}
	}
	return out
}

// SearchSource is one record kind a SearchService searches: it turns the
// kind's stored documents into TextEntry values and decides, as
// Records.Get does, what an actor may see of a hit. Build one with
// TextSource.
type SearchSource interface {
	// Kind is the record kind.
	Kind() string
	// Entry returns the searchable text of a stored document.
	Entry(d Document) (TextEntry, error)
	// Hit reads the record for the actor in ctx as Records.Get does and
	// returns what of it the actor may read: its entry with internal text
	// blanked unless the actor may read it. A record the actor may not read
	// is an error matching itsm.ErrForbidden.
	Hit(ctx context.Context, id string) (TextEntry, error)
	// MayReadInternal reports whether the actor in ctx may read the
	// internal members of the kind's records in general (a role grant).
	MayReadInternal(ctx context.Context) bool
	// Scope returns the actor's read scope of the kind as the index
	// applies it, and false when the index cannot apply it (every record
	// readable, or a scope the entries do not carry); every hit is still
	// authorised by Hit.
	Scope(ctx context.Context) (TextScope, bool, error)
	// ByNumber returns the id of the record with the human number, as the
	// actor in ctx may read it, or ErrNotFound.
	ByNumber(ctx context.Context, number string) (string, error)
}

// TextSource makes a SearchSource of a record kind. title names the JSON
// member holding the record's title ("short_description"); body names the
// members holding its text: a string, a list of strings, or a list of
// objects whose "text" member is read (comments, work notes). Members the
// collection declares internal (WithInternal) are internal text; the others
// public.
func TextSource[T any, P interface {
	*T
	itsm.Entity
}](r *Records[T, P], title string, body ...string) SearchSource {
	return &textSource[T, P]{r: r, title: title, body: body}
}

type textSource[T any, P interface {
	*T
	itsm.Entity
}] struct {
	r     *Records[T, P]
	title string
	body  []string
}

func (s *textSource[T, P]) Kind() string { return s.r.coll.Kind() }

func (s *textSource[T, P]) Entry(d Document) (TextEntry, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(d.Data, &members); err != nil {
		return TextEntry{}, fmt.Errorf("search: %s %s: stored data is corrupt: %w: %v", d.Kind, d.ID, itsm.ErrInvalid, err)
	}
	e := TextEntry{Kind: d.Kind, ID: d.ID}
	aud := s.r.coll.access.audience
	if i := s.r.coll.schema.FieldIndex(aud.Owner); aud.Owner != "" && i >= 0 && i < len(d.Fields) {
		e.Owner = d.Fields[i].Str()
	}
	if i := s.r.coll.schema.FieldIndex(aud.Group); aud.Group != "" && i >= 0 && i < len(d.Fields) {
		e.Group = d.Fields[i].Str()
	}
	_ = json.Unmarshal(members[NumberField], &e.Number)
	_ = json.Unmarshal(members[s.title], &e.Title)
	var pub, internal strings.Builder
	for _, m := range s.body {
		dst := &pub
		if s.r.coll.isInternal(m) {
			dst = &internal
		}
		appendText(dst, members[m])
	}
	e.Public, e.Internal = pub.String(), internal.String()
	return e, nil
}

// appendText appends the text of a member: a string, or the strings and
// "text" members of a list.
func appendText(b *strings.Builder, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		b.WriteString(s)
		b.WriteByte('\n')
		return
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return
	}
	for _, item := range list {
		var note struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(item, &s) == nil {
			b.WriteString(s)
		} else if json.Unmarshal(item, &note) == nil {
			b.WriteString(note.Text)
		}
		b.WriteByte('\n')
	}
}

func (s *textSource[T, P]) Hit(ctx context.Context, id string) (TextEntry, error) {
	rec, err := s.r.Get(ctx, id) // authorised and redacted as Get is
	if err != nil {
		return TextEntry{}, err
	}
	d, err := s.r.coll.Encode(rec)
	if err != nil {
		return TextEntry{}, err
	}
	e, err := s.Entry(d)
	if err != nil {
		return TextEntry{}, err
	}
	if !s.r.seesInternal(ctx, rec) {
		e.Internal = ""
	}
	return e, nil
}

func (s *textSource[T, P]) Scope(ctx context.Context) (TextScope, bool, error) {
	sc, err := s.r.scope(ctx)
	if err != nil || sc.All {
		return TextScope{}, false, err
	}
	aud := s.r.coll.access.audience
	switch {
	case len(sc.Values) > MaxInValues:
		return TextScope{}, false, nil
	case sc.Field == aud.Owner && aud.CoOwner == "":
		// A co-owner reads records the owner field does not name: left to Hit.
		return TextScope{Kind: s.Kind(), Field: "owner", Values: sc.Values}, true, nil
	case sc.Field == aud.Group:
		return TextScope{Kind: s.Kind(), Field: "group", Values: sc.Values}, true, nil
	}
	return TextScope{}, false, nil
}

func (s *textSource[T, P]) MayReadInternal(ctx context.Context) bool {
	return len(s.r.coll.access.internal) == 0 ||
		itsm.Authorize(ctx, s.r.cfg.Authorizer, s.r.coll.Kind(), itsm.ActionReadInternal, nil) == nil
}

func (s *textSource[T, P]) ByNumber(ctx context.Context, number string) (string, error) {
	if s.r.coll.schema.FieldIndex(NumberField) < 0 {
		return "", &itsm.NotFoundError{Kind: s.Kind(), ID: number}
	}
	recs, _, err := s.r.Query(ctx, Query{Filters: []Filter{Eq(NumberField, String(number))}, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(recs) == 0 {
		return "", &itsm.NotFoundError{Kind: s.Kind(), ID: number}
	}
	return recs[0].Meta().ID, nil
}

// SearchHit is one record a search found, as the actor may read it.
type SearchHit struct {
	Kind   string  `json:"kind"`
	ID     string  `json:"id"`
	Number string  `json:"number,omitempty"`
	Title  string  `json:"title"`
	Score  float64 `json:"score"`
	// Exact is set when the query was the record's human number.
	Exact bool `json:"exact,omitempty"`
}

// SearchService searches the text of records of several kinds for an
// actor: ranked, paged, scoped to the tenant of the context, every hit
// authorised as Records.Get authorises a read. It is safe for concurrent
// use.
//
// The index is kept current from the event log, not inside the unit of
// work of each write: Handle is a stream handler (it has the shape of
// stream.Handler) that a stream.Consumer calls with the events every store
// commits, so one code path serves every store, the adapters' write paths
// stay as they are, and a crash loses nothing (the consumer resumes at its
// checkpoint; indexing the same event twice is harmless). The price is a
// lag of one consumer poll between a write and its hit. Reindex builds the
// index of a tenant from its documents (a new index, the fallback's after a
// restart).
type SearchService struct {
	backend Backend
	index   TextIndexer
	sources map[string]SearchSource
	kinds   []string
}

// NewSearchService returns a search over the sources' kinds on b, with b's
// own text index when it has one (TextIndexFor).
func NewSearchService(b Backend, sources ...SearchSource) (*SearchService, error) {
	if b == nil || len(sources) == 0 {
		return nil, itsm.Invalidf("search: a backend and at least one source are required")
	}
	s := &SearchService{backend: b, index: TextIndexFor(b), sources: map[string]SearchSource{}}
	for _, src := range sources {
		if src == nil || s.sources[src.Kind()] != nil {
			return nil, itsm.Invalidf("search: nil or repeated source")
		}
		s.sources[src.Kind()] = src
		s.kinds = append(s.kinds, src.Kind())
	}
	slices.Sort(s.kinds)
	return s, nil
}

// Source returns the source of kind, nil when the service has none.
func (s *SearchService) Source(kind string) SearchSource { return s.sources[kind] }

// Index returns the text index the service uses.
func (s *SearchService) Index() TextIndexer { return s.index }

// Handle indexes the records the events are about, each in its event's
// tenant, from the documents as they are now (so events handled out of
// order or twice leave the index right); a deleted record is removed.
// Events of other kinds are skipped.
func (s *SearchService) Handle(ctx context.Context, events []itsm.Event) error {
	if ctx == nil {
		return itsm.Invalidf("search: nil context")
	}
	type key struct{ tenant, kind, id string }
	seen := map[key]bool{}
	for _, e := range events {
		src := s.sources[e.Kind]
		if src == nil {
			continue
		}
		tenant := e.Tenant
		if tenant == "" {
			tenant = itsm.DefaultTenant
		}
		k := key{tenant, e.Kind, e.RecordID}
		if seen[k] {
			continue
		}
		seen[k] = true
		tctx := itsm.WithTenant(ctx, tenant)
		d, err := s.backend.Get(tctx, e.Kind, e.RecordID)
		if errors.Is(err, itsm.ErrNotFound) {
			if err := s.index.RemoveText(tctx, e.Kind, []string{e.RecordID}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		entry, err := src.Entry(d)
		if err != nil {
			return err
		}
		if err := s.index.IndexText(tctx, []TextEntry{entry}); err != nil {
			return err
		}
	}
	return nil
}

// Reindex indexes every record of the sources' kinds of the tenant of ctx
// and returns how many.
func (s *SearchService) Reindex(ctx context.Context) (int, error) {
	if ctx == nil {
		return 0, itsm.Invalidf("search: nil context")
	}
	n := 0
	for _, kind := range s.kinds {
		q := Query{Kind: kind, Limit: MaxLimit}
		for {
			page, err := s.backend.Query(ctx, q)
			if err != nil {
				return n, err
			}
			entries := make([]TextEntry, 0, len(page.Docs))
			for _, d := range page.Docs {
				e, err := s.sources[kind].Entry(d)
				if err != nil {
					return n, err
				}
				entries = append(entries, e)
			}
			if err := s.index.IndexText(ctx, entries); err != nil {
				return n, err
			}
			n += len(entries)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	return n, nil
}

// numberPattern is what a human number looks like: letters, an optional
// tenant part, digits (INC0001042, ACME-INC0000001).
var numberPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z][A-Z0-9]*)?[0-9]{4,}$`)

// Search returns one page of the records of kinds (every source's when
// empty) whose text holds every word of query, best first, as the actor in
// ctx may read them. Internal text (work notes) is searched only when the
// actor may read the internal members of every kind searched; a record
// whose internal members are hidden from the actor is found only by its
// title and public text. A query that is a human number (INC0001042)
// returns that record alone, with Exact set, when the actor may read it.
//
// The query is text, never engine syntax: it is split into words by
// Tokenize, and every operator character separates words. A query over
// MaxSearchQuery bytes, not UTF-8, holding NUL, without words or with more
// than MaxSearchTerms words is an *itsm.ValidationError naming "query".
func (s *SearchService) Search(ctx context.Context, query string, kinds []string, p Paging) ([]SearchHit, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("search: nil context")
	}
	limit, err := p.ResolveLimit()
	if err != nil {
		return nil, "", err
	}
	bad := func(problem string) error { return (&itsm.ValidationError{Kind: "search"}).Add("query", problem) }
	switch {
	case len(query) > MaxSearchQuery:
		return nil, "", bad(fmt.Sprintf("is %d bytes, at most %d", len(query), MaxSearchQuery))
	case !utf8.ValidString(query) || strings.IndexByte(query, 0) >= 0:
		return nil, "", bad("must be UTF-8 text without NUL")
	}
	terms := Tokenize(query)
	switch {
	case len(terms) == 0:
		return nil, "", bad("has no words")
	case len(terms) > MaxSearchTerms:
		return nil, "", bad(fmt.Sprintf("has %d words, at most %d", len(terms), MaxSearchTerms))
	}
	if len(kinds) == 0 {
		kinds = s.kinds
	}
	kinds = slices.Clone(kinds)
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	internal := true
	var scopes []TextScope
	var readable []string // the kinds the actor reads any record of
	for _, k := range kinds {
		src := s.sources[k]
		if src == nil {
			return nil, "", itsm.Invalidf("search: kind %q is not searched", k)
		}
		internal = internal && src.MayReadInternal(ctx)
		sc, ok, err := src.Scope(ctx)
		switch {
		case errors.Is(err, itsm.ErrForbidden):
			continue // the actor reads none of the kind
		case err != nil:
			return nil, "", err
		case ok:
			scopes = append(scopes, sc)
		}
		readable = append(readable, k)
	}
	tenant, err := TenantOf(ctx, false)
	if err != nil {
		return nil, "", err
	}
	fp := searchFingerprint(tenant, strings.Join(terms, " "), kinds)
	offset := 0
	if p.Cursor != "" {
		if offset, err = parseSearchCursor(p.Cursor, fp); err != nil {
			return nil, "", err
		}
	}
	if offset == 0 {
		if n := strings.ToUpper(strings.TrimSpace(query)); numberPattern.MatchString(n) {
			for _, k := range kinds {
				id, err := s.sources[k].ByNumber(ctx, n)
				switch {
				case err == nil:
					e, err := s.sources[k].Hit(ctx, id)
					if err != nil {
						return nil, "", err
					}
					return []SearchHit{{Kind: k, ID: id, Number: e.Number, Title: e.Title, Exact: true}}, "", nil
				case errors.Is(err, itsm.ErrNotFound), errors.Is(err, itsm.ErrForbidden):
				default:
					return nil, "", err
				}
			}
		}
	}
	if len(readable) == 0 {
		return nil, "", nil
	}
	var out []SearchHit
	for {
		batch := max(limit+1, 50)
		raw, err := s.index.SearchText(ctx, TextQuery{Kinds: readable, Terms: terms, Internal: internal, Scopes: scopes, Offset: offset, Limit: min(batch, MaxLimit+1)})
		if err != nil {
			return nil, "", err
		}
		for _, h := range raw {
			offset++
			e, err := s.sources[h.Kind].Hit(ctx, h.ID)
			switch {
			case errors.Is(err, itsm.ErrForbidden), errors.Is(err, itsm.ErrNotFound):
				continue // not the actor's, or deleted since it was indexed
			case err != nil:
				return nil, "", err
			case internal && e.Internal == "" && !matchesAll(terms, e.Title+"\n"+e.Public):
				continue // found by internal text this actor may not read here
			}
			out = append(out, SearchHit{Kind: h.Kind, ID: h.ID, Number: e.Number, Title: e.Title, Score: math.Round(h.Score*1000) / 1000})
			if len(out) == limit {
				return out, searchCursor(offset, fp), nil
			}
		}
		if len(raw) < min(batch, MaxLimit+1) {
			return out, "", nil
		}
	}
}

// matchesAll reports whether text holds every term, the last as a prefix.
func matchesAll(terms []string, text string) bool {
	words := Tokenize(text)
	for i, t := range terms {
		ok := slices.ContainsFunc(words, func(w string) bool {
			return w == t || i == len(terms)-1 && strings.HasPrefix(w, t)
		})
		if !ok {
			return false
		}
	}
	return true
}

func searchFingerprint(tenant, terms string, kinds []string) uint32 {
	h := sha256.Sum256([]byte(tenant + "\x00" + terms + "\x00" + strings.Join(kinds, ",")))
	return binary.BigEndian.Uint32(h[:4])
}

func searchCursor(offset int, fp uint32) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("s1:%d:%d", offset, fp)))
}

// parseSearchCursor reads a cursor searchCursor made for the same tenant,
// terms and kinds.
func parseSearchCursor(c string, fp uint32) (int, error) {
	bad := itsm.Invalidf("search: the cursor is not one this search issued")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "s1" {
		return 0, bad
	}
	off, err1 := strconv.Atoi(parts[1])
	got, err2 := strconv.ParseUint(parts[2], 10, 32)
	if err1 != nil || err2 != nil || off < 1 || uint32(got) != fp {
		return 0, bad
	}
	return off, nil
}
