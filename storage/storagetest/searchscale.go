package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// scaleTicket is the record SearchScale loads: an incident's searchable
// shape, with an audience and internal work notes.
type scaleTicket struct {
	itsm.Record
	ShortDescription string   `json:"short_description"`
	Description      string   `json:"description"`
	CallerID         string   `json:"caller_id"`
	Group            string   `json:"assignment_group"`
	WorkNotes        []string `json:"work_notes,omitempty"`
}

// SearchScale loads n tickets into b (bulk import, then the text index in
// batches) and logs the latencies of storage.SearchService.Search for an
// admin (every hit readable) and for an agent of one group of four (three
// hits in four refused by the read rules), over a mix of queries: two
// words of one ticket's title, one word, and a word in a tenth of all
// tickets. It checks that every hit is one Records.Get gives the actor and
// that a number finds its ticket; it asserts no timing. Callers run it with
// a million tickets behind PILLARS_SCALE=1, and with a few thousand as an
// end-to-end test.
//
// A store that already holds the n tickets of an earlier run (its last
// number is found) is searched as it is, not filled again: a million-ticket
// fill takes long enough that the callers keep it in a file or schema they
// name. The queries: a rare word (about ten tickets), two words of one
// ticket's title, one word of the vocabulary, a word in a tenth of all
// tickets, a number, and a word no ticket holds; p50, p95 and p99 of each
// are logged with the load average.
func SearchScale(t *testing.T, b storage.Backend, n int) {
	ctx := context.Background()
	coll := storage.NewCollection[scaleTicket]("incident",
		storage.StringField("caller_id", func(x *scaleTicket) string { return x.CallerID }),
		storage.StringField("assignment_group", func(x *scaleTicket) string { return x.Group }),
	).WithAudience(itsm.Audience{Owner: "caller_id", Group: "assignment_group"}).WithInternal("work_notes")
	require.NoError(t, coll.Register(ctx, b))
	m, err := itsm.NewLifecycle[*scaleTicket]("incident").Initial("new").Final("closed").Event("close", "closed", "new").Compile()
	require.NoError(t, err)
	recs, err := storage.NewRecords(b, coll, m, storage.RecordsConfig{Prefix: "INC"})
	require.NoError(t, err)
	svc, err := storage.NewSearchService(b, storage.TextSource(recs, "short_description", "description", "work_notes"))
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "de", "pa", "zu", "fe", "go", "hi", "ba"}
	vocab := make([]string, 3000)
	for i := range vocab {
		vocab[i] = syll[i%15] + syll[(i/15)%15] + syll[(i/225)%15] + fmt.Sprint(i/3375)
	}
	common := "error"
	words := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(w, " ")
	}
	const rare, none = "zyzzyva", "qxqxqx"
	start := time.Now()
	const batch = 5000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last, err := b.Query(ctx, storage.Query{Kind: "incident", Filters: []storage.Filter{storage.Eq(storage.NumberField, storage.String(itsm.FormatNumber("INC", int64(n))))}, Limit: 1})
	require.NoError(t, err)
	filled := 0
	if len(last.Docs) == 1 {
		filled = n
		t.Logf("the store holds the %d tickets of an earlier run", n)
	}
	for done := filled; done < n; done += batch {
		docs := make([]storage.Document, 0, batch)
		entries := make([]storage.TextEntry, 0, batch)
		for i := done; i < min(n, done+batch); i++ {
			x := &scaleTicket{ShortDescription: words(5), Description: words(12),
				CallerID: fmt.Sprint("caller", i%5000), Group: fmt.Sprint("group", i%4)}
			if i%10 == 0 {
				x.Description += " " + common
			}
			if i%(n/10+1) == 7 {
				x.Description += " " + rare
			}
			if i%3 == 0 {
				x.WorkNotes = []string{words(6)}
			}
			x.ID, x.Version, x.State, x.Number = itsm.NewID(), 1, "new", itsm.FormatNumber("INC", int64(i+1))
			x.CreatedAt, x.UpdatedAt = t0.Add(time.Duration(i)*time.Second), t0.Add(time.Duration(i)*time.Second)
			d, err := coll.Encode(x)
			require.NoError(t, err)
			docs = append(docs, d)
			e, err := svc.Source("incident").Entry(d)
			require.NoError(t, err)
			entries = append(entries, e)
		}
		require.NoError(t, storage.Import(ctx, b, docs, nil))
		require.NoError(t, svc.Index().IndexText(ctx, entries))
	}
	t.Logf("loaded and indexed %d tickets in %v", n-filled, time.Since(start).Round(time.Second))
	titles := make([]string, 0, 200)
	for range cap(titles) { // the titles of tickets picked at random
		page, err := b.Query(ctx, storage.Query{Kind: "incident", Filters: []storage.Filter{storage.Eq(storage.NumberField, storage.String(itsm.FormatNumber("INC", int64(rng.IntN(n)+1))))}, Limit: 1})
		require.NoError(t, err)
		require.Len(t, page.Docs, 1)
		var x scaleTicket
		require.NoError(t, json.Unmarshal(page.Docs[0].Data, &x))
		titles = append(titles, x.ShortDescription)
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average before searching: %s", strings.TrimSpace(string(load)))
	}

	actors := []struct {
		name  string
		actor itsm.Actor
	}{
		{"admin", itsm.Actor{ID: "root", Roles: []string{"admin"}}},
		{"agent (1 group of 4)", itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"group1"}}},
	}
	kinds := []struct {
		name  string
		query func() string
	}{
		{"rare word", func() string { return rare }},
		{"two title words", func() string { f := strings.Fields(titles[rng.IntN(len(titles))]); return f[0] + " " + f[3] }},
		{"one word", func() string { return vocab[rng.IntN(len(vocab))] }},
		{"word in 10% of tickets", func() string { return common }},
		{"number", func() string { return itsm.FormatNumber("INC", int64(rng.IntN(n)+1)) }},
		{"no match", func() string { return none }},
	}
	for _, a := range actors {
		actx := itsm.WithActor(ctx, a.actor)
		for _, k := range kinds {
			var lat []time.Duration
			hits := 0
			for range 5 { // warm up: statements prepared, pages cached
				_, _, err := svc.Search(actx, k.query(), nil, storage.Paging{Limit: 20})
				require.NoError(t, err)
			}
			cpu := cpuTime()
			for range 100 {
				q := k.query()
				s := time.Now()
				res, _, err := svc.Search(actx, q, nil, storage.Paging{Limit: 20})
				lat = append(lat, time.Since(s))
				require.NoError(t, err, q)
				hits += len(res)
				if a.name == "admin" && (k.name == "two title words" || k.name == "number" || k.name == "rare word") {
					require.NotEmpty(t, res, "%s finds the ticket it was taken from", q)
				}
				if k.name == "no match" {
					require.Empty(t, res, q)
				}
				if k.name == "number" && len(res) > 0 {
					require.True(t, res[0].Exact && res[0].Number == q, "%q goes straight to its ticket", q)
				}
				for _, h := range res {
					_, err := recs.Get(actx, h.ID)
					require.NoError(t, err, "a hit %s that Get would not give", h.Number)
				}
			}
			// The process's CPU per search includes the checks of every hit
			// with Get; a server's CPU (PostgreSQL) is not in it.
			perQuery := (cpuTime() - cpu) / time.Duration(len(lat))
			slices.Sort(lat)
			t.Logf("%-22s %-24s p50 %8v  p95 %8v  p99 %8v  max %8v  cpu/query %8v  (%.1f hits/page)", a.name, k.name,
				lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*95/100].Round(time.Microsecond),
				lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond),
				perQuery.Round(time.Microsecond), float64(hits)/float64(len(lat)))
		}
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average after searching: %s", strings.TrimSpace(string(load)))
	}
}

