package memory_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return memory.New() })
}

// ScanEvents reads a chunk of the log without the lock while writers append
// to the same chunk: run with -race. Every scan must see a gap-free prefix
// of the log in Seq order, and the last scan all of it.
func TestScanEventsWhileAppending(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	const units, per = 300, 7
	done := make(chan error, 1)
	go func() {
		for u := range units {
			err := s.Update(ctx, func(tx storage.Tx) error {
				for v := range per {
					if err := tx.Append(ctx, itsm.Event{ID: fmt.Sprintf("e%d-%d", u, v), Kind: "k", RecordID: fmt.Sprint(u), RecordVersion: int64(v + 1),
						Changes: []itsm.FieldChange{{Field: "n", From: "0", To: fmt.Sprint(v)}}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	scan := func() int {
		var seq int64
		require.NoError(t, s.ScanEvents(ctx, 0, 1<<30, func(evs []itsm.Event) error {
			require.NotEmpty(t, evs)
			for _, e := range evs {
				require.Equal(t, seq+1, e.Seq, "gap-free and in order")
				require.Len(t, e.Changes, 1)
				seq = e.Seq
			}
			return nil
		}))
		return int(seq)
	}
	for finished := false; !finished; {
		select {
		case err := <-done:
			require.NoError(t, err)
			finished = true
		default:
			scan()
		}
	}
	require.Equal(t, units*per, scan())
}

// A run ScanEvents hands out is a part of a chunk of the log, where the
// next committed events go: its capacity ends with it, so that a consumer
// appending to it (against the contract) writes a copy, never into the
// chunk under a concurrent writer.
func TestScanEventsRunsAreCapped(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	require.NoError(t, s.Update(ctx, func(tx storage.Tx) error {
		for _, id := range []string{"a", "b", "c"} {
			if err := tx.Append(ctx, itsm.Event{ID: id, Kind: "k", RecordID: id, RecordVersion: 1}); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, limit := range []int{1, 2, 10} {
		runs := 0
		require.NoError(t, s.ScanEvents(ctx, 0, limit, func(evs []itsm.Event) error {
			runs++
			require.Equal(t, len(evs), cap(evs), "limit %d", limit)
			return nil
		}))
		require.Equal(t, 1, runs, "limit %d", limit)
	}
}
