package improvement_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestTwoEnginesOfOneNameConflict(t *testing.T) {
	k := newKit(t)
	scenario(t, k)
	ctx := context.Background()
	cfg := improvement.Config{CheckpointEvery: 1 << 30}
	a, err := improvement.New(ctx, k.store, cfg)
	require.NoError(t, err)
	b, err := improvement.New(ctx, k.store, cfg)
	require.NoError(t, err)
	_, err = a.Sync(ctx)
	require.NoError(t, err)
	_, err = b.Sync(ctx)
	require.NoError(t, err)
	require.NoError(t, a.Checkpoint(ctx))
	require.ErrorIs(t, b.Checkpoint(ctx), itsm.ErrConflict, "b did not start from a's checkpoint")
	again, err := improvement.New(ctx, k.store, cfg)
	require.NoError(t, err)
	assert.Equal(t, a.Seq(), again.Seq())
	other, err := improvement.New(ctx, k.store, improvement.Config{Name: "other", CheckpointEvery: 1 << 30})
	require.NoError(t, err)
	assert.Zero(t, other.Seq(), "engines of other names keep their own checkpoints")
}

func TestCorruptCheckpointIsRefused(t *testing.T) {
	ctx := context.Background()
	for name, data := range map[string]string{
		"not json":         `{`,
		"unknown format":   `{"format":99,"seq":1,"parts":0}`,
		"missing part":     `{"format":3,"seq":1,"parts":1,"bytes":10,"sha256":"00"}`,
		"negative parts":   `{"format":3,"seq":1,"parts":-1}`,
		"checksum differs": `{"format":3,"seq":0,"parts":0,"bytes":0,"sha256":"00"}`,
	} {
		t.Run(name, func(t *testing.T) {
			store := memory.New()
			_, err := improvement.New(ctx, store, improvement.Config{}) // declares the kind
			require.NoError(t, err)
			require.NoError(t, store.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(ctx, storage.Document{Kind: improvement.CheckpointKind, ID: "kpi", Version: 1, Data: []byte(data)}, 0)
			}))
			_, err = improvement.New(ctx, store, improvement.Config{})
			require.ErrorIs(t, err, itsm.ErrInvalid)
		})
	}
}

// TestConcurrentSyncAndCompute runs writers, syncs and queries at once (run
// it with -race); at the end the engine agrees with a fresh recount.
func TestConcurrentSyncAndCompute(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	evs := newHistory(9, true).generate(300, day0)
	e, err := improvement.New(ctx, store, improvement.Config{BatchSize: 100})
	require.NoError(t, err)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(done)
		appendEvents(t, store, evs, 97)
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := e.Compute(improvement.Query{KPI: improvement.Backlog, Period: improvement.PeriodDay}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		_, err := e.Sync(ctx)
		require.NoError(t, err)
		select {
		case <-done:
			wg.Wait()
			_, err := e.Sync(ctx)
			require.NoError(t, err)
			fresh := openSynced(t, store, improvement.Config{Name: "fresh"})
			require.Equal(t, improvement.StateOf(fresh), improvement.StateOf(e))
			return
		default:
		}
	}
}

// stuckStore returns the same events whatever is asked. It embeds the
// Backend interface, not the memory store, so the store's EventScanner is
// hidden and Sync reads through the broken ReadEvents.
type stuckStore struct {
	storage.Backend
	evs []itsm.Event
}

func (s stuckStore) ReadEvents(context.Context, int64, int) ([]itsm.Event, error) { return s.evs, nil }

func TestSyncRefusesAStoreThatRepeatsItself(t *testing.T) {
	ctx := context.Background()
	k := newKit(t)
	scenario(t, k)
	evs, err := k.store.ReadEvents(ctx, 0, 3)
	require.NoError(t, err)
	e, err := improvement.New(ctx, stuckStore{k.store, evs}, improvement.Config{BatchSize: 3})
	require.NoError(t, err)
	n, err := e.Sync(ctx)
	require.ErrorIs(t, err, itsm.ErrInvalid, "no endless loop on a backend that breaks the contract")
	assert.Equal(t, 3, n)
}

// disorderedStore hands out the events it holds after Seq after, at most
// limit, in the order it holds them, which need not be the log's: it hides
// the store's EventScanner, so Sync reads through ReadEvents.
type disorderedStore struct {
	storage.Backend
	evs []itsm.Event
}

