package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// history returns n imported tickets, each with a chain of events.
func history(kind string, n, eventsEach int) ([]storage.Document, []itsm.Event) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var docs []storage.Document
	var events []itsm.Event
	for i := range n {
		id := fmt.Sprintf("%s%06d", kind, i)
		docs = append(docs, ticket(kind, id, int64(eventsEach), fmt.Sprintf("g%d", i%7), "closed", int64(i%4), base.Add(time.Duration(i)*time.Minute)))
		prev := ""
		for v := 1; v <= eventsEach; v++ {
			e := sealedEvent(kind, id, int64(v), prev)
			prev = e.Hash
			events = append(events, e)
		}
	}
	return docs, events
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	for _, native := range []bool{true, false} {
		t.Run(fmt.Sprintf("native=%v", native), func(t *testing.T) {
			s := newTestStore(t)
			var b storage.Backend = s
			if !native {
				b = plain{s}
			}
			require.NoError(t, s.Register(ctx, ticketSchema("inc")))
			require.NoError(t, s.Register(ctx, ticketSchema("chg")))
			docs, events := history("inc", 300, 3)
			more, moreEvents := history("chg", 100, 1)
			docs, events = append(docs, more...), append(events, moreEvents...)
			require.NoError(t, storage.Import(ctx, b, docs, events))
			for _, d := range []storage.Document{docs[0], docs[299], docs[399]} {
				got, err := s.Get(ctx, d.Kind, d.ID)
				require.NoError(t, err)
				require.Equal(t, d, got)
			}
			read, err := s.ReadEvents(ctx, 0, 10_000)
			require.NoError(t, err)
			require.Len(t, read, len(events))
			for i := range events {
				require.Equal(t, events[i].ID, read[i].ID, "events keep the order given")
			}
			h, err := s.History(ctx, "inc", docs[5].ID)
			require.NoError(t, err)
			require.NoError(t, itsm.Verify(h, events[5*3+2].Hash))

			// All or nothing: one existing document, or one given twice,
			// fails the whole import.
			fresh, freshEvents := history("chg", 150, 1)
			fresh = fresh[100:]
			for what, batch := range map[string][]storage.Document{
				"existing": append(fresh[:10:10], docs[350]),
				"twice":    append(fresh[:10:10], fresh[3]),
			} {
				err := storage.Import(ctx, b, batch, freshEvents[100:])
				require.ErrorIs(t, err, itsm.ErrConflict, what)
				_, err = s.Get(ctx, "chg", fresh[0].ID)
				require.ErrorIs(t, err, itsm.ErrNotFound, what)
				after, err := s.ReadEvents(ctx, 0, 10_000)
				require.NoError(t, err)
				require.Len(t, after, len(events), what)
			}
			bad := fresh[0]
			bad.Fields = bad.Fields[:1]
			require.ErrorIs(t, storage.Import(ctx, b, []storage.Document{fresh[1], bad}, nil), itsm.ErrInvalid)
			bad = fresh[0]
			bad.Fields[0] = storage.String(strings.Repeat("x", 3000))
			require.ErrorIs(t, storage.Import(ctx, b, []storage.Document{fresh[1], bad}, nil), itsm.ErrInvalid)
			_, err = s.Get(ctx, "chg", fresh[1].ID)
			require.ErrorIs(t, err, itsm.ErrNotFound)
			require.NoError(t, storage.Import(ctx, b, nil, nil))
		})
	}
}
