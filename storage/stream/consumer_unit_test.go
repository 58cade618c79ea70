package stream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
)

func nop(context.Context, []itsm.Event) error { return nil }

func TestNewConsumerRefusals(t *testing.T) {
	h := stream.HandlerFunc(nop)
	tx := stream.TxHandlerFunc(func(context.Context, storage.Tx, []itsm.Event) error { return nil })
	long := string(make([]byte, stream.MaxName+1))
	tests := []struct {
		name string
		cfg  stream.ConsumerConfig
		want string
	}{
		{"no name", stream.ConsumerConfig{Handler: h}, "name is required"},
		{"name too long", stream.ConsumerConfig{Name: long, Handler: h}, "name"},
		{"name with NUL", stream.ConsumerConfig{Name: "a\x00b", Handler: h}, "NUL"},
		{"name not UTF-8", stream.ConsumerConfig{Name: "a\xffb", Handler: h}, "UTF-8"},
		{"instance with NUL", stream.ConsumerConfig{Name: "a", Instance: "i\x00", Handler: h}, "instance"},
		{"no handler", stream.ConsumerConfig{Name: "a"}, "exactly one"},
		{"both handlers", stream.ConsumerConfig{Name: "a", Handler: h, TxHandler: tx}, "exactly one"},
		{"local with a TxHandler", stream.ConsumerConfig{Name: "a", Local: true, TxHandler: tx}, "Local"},
		{"in place with a TxHandler", stream.ConsumerConfig{Name: "a", InPlace: true, TxHandler: tx}, "InPlace"},
		{"negative batch", stream.ConsumerConfig{Name: "a", Handler: h, Batch: -1}, "batch"},
		{"batch too large", stream.ConsumerConfig{Name: "a", Handler: h, Batch: stream.MaxBatch + 1}, "batch"},
		{"negative lease", stream.ConsumerConfig{Name: "a", Handler: h, Lease: -time.Second}, "negative"},
		{"lease too short", stream.ConsumerConfig{Name: "a", Handler: h, Lease: time.Millisecond}, "shorter"},
		{"negative poll", stream.ConsumerConfig{Name: "a", Handler: h, Poll: -time.Second}, "negative"},
		{"negative backoff", stream.ConsumerConfig{Name: "a", Handler: h, Backoff: -time.Second}, "negative"},
		{"negative max backoff", stream.ConsumerConfig{Name: "a", Handler: h, MaxBackoff: -time.Second}, "negative"},
		{"negative from", stream.ConsumerConfig{Name: "a", Handler: h, From: -1}, "from"},
		{"bad tenant", stream.ConsumerConfig{Name: "a", Handler: h, Tenant: "no spaces allowed\x00"}, "tenant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New()
			c, err := stream.NewConsumer(context.Background(), store, tc.cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.ErrorContains(t, err, tc.want)
			assert.Nil(t, c)
			_, err = store.Query(context.Background(), storage.Query{Kind: stream.ConsumerKind})
			assert.ErrorIs(t, err, itsm.ErrInvalid, "nothing registered")
		})
	}
	//nolint:staticcheck // a nil context is what is tested
	_, err := stream.NewConsumer(nil, memory.New(), stream.ConsumerConfig{Name: "a", Handler: h})
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = stream.NewConsumer(context.Background(), nil, stream.ConsumerConfig{Name: "a", Handler: h})
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

func TestNilContexts(t *testing.T) {
	c, err := stream.NewConsumer(context.Background(), memory.New(), stream.ConsumerConfig{Name: "a", Handler: stream.HandlerFunc(nop)})
	require.NoError(t, err)
	calls := map[string]func() error{
		"RunOnce":    func() error { _, err := c.RunOnce(nil); return err },    //nolint:staticcheck
		"Start":      func() error { return c.Start(nil) },                     //nolint:staticcheck
		"Stop":       func() error { return c.Stop(nil) },                      //nolint:staticcheck
		"Checkpoint": func() error { _, err := c.Checkpoint(nil); return err }, //nolint:staticcheck
		"Lag":        func() error { _, err := c.Lag(nil); return err },        //nolint:staticcheck
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { assert.ErrorIs(t, call(), itsm.ErrInvalid) })
	}
}

