package storage_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

// generousBackend hands out every event after Seq after, however few were
// asked for: a backend breaking ReadEvents's limit. It hides the memory
// store's EventScanner, so ScanEvents takes its fallback.
type generousBackend struct {
	storage.Backend
	evs []itsm.Event
}

func (g generousBackend) ReadEvents(_ context.Context, after int64, _ int) ([]itsm.Event, error) {
	for i, e := range g.evs {
		if e.Seq > after {
			return g.evs[i:], nil
		}
	}
	return nil, nil
}

// TestScanEventsFallbackKeepsToTheLimit checks that the fallback of
// ScanEvents never hands fn more events than the limit, even when the
// backend's ReadEvents returns more than it was asked for.
func TestScanEventsFallbackKeepsToTheLimit(t *testing.T) {
	evs := make([]itsm.Event, 10)
	for i := range evs {
		evs[i] = itsm.Event{Seq: int64(i + 1), Kind: "note", RecordID: "n"}
	}
	b := generousBackend{memory.New(), evs}
	for _, tc := range []struct {
		after      int64
		limit      int
		wantFirst  int64
		wantEvents int
	}{
		{0, 1, 1, 1},
		{0, 3, 1, 3},
		{4, 2, 5, 2},
		{8, 5, 9, 2},
		{0, 100, 1, 10},
	} {
		var got []int64
		err := storage.ScanEvents(context.Background(), b, tc.after, tc.limit, func(evs []itsm.Event) error {
			for _, e := range evs {
				got = append(got, e.Seq)
			}
			return nil
		})
		require.NoError(t, err)
		require.Len(t, got, tc.wantEvents, "after %d limit %d", tc.after, tc.limit)
		require.Equal(t, tc.wantFirst, got[0], "after %d limit %d", tc.after, tc.limit)
	}
}
