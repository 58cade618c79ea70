package design_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/design"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// snapshot is every document of the fixture's kinds and the whole event
// log, to show that a refused call wrote nothing.
type snapshot struct {
	Docs   map[string][]storage.Document
	Events []itsm.Event
}

// fixtureKinds are the kinds a design fixture's store holds.
var fixtureKinds = []string{"incident", design.ClockKind, design.CheckpointKind, design.LeaseKind}

func takeSnapshot(t testing.TB, s storage.Backend, kinds ...string) snapshot {
	t.Helper()
	ctx := context.Background()
	out := snapshot{Docs: map[string][]storage.Document{}}
	for _, k := range kinds {
		q := storage.Query{Kind: k, Limit: storage.MaxLimit}
		for {
			page, err := s.Query(ctx, q)
			require.NoError(t, err)
			out.Docs[k] = append(out.Docs[k], page.Docs...)
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
	}
	var after int64
	for {
		evs, err := s.ReadEvents(ctx, after, 1000)
		require.NoError(t, err)
		out.Events = append(out.Events, evs...)
		if len(evs) < 1000 {
			break
		}
		after = evs[len(evs)-1].Seq
	}
	return out
}