// TestLocal: a Local consumer keeps its position in memory: nothing is
// written to the store, and two Local consumers each read everything.
func TestLocal(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	fill(t, store, 30)
	var a, b atomic.Int64
	mk := func(n *atomic.Int64, inPlace bool) *stream.Consumer {
		c, err := stream.NewConsumer(ctx, store, stream.ConsumerConfig{Name: "projection", Local: true, InPlace: inPlace, Batch: 7,
			Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error { n.Add(int64(len(evs))); return nil })})
		require.NoError(t, err)
		return c
	}
	ca, cb := mk(&a, false), mk(&b, true)
	for _, c := range []*stream.Consumer{ca, cb} {
		lag, err := c.Lag(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 30, lag)
		for {
			n, err := c.RunOnce(ctx)
			require.NoError(t, err)
			assert.LessOrEqual(t, n, 7)
			if n == 0 {
				break
			}
		}
		cp, err := c.Checkpoint(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 30, cp)
		assert.EqualValues(t, 30, c.Stats().Checkpoint)
	}
	assert.EqualValues(t, 30, a.Load())
	assert.EqualValues(t, 30, b.Load())
	_, err := store.Query(ctx, storage.Query{Kind: stream.ConsumerKind})
	assert.ErrorIs(t, err, itsm.ErrInvalid, "a Local consumer registers and writes nothing")
}

// busyStore answers ReadEvents with itsm.ErrBusy a number of times, like a
// log reader waiting at a sequence gap.
type busyStore struct {
	storage.Backend
	mu    sync.Mutex
	busy  int
	calls int
}

func (s *busyStore) ReadEvents(ctx context.Context, after int64, limit int) ([]itsm.Event, error) {
	s.mu.Lock()
	s.calls++
	if s.busy > 0 {
		s.busy--
		s.mu.Unlock()
		return nil, fmt.Errorf("gap at %d: %w", after+1, itsm.ErrBusy)
	}
	s.mu.Unlock()
	return s.Backend.ReadEvents(ctx, after, limit)
}

// TestBusyStore: Start waits Poll and reads again when the store is busy;
// it is not a failure and never backs off.
func TestBusyStore(t *testing.T) {
	ctx := context.Background()
	store := &busyStore{Backend: memory.New(), busy: 3}
	fill(t, store.Backend, 5)
	var mu sync.Mutex
	var waits []time.Duration
	var got atomic.Int64
	all := make(chan struct{})
	c, err := stream.NewConsumer(ctx, store, stream.ConsumerConfig{Name: "busy", Poll: 3 * time.Second,
		Wait: func(ctx context.Context, d time.Duration) error {
			if d == stream.DefaultLease/3 {
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		},
		Handler: stream.HandlerFunc(func(_ context.Context, evs []itsm.Event) error {
			if got.Add(int64(len(evs))) == 5 {
				close(all)
			}
			return nil
		})})
	require.NoError(t, err)
	n, err := c.RunOnce(ctx)
	require.ErrorIs(t, err, itsm.ErrBusy, "RunOnce returns the store's answer")
	assert.Zero(t, n)
	require.NoError(t, c.Start(ctx))
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatal("the events were not handled within 30s")
	}
	require.NoError(t, c.Stop(ctx))
	assert.EqualValues(t, 5, got.Load())
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(waits), 2)
	for _, w := range waits[:2] {
		assert.Equal(t, 3*time.Second, w, "a busy store is polled, not backed off")
	}
	assert.Zero(t, c.Stats().Failures)
}

// TestHandlerError: a handler's error comes back as a *HandlerError
// naming the batch, and errors.Is reaches the handler's own error.
func TestHandlerError(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	fill(t, store, 4)
	boom := errors.New("boom")
	c, err := stream.NewConsumer(ctx, store, stream.ConsumerConfig{Name: "err", Batch: 3,
		Wait:    func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() },
		Handler: stream.HandlerFunc(func(context.Context, []itsm.Event) error { return boom })})
	require.NoError(t, err)
	_, err = c.RunOnce(ctx)
	require.ErrorIs(t, err, boom)
	var he *stream.HandlerError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, stream.HandlerError{Consumer: "err", First: 1, Last: 3, Err: boom}, *he)
	assert.Contains(t, err.Error(), "events 1..3")
	st := c.Stats()
	assert.EqualValues(t, 1, st.Failures)
	assert.Equal(t, 1, st.Consecutive)
	assert.ErrorIs(t, st.LastError, boom)
}

// TestStopBeforeStart: stopping a consumer never started does nothing; it
// can still be started (and stopped) after.
func TestStopBeforeStart(t *testing.T) {
	ctx := context.Background()
	c, err := stream.NewConsumer(ctx, memory.New(), stream.ConsumerConfig{Name: "a", Handler: stream.HandlerFunc(nop)})
	require.NoError(t, err)
	require.NoError(t, c.Stop(ctx))
	assert.False(t, c.Stats().Running)
	require.NoError(t, c.Start(ctx))
	assert.True(t, c.Stats().Running)
	require.NoError(t, c.Stop(ctx))
	assert.False(t, c.Stats().Running)
}
