package operation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// queueWalkers is how many index walks of one queue page run at once.
const queueWalkers = 4

// maxQueueParts bounds the index walks behind one queue page.
const maxQueueParts = 300

const (
	queueCursorPrefix = "q1."
	partExhausted     = "-"
)

// queuePart is one index walk of a queue: equality filters on a composite
// index's leading fields. Parts of a lower tier come before every row of a
// higher tier ("open first"); within a tier the rows are merged by the
// queue's sort.
type queuePart struct {
	filters []storage.Filter
	tier    int
}

// mergedQueue returns one page of incidents matching one of parts, ordered
// by tier, then by sort, then by id. Each part is a query whose filters are
// all equalities on a composite index's leading fields, so every store walks
// its index in order and stops after a page: an IN over groups and states
// would make a SQL store sort every matching row instead. The parts are
// merged here, a tier at a time (a later tier's walks run only when the
// earlier ones leave room on the page), and the page cursor holds each
// part's own store cursor.
func (d *Desk) mergedQueue(ctx context.Context, p storage.Paging, sort []storage.Sort, parts []queuePart) ([]*Incident, string, error) {
	limit, err := p.ResolveLimit()
	if err != nil {
		return nil, "", err
	}
	if len(parts) > maxQueueParts {
		return nil, "", itsm.Invalidf("incident queue: %d index walks for one page, at most %d (too many groups)", len(parts), maxQueueParts)
	}
	cursors, err := decodeQueueCursor(p.Cursor, len(parts))
	if err != nil {
		return nil, "", err
	}
	schema := d.incidents.Collection().Schema()
	fields := make([]int, len(sort))
	for i, s := range sort {
		fields[i] = schema.FieldIndex(s.Field)
	}
	// Every row is checked as Records.Get checks it (below): the queues'
	// filters already keep to the actor's own rows, so a refusal (a host
	// rule) only shortens the page, and the cursor goes on after it.
	if _, err := d.incidents.Readable(ctx, nil); err != nil {
		return nil, "", err
	}
	// Merge on the raw documents' indexed values and decode only the rows
	// of the page: decoding is most of a page's cost.
	query := func(i, n int) (storage.Page, error) {
		return d.backend.Query(ctx, storage.Query{Kind: KindIncident, Filters: parts[i].filters, Sort: sort, Limit: n, Cursor: cursors[i]})
	}
	before := func(a, b storage.Document) bool {
		for i, fi := range fields {
			c := a.Fields[fi].Compare(b.Fields[fi])
			if sort[i].Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return a.ID < b.ID // stores break ties by id ascending
	}
	tiers := make([]int, 0, 2)
	for _, part := range parts {
		tiers = append(tiers, part.tier)
	}
	slices.Sort(tiers)
	out := make([]*Incident, 0, limit)
	for _, tier := range slices.Compact(tiers) {
		if len(out) == limit {
			break
		}
		n := limit - len(out)
		rows := make([][]storage.Document, len(parts))
		nexts := make([]string, len(parts))
		// The walks are independent: run them side by side, so a store with
		// several read connections answers in the time of the slowest.
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		sem := make(chan struct{}, queueWalkers)
		for i := range parts {
			if parts[i].tier != tier || cursors[i] == partExhausted {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				page, err := query(i, n)
				rows[i], nexts[i], errs[i] = page.Docs, page.Next, err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, "", err
			}
		}
		// k-way merge of the tier's sorted parts.
		pos := make([]int, len(parts))
		for taken := 0; taken < n; taken++ {
			best := -1
			for i, r := range rows {
				if pos[i] < len(r) && (best < 0 || before(r[pos[i]], rows[best][pos[best]])) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			inc, err := d.incidents.Collection().Decode(rows[best][pos[best]])
			if err != nil {
				return nil, "", err
			}
			out = append(out, inc)
			pos[best]++
		}
		for i := range parts {
			switch {
			case parts[i].tier != tier || cursors[i] == partExhausted:
			case pos[i] == len(rows[i]):
				cursors[i] = nexts[i]
				if cursors[i] == "" {
					cursors[i] = partExhausted
				}
			case pos[i] > 0:
				// Part of this walk was used: ask the store for the cursor
				// after the last row taken.
				page, err := query(i, pos[i])
				if err != nil {
					return nil, "", err
				}
				cursors[i] = page.Next
			}
		}
	}
	out, err = d.incidents.Readable(ctx, out)
	if err != nil {
		return nil, "", err
	}
	for _, c := range cursors {
		if c != partExhausted {
			return out, encodeQueueCursor(cursors), nil
		}
	}
	return out, "", nil
}

func encodeQueueCursor(cs []string) string {
	b, _ := json.Marshal(cs)
	return queueCursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeQueueCursor(s string, n int) ([]string, error) {
	if s == "" {
		return make([]string, n), nil
	}
	bad := itsm.Invalidf("incident queue: cursor is malformed or from another queue")
	rest, ok := strings.CutPrefix(s, queueCursorPrefix)
	if !ok || len(s) > 8192+maxQueueParts*4096 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, bad
	}
	var cs []string
	if err := json.Unmarshal(b, &cs); err != nil || len(cs) != n {
		return nil, bad
	}
	return cs, nil
}
