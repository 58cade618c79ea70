package storage_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

func TestPagingResolveLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		want  int
		bad   bool
	}{
		{name: "zero is the default", limit: 0, want: storage.DefaultLimit},
		{name: "one", limit: 1, want: 1},
		{name: "the maximum", limit: storage.MaxLimit, want: storage.MaxLimit},
		{name: "negative", limit: -1, bad: true},
		{name: "above the maximum", limit: storage.MaxLimit + 1, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := storage.Paging{Limit: tt.limit, Cursor: "ignored"}.ResolveLimit()
			if !tt.bad {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.ErrorIs(t, err, itsm.ErrInvalid)
			var ve *itsm.ValidationError
			require.True(t, errors.As(err, &ve))
			assert.Contains(t, ve.Fields, "limit")
			assert.Zero(t, got)
		})
	}
}
