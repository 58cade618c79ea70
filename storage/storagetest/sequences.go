package storagetest

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// next takes one value of a sequence in its own unit of work.
func (e *env) next(seq string) int64 {
	e.t.Helper()
	var v int64
	require.NoError(e.t, e.b.Update(e.ctx, func(tx storage.Tx) error {
		var err error
		v, err = tx.NextSequence(e.ctx, seq)
		return err
	}))
	return v
}

func (h *harness) testSequences(t *testing.T) {
	t.Run("StartsAtOne", func(t *testing.T) {
		e := h.setup(t)
		require.Equal(t, int64(1), e.next(name("seq")))
	})

	t.Run("Increasing", func(t *testing.T) {
		e := h.setup(t)
		seq := name("seq")
		prev := e.next(seq)
		for range 20 {
			v := e.next(seq)
			require.Greater(t, v, prev)
			prev = v
		}
		// Several values in one unit increase too.
		require.NoError(t, e.b.Update(e.ctx, func(tx storage.Tx) error {
			for range 5 {
				v, err := tx.NextSequence(e.ctx, seq)
				require.NoError(t, err)
				require.Greater(t, v, prev)
				prev = v
			}
			return nil
		}))
		require.Greater(t, e.next(seq), prev)
	})

	t.Run("Independent", func(t *testing.T) {
		e := h.setup(t)
		a, b := name("seq_a"), name("seq_b")
		require.Equal(t, int64(1), e.next(a))
		require.Equal(t, int64(1), e.next(b), "a new name starts at 1 whatever other sequences did")
		a2 := e.next(a)
		require.Greater(t, a2, int64(1))
		b2 := e.next(b)
		require.Greater(t, b2, int64(1))
		// Sequences do not share names with kinds.
		s := e.docSchema("seq_kind")
		require.Equal(t, int64(1), e.next(s.Kind))
	})

	t.Run("RollbackGap", func(t *testing.T) {
		e := h.setup(t)
		seq := name("seq")
		first := e.next(seq)
		var rolledBack int64
		err := e.b.Update(e.ctx, func(tx storage.Tx) error {
			var err error
			rolledBack, err = tx.NextSequence(e.ctx, seq)
			require.NoError(t, err)
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.Greater(t, rolledBack, first)
		// Values are unique committed or not: a gap is allowed, a repeat is not.
		require.Greater(t, e.next(seq), rolledBack)
	})

	t.Run("Concurrent", func(t *testing.T) {
		e := h.setup(t)
		seqs := []string{name("seq_x"), name("seq_y")}
		goroutines, perG := 16, h.scale(100, 25)
		var mu sync.Mutex
		values := map[string]map[int64]bool{seqs[0]: {}, seqs[1]: {}}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range perG {
					seq := seqs[(g+i)%2]
					var v int64
					err := e.b.Update(e.ctx, func(tx storage.Tx) error {
						var err error
						if v, err = tx.NextSequence(e.ctx, seq); err != nil {
							return err
						}
						if i%7 == 3 {
							return errBoom // some units roll back; their values stay taken
						}
						return nil
					})
					if i%7 != 3 && !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					dup := values[seq][v]
					values[seq][v] = true
					mu.Unlock()
					if !assert.False(t, dup, "%s: value %d handed out twice", seq, v) {
						return
					}
					assert.Positive(t, v)
				}
			})
		}
		wg.Wait()
		require.Equal(t, goroutines*perG, len(values[seqs[0]])+len(values[seqs[1]]))
	})

	t.Run("InvalidName", func(t *testing.T) {
		e := h.setup(t)
		for _, bad := range []string{"", "Upper", "with space", "9lives", "dash-name", "x'; drop", "ünï", strings.Repeat("a", 64)} {
			err := e.b.Update(e.ctx, func(tx storage.Tx) error {
				_, err := noPanicSeq(t, func() (int64, error) { return tx.NextSequence(e.ctx, bad) })
				return err
			})
			require.ErrorIs(t, err, itsm.ErrInvalid, "sequence name %q", bad)
		}
	})
}

func noPanicSeq(t testing.TB, fn func() (int64, error)) (v int64, err error) {
	err = noPanic(t, "NextSequence", func() error {
		var e error
		v, e = fn()
		return e
	})
	return v, err
}
