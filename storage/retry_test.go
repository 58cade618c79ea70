package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

func TestRetry(t *testing.T) {
	ctx := context.Background()
	conflict := &itsm.ConflictError{Kind: "note", ID: "n1", Expected: 1}
	other := errors.New("disk on fire")
	tests := []struct {
		name      string
		attempts  int
		fails     int   // attempts that fail before one succeeds
		failWith  error // the error of a failing attempt
		wantRuns  int
		wantErr   error
		wantSaved bool
	}{
		{"first attempt succeeds", 3, 0, nil, 1, nil, true},
		{"conflicts then success", 3, 2, conflict, 3, nil, true},
		{"conflicts every time", 3, 5, conflict, 3, itsm.ErrConflict, false},
		{"zero attempts means the default", 0, 10, conflict, storage.DefaultAttempts, itsm.ErrConflict, false},
		{"other errors are not retried", 3, 5, other, 1, other, false},
		{"a final conflict is not retried", 3, 5, storage.Final(conflict), 1, itsm.ErrConflict, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := memory.New()
			require.NoError(t, b.Register(ctx, storage.Schema{Kind: "note"}))
			runs := 0
			err := storage.Retry(ctx, b, tt.attempts, func(tx storage.Tx) error {
				runs++
				if err := tx.Put(ctx, storage.Document{Kind: "note", ID: "n1", Version: 1, Data: []byte(`{}`)}, 0); err != nil {
					return err
				}
				if runs <= tt.fails {
					return tt.failWith // the put above must not survive
				}
				return nil
			})
			assert.Equal(t, tt.wantRuns, runs)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				assert.NoError(t, err)
			}
			_, err = b.Get(ctx, "note", "n1")
			if tt.wantSaved {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, itsm.ErrNotFound, "a failed attempt wrote its document")
			}
		})
	}
	// Bad input: a nil context, backend or function.
	assert.ErrorIs(t, storage.Retry(nil, memory.New(), 1, func(storage.Tx) error { return nil }), itsm.ErrInvalid)
	assert.ErrorIs(t, storage.Retry(ctx, nil, 1, func(storage.Tx) error { return nil }), itsm.ErrInvalid)
	assert.ErrorIs(t, storage.Retry(ctx, memory.New(), 1, nil), itsm.ErrInvalid)
}