func (s disorderedStore) ReadEvents(_ context.Context, after int64, limit int) ([]itsm.Event, error) {
	var out []itsm.Event
	for _, e := range s.evs {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

// TestSyncRefusesEventsOutOfOrder checks that Sync refuses a run of events
// out of Seq order whole, with ErrInvalid, and keeps the runs before it:
// applying the run's later events and skipping the earlier ones would lose
// them silently. (Disorder across two runs cannot be seen: the next read
// starts after the last Seq, and a log's Seq may have gaps.)
func TestSyncRefusesEventsOutOfOrder(t *testing.T) {
	ctx := context.Background()
	evs := numbered(22, 4, day0, 0)
	require.Greater(t, len(evs), 12)
	for name, tc := range map[string]struct {
		swap  int // the events at swap and swap+1 change places
		batch int
		want  int // events applied before the refused run
	}{
		"first run":          {swap: 1, batch: 5, want: 0},
		"end of the first":   {swap: 3, batch: 5, want: 0},
		"third run":          {swap: 11, batch: 5, want: 10},
		"whole log in a run": {swap: 8, batch: 1000, want: 0},
	} {
		t.Run(name, func(t *testing.T) {
			bad := slices.Clone(evs)
			bad[tc.swap], bad[tc.swap+1] = bad[tc.swap+1], bad[tc.swap]
			e, err := improvement.New(ctx, disorderedStore{memory.New(), bad}, improvement.Config{BatchSize: tc.batch})
			require.NoError(t, err)
			got, err := e.Sync(ctx)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			require.Equal(t, tc.want, got)
			want, err := improvement.NewDetached(improvement.Config{})
			require.NoError(t, err)
			want.Apply(evs[:tc.want])
			require.Equal(t, improvement.StateOf(want), improvement.StateOf(e))
		})
	}
}

// failingStore hands out the events it holds as ReadEvents should (after
// Seq after, at most limit), then fails once a reader asks beyond them: it
// hides the store's EventScanner, so Sync reads through ReadEvents.
type failingStore struct {
	storage.Backend
	evs []itsm.Event
}

func (s failingStore) ReadEvents(_ context.Context, after int64, limit int) ([]itsm.Event, error) {
	i := 0
	for i < len(s.evs) && s.evs[i].Seq <= after {
		i++
	}
	if i == len(s.evs) {
		return nil, errBroken
	}
	return s.evs[i:min(len(s.evs), i+limit)], nil
}

var errBroken = errors.New("broken store")

// TestSyncKeepsWhatItReadBeforeAnError checks that Sync keeps every event
// the store handed out before failing, read in batches smaller than,
// equal to and larger than what the store holds.
func TestSyncKeepsWhatItReadBeforeAnError(t *testing.T) {
	ctx := context.Background()
	evs := numbered(21, 40, day0, 0)
	for _, n := range []int{1, 3, 8, 9, 25} {
		for _, batch := range []int{1, 5, 100} {
			e, err := improvement.New(ctx, failingStore{memory.New(), evs[:n]}, improvement.Config{BatchSize: batch})
			require.NoError(t, err)
			got, err := e.Sync(ctx)
			require.ErrorIs(t, err, errBroken)
			require.Equal(t, n, got, "%d events, batch %d", n, batch)
			want, err := improvement.NewDetached(improvement.Config{})
			require.NoError(t, err)
			want.Apply(evs[:n])
			require.Equal(t, improvement.StateOf(want), improvement.StateOf(e), "%d events, batch %d", n, batch)
		}
	}
}

// Sync saves a checkpoint once at least CheckpointEvery events were applied
// since the last one, and not before: events applied in several Syncs (and
// in several runs of one Sync) add up, each counted once.
func TestSyncCheckpointsEveryN(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	evs := numbered(7, 100, day0, 0)
	require.Greater(t, len(evs), 160)
	const every = 100
	cfg := improvement.Config{CheckpointEvery: every, BatchSize: 7}
	e, err := improvement.New(ctx, store, cfg)
	require.NoError(t, err)
	saved := func() int64 {
		again, err := improvement.New(ctx, store, cfg)
		require.NoError(t, err)
		return again.Seq()
	}
	appendEvents(t, store, evs[:60], 25)
	n, err := e.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 60, n)
	require.Zero(t, saved(), "60 events applied: below the interval")
	appendEvents(t, store, evs[60:99], 25)
	_, err = e.Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, saved(), "99 events applied: below the interval")
	appendEvents(t, store, evs[99:101], 25)
	_, err = e.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, evs[100].Seq, saved(), "101 events applied: saved")
	appendEvents(t, store, evs[101:160], 25)
	_, err = e.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, evs[100].Seq, saved(), "59 more since the last checkpoint")
}
