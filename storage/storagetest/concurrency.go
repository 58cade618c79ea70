package storagetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func (h *harness) testConcurrency(t *testing.T) {
	t.Run("Counter", func(t *testing.T) {
		// goroutines x increments read-modify-write cycles on one document,
		// each appending the record's next event to its hash chain: no lost
		// update, and no event of a unit that lost its race.
		e := h.setup(t)
		s := e.register(storage.Schema{Kind: name("counter"), Fields: []storage.Field{fInt("value")}})
		goroutines, increments := 16, h.scale(500, 50)
		create := sealed(s.Kind, "c", 1, "")
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			if err := tx.Put(e.ctx, storage.Document{Kind: s.Kind, ID: "c", Version: 1, Data: []byte(create.Hash),
				Fields: []storage.Value{storage.Int(0)}}, 0); err != nil {
				return err
			}
			return tx.Append(e.ctx, create)
		}))
		var conflicts atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := 0; i < increments; {
					err := e.b.Update(e.ctx, func(tx storage.Tx) error {
						d, err := tx.Get(e.ctx, s.Kind, "c")
						if err != nil {
							return err
						}
						ev := sealed(s.Kind, "c", d.Version+1, string(d.Data))
						ev.Actor = fmt.Sprintf("g%02d", g)
						itsm.Seal(&ev, string(d.Data))
						next := storage.Document{Kind: s.Kind, ID: "c", Version: d.Version + 1, Data: []byte(ev.Hash),
							Fields: []storage.Value{storage.Int(d.Fields[0].Int64() + 1)}}
						if err := tx.Put(e.ctx, next, d.Version); err != nil {
							return err
						}
						return tx.Append(e.ctx, ev)
					})
					switch {
					case err == nil:
						i++
					case errors.Is(err, itsm.ErrConflict):
						conflicts.Add(1)
					default:
						assert.NoError(t, err, "goroutine %d", g)
						return
					}
				}
			})
		}
		wg.Wait()
		total := int64(goroutines * increments)
		d := e.get(s.Kind, "c")
		require.Equal(t, total, d.Fields[0].Int64(), "lost updates (%d conflicts retried)", conflicts.Load())
		require.Equal(t, total+1, d.Version)
		hist, err := e.b.History(e.ctx, s.Kind, "c")
		require.NoError(t, err)
		require.Len(t, hist, int(total)+1, "one event per committed increment")
		require.NoError(t, itsm.Verify(hist, string(d.Data)), "the record's chain is intact")
		require.Len(t, e.events(s.Kind), int(total)+1)
		t.Logf("%d increments, %d conflicts retried", total, conflicts.Load())
	})

	t.Run("CreateRace", func(t *testing.T) {
		e := h.setup(t)
		s := e.docSchema("race")
		goroutines := 16
		for round := range 10 {
			id := fmt.Sprintf("r%02d", round)
			errs := make([]error, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					errs[g] = e.b.Update(e.ctx, func(tx storage.Tx) error {
						if err := tx.Put(e.ctx, sdoc(s.Kind, id, 1, strconv.Itoa(g), "x", int64(g), time.Unix(0, 0)), 0); err != nil {
							return err
						}
						return tx.Append(e.ctx, sealed(s.Kind, id, 1, ""))
					})
				})
			}
			wg.Wait()
			winner := -1
			for g, err := range errs {
				if err == nil {
					require.Equal(t, -1, winner, "round %d: two creators of %s succeeded", round, id)
					winner = g
					continue
				}
				require.ErrorIs(t, err, itsm.ErrConflict, "round %d goroutine %d", round, g)
			}
			require.NotEqual(t, -1, winner, "round %d: nobody created %s", round, id)
			d := e.get(s.Kind, id)
			require.Equal(t, strconv.Itoa(winner), string(d.Data))
			hist, err := e.b.History(e.ctx, s.Kind, id)
			require.NoError(t, err)
			require.Len(t, hist, 1, "round %d: only the winner's event", round)
		}
	})

	t.Run("ConsistentReads", func(t *testing.T) {
		// Readers never see a document whose data and fields come from
		// different versions.
		e := h.setup(t)
		s := e.docSchema("read")
		writers, updates := 4, h.scale(200, 40)
		for w := range writers {
			e.create(sdoc(s.Kind, fmt.Sprintf("d%d", w), 1, "1", "v", 1, time.Unix(1, 0)))
		}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		var reads atomic.Int64
		check := func(d storage.Document) bool {
			return assert.Equal(t, strconv.FormatInt(d.Version, 10), string(d.Data), "torn read of %s", d.ID) &&
				assert.Equal(t, d.Version, d.Fields[1].Int64(), "torn read of %s", d.ID) &&
				assert.Equal(t, d.Version, d.Fields[2].Time().Unix(), "torn read of %s", d.ID)
		}
		for r := range 4 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if r%2 == 0 {
						d, err := e.b.Get(e.ctx, s.Kind, fmt.Sprintf("d%d", r%writers))
						if !assert.NoError(t, err) || !check(d) {
							return
						}
					} else {
						page, err := e.b.Query(e.ctx, storage.Query{Kind: s.Kind, Sort: []storage.Sort{{Field: "n", Desc: true}}})
						if !assert.NoError(t, err) || !assert.Len(t, page.Docs, writers) {
							return
						}
						for _, d := range page.Docs {
							if !check(d) {
								return
							}
						}
					}
					reads.Add(1)
				}
			})
		}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				id := fmt.Sprintf("d%d", w)
				for v := int64(2); v <= int64(updates); v++ {
					d := sdoc(s.Kind, id, v, strconv.FormatInt(v, 10), "v", v, time.Unix(v, 0))
					if !assert.NoError(t, e.putErr(d, v-1)) {
						return
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		for w := range writers {
			require.Equal(t, int64(updates), e.get(s.Kind, fmt.Sprintf("d%d", w)).Version)
		}
		require.Positive(t, reads.Load())
	})

	t.Run("DisjointWriters", func(t *testing.T) {
		// Many writers on different documents: every write lands.
		e := h.setup(t)
		s := e.docSchema("disjoint")
		goroutines, each := 16, h.scale(50, 10)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					id := fmt.Sprintf("g%02d_%03d", g, i)
					err := e.b.Update(e.ctx, func(tx storage.Tx) error {
						if err := tx.Put(e.ctx, sdoc(s.Kind, id, 1, id, fmt.Sprintf("g%02d", g), int64(i), time.Unix(int64(i), 0)), 0); err != nil {
							return err
						}
						return tx.Append(e.ctx, sealed(s.Kind, id, 1, ""))
					})
					if !assert.NoError(t, err) {
						return
					}
				}
			})
		}
		wg.Wait()
		got := e.queryAll(storage.Query{Kind: s.Kind, Limit: storage.MaxLimit}, goroutines*each)
		require.Len(t, got, goroutines*each)
		require.Len(t, e.events(s.Kind), goroutines*each)
		for g := range goroutines {
			q := storage.Query{Kind: s.Kind, Filters: []storage.Filter{storage.Eq("s", storage.String(fmt.Sprintf("g%02d", g)))}, Limit: storage.MaxLimit}
			require.Len(t, e.queryAll(q, each), each, "goroutine %d", g)
		}
	})
}