// SearchScopeWindow checks the window of a scoped search (an actor who
// reads one group's records) on 6,000 entries of two groups, with words
// placed so that each way a store may find the window is taken: the
// scope's matches only among the oldest entries, a few among the newest,
// and more than the window among the newest. The hits are exactly the
// newest 1,000 (or all, when fewer) matches of the scope, never an entry
// of the other group.
func SearchScopeWindow(t *testing.T, x storage.TextIndexer) {
	ctx := itsm.WithTenant(context.Background(), "acme")
	const n = 6000
	ids := make([]string, n)
	entries := make([]storage.TextEntry, n)
	for i := range n {
		ids[i] = itsm.NewID()
		var w []string
		if i%2 == 1 && i < 500 {
			w = append(w, "oldonly")
		}
		if i%10 == 0 {
			w = append(w, "sparse")
		}
		if i%2 == 0 {
			w = append(w, "dense")
		}
		entries[i] = storage.TextEntry{Kind: "incident", ID: ids[i], Number: fmt.Sprint("INC", i),
			Title: "entry " + strings.Join(w, " "), Group: fmt.Sprint("g", i%2), Owner: fmt.Sprint("o", i%3)}
	}
	require.True(t, slices.IsSorted(ids), "ids are issued in time order")
	for i := 0; i < n; i += 1000 {
		require.NoError(t, x.IndexText(ctx, entries[i:i+1000]))
	}
	expect := func(word, group string) []string {
		want := []string{}
		for i := n - 1; i >= 0 && len(want) < 1000; i-- {
			if entries[i].Group == group && strings.Contains(entries[i].Title, word) {
				want = append(want, ids[i])
			}
		}
		slices.Sort(want)
		return want
	}
	tests := []struct {
		name, word, group string
		count             int
	}{
		{"matches among the oldest only", "oldonly", "g1", 250},
		{"none in the scope", "oldonly", "g0", 0},
		{"a few among the newest", "sparse", "g0", 600},
		{"more than the window", "dense", "g0", 1000},
		{"prefix", "dens", "g0", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := x.SearchText(ctx, storage.TextQuery{Kinds: []string{"incident"}, Terms: []string{tt.word}, Limit: storage.MaxLimit,
				Scopes: []storage.TextScope{{Kind: "incident", Field: "group", Values: []string{tt.group}}}})
			require.NoError(t, err)
			got := make([]string, len(hits))
			for i, h := range hits {
				got[i] = h.ID
			}
			slices.Sort(got)
			want := expect(tt.word, tt.group)
			require.Len(t, want, tt.count)
			require.Equal(t, want, got)
		})
	}
}
