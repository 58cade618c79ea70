package storage

import (
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
)

// Paging asks a pillar's list for one page: at most Limit items after
// Cursor. Every paged list of every pillar takes it, and returns the items
// with the cursor of the next page ("" on the last).
//
// The zero value asks for the first page of DefaultLimit items. (Page is
// the other direction: the page a backend's Query returns.)
type Paging struct {
	// Limit is the most items the page holds: 0 means DefaultLimit; a
	// negative one, or one above MaxLimit, is refused.
	Limit int
	// Cursor is the next-page cursor a previous page returned, opaque to
	// the caller; "" asks for the first page.
	Cursor string
}

// ResolveLimit returns the page size p asks for: DefaultLimit when Limit
// is 0, Limit when it is in 1..MaxLimit, and an *itsm.ValidationError
// naming the field "limit" (matching itsm.ErrInvalid) otherwise.
func (p Paging) ResolveLimit() (int, error) {
	switch {
	case p.Limit < 0 || p.Limit > MaxLimit:
		return 0, (&itsm.ValidationError{Kind: "paging"}).
			Add("limit", fmt.Sprintf("%d is outside 0..%d", p.Limit, MaxLimit))
	case p.Limit == 0:
		return DefaultLimit, nil
	}
	return p.Limit, nil
}
