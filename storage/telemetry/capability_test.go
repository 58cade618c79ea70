package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/telemetry"
)

// plain hides every optional capability of the backend it embeds.
type plain struct{ storage.Backend }

// The capabilities, as mix-ins.
type traverseM struct{}

func (traverseM) Traverse(context.Context, storage.TraverseParams) ([]storage.Hop, error) {
	return []storage.Hop{{ID: "t"}}, nil
}

type importM struct{}

func (importM) Import(context.Context, []storage.Document, []itsm.Event) error { return nil }

type scanM struct{}

func (scanM) ScanEvents(_ context.Context, _ int64, _ int, fn func([]itsm.Event) error) error {
	return fn([]itsm.Event{{Seq: 1}})
}

// caps lists the optional capabilities b has.
func caps(b storage.Backend) [3]bool {
	_, t := b.(storage.Traverser)
	_, i := b.(storage.BulkImporter)
	_, s := b.(storage.EventScanner)
	return [3]bool{t, i, s}
}

// TestInstrumentKeepsCapabilities checks that the wrapper has every
// optional interface of storage the inner backend has, and none it lacks,
// for every combination, and that the capability reaches the store's own
// implementation.
func TestInstrumentKeepsCapabilities(t *testing.T) {
	k := newKit(t)
	mem := memory.New()
	p := plain{mem}
	tests := []struct {
		name  string
		inner storage.Backend
	}{
		{"none", p},
		{"traverser", struct {
			plain
			traverseM
		}{p, traverseM{}}},
		{"importer", struct {
			plain
			importM
		}{p, importM{}}},
		{"scanner", struct {
			plain
			scanM
		}{p, scanM{}}},
		{"traverser+importer", struct {
			plain
			traverseM
			importM
		}{p, traverseM{}, importM{}}},
		{"traverser+scanner", struct {
			plain
			traverseM
			scanM
		}{p, traverseM{}, scanM{}}},
		{"importer+scanner", struct {
			plain
			importM
			scanM
		}{p, importM{}, scanM{}}},
		{"all", struct {
			plain
			traverseM
			importM
			scanM
		}{p, traverseM{}, importM{}, scanM{}}},
		{"memory", mem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := telemetry.Instrument(tt.inner, k.config())
			_, wrapped := w.(interface{ Unwrap() storage.Backend })
			require.True(t, wrapped, "the store is wrapped")
			assert.Equal(t, caps(tt.inner), caps(w))
			if tr, ok := w.(storage.Traverser); ok && tt.name != "memory" {
				hops, err := tr.Traverse(context.Background(), storage.TraverseParams{})
				require.NoError(t, err)
				assert.Equal(t, "t", hops[0].ID, "the store's own traversal runs")
			}
			if sc, ok := w.(storage.EventScanner); ok && tt.name != "memory" {
				n := 0
				require.NoError(t, sc.ScanEvents(context.Background(), 0, 1, func(evs []itsm.Event) error { n += len(evs); return nil }))
				assert.Equal(t, 1, n)
			}
			u, ok := w.(interface{ Unwrap() storage.Backend })
			require.True(t, ok)
			assert.Equal(t, tt.inner, u.Unwrap())
		})
	}
}

// TestInstrumentWithoutProviders returns the store itself: no providers,
// no cost.
func TestInstrumentWithoutProviders(t *testing.T) {
	mem := memory.New()
	assert.Same(t, mem, telemetry.Instrument(mem, telemetry.Config{}))
	tel, err := telemetry.New(telemetry.Config{})
	require.NoError(t, err)
	assert.False(t, tel.Enabled())
	assert.Same(t, mem, tel.Backend(mem))
}
