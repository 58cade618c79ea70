package operation

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

// mergedQueue returns one page of open incidents matching every filter set
// in parts, ordered by priority, then opened time, then id. Each part is a
// query whose filters are all equalities on a composite index's leading
// fields, so every store walks its index in order and stops after a page:
// an IN over groups and states would make a SQL store sort every matching
// row instead. The parts are merged here, and the page cursor holds each
// part's own store cursor.
func (d *Desk) mergedQueue(ctx context.Context, p Page, parts [][]storage.Filter) ([]*Incident, string, error) {
	limit, err := pageLimit(p)
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
	sort := []storage.Sort{{Field: "priority"}, {Field: "created_at"}}
	schema := d.incidents.Collection().Schema()
	pf, cf := schema.FieldIndex("priority"), schema.FieldIndex("created_at")
	// Merge on the raw documents' indexed values and decode only the rows
	// of the page: decoding is most of a page's cost.
	query := func(i, n int) (storage.Page, error) {
		return d.backend.Query(ctx, storage.Query{Kind: KindIncident, Filters: parts[i], Sort: sort, Limit: n, Cursor: cursors[i]})
	}
	rows := make([][]storage.Document, len(parts))
	nexts := make([]string, len(parts))
	// The walks are independent: run them side by side, so a store with
	// several read connections answers in the time of the slowest.
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, queueWalkers)
	for i := range parts {
		if cursors[i] == partExhausted {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			page, err := query(i, limit)
			rows[i], nexts[i], errs[i] = page.Docs, page.Next, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, "", err
		}
	}
	before := func(a, b storage.Document) bool {
		if c := a.Fields[pf].Compare(b.Fields[pf]); c != 0 {
			return c < 0
		}
		if c := a.Fields[cf].Compare(b.Fields[cf]); c != 0 {
			return c < 0
		}
		return a.ID < b.ID
	}
	// k-way merge of the sorted parts.
	pos := make([]int, len(parts))
	out := make([]*Incident, 0, limit)
	for len(out) < limit {
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
	more := false
	for i := range parts {
		switch {
		case cursors[i] == partExhausted:
			continue
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
		if cursors[i] != partExhausted {
			more = true
		}
	}
	if !more {
		return out, "", nil
	}
	return out, encodeQueueCursor(cursors), nil
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
