package badinput_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
)

const kind = "note"

// write puts one note and its event, as a pillar's write does.
func write(st storage.Backend, id string) error {
	ctx := context.Background()
	return st.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, storage.Document{Kind: kind, ID: id, Version: 1, Data: []byte(`{"id":"` + id + `"}`)}, 0); err != nil {
			return err
		}
		return tx.Append(ctx, itsm.Event{Kind: kind, RecordID: id, Name: "create", Actor: "t"})
	})
}

// TestTry: every outcome a bad call can have is told apart, so a suite
// built on Try cannot pass a row that panicked, wrote or failed without a
// sentinel.
func TestTry(t *testing.T) {
	tests := []struct {
		name    string
		answers bool
		call    func(st storage.Backend) error
		want    badinput.Outcome
	}{
		{"sentinel, nothing written", false, func(storage.Backend) error { return fmt.Errorf("no: %w", itsm.ErrInvalid) }, badinput.Clear},
		{"panic", false, func(storage.Backend) error { panic("boom") }, badinput.Panic},
		{"wrote and failed", false, func(st storage.Backend) error {
			require.NoError(t, write(st, "b"))
			return itsm.ErrInvalid
		}, badinput.HalfWrite},
		{"wrote and succeeded", false, func(st storage.Backend) error { return write(st, "b") }, badinput.Accepted},
		{"succeeded, nothing written", false, func(storage.Backend) error { return nil }, badinput.Accepted},
		{"error matching no sentinel", false, func(storage.Backend) error { return errors.New("host") }, badinput.NoSentinel},
		{"answer checked", true, func(storage.Backend) error { return nil }, badinput.Clear},
		{"answer wrong", true, func(storage.Backend) error { return fmt.Errorf("got 3: %w", itsm.ErrInvalid) }, badinput.NoSentinel},
		{"answer that wrote", true, func(st storage.Backend) error { return write(st, "b") }, badinput.Accepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memory.New()
			require.NoError(t, st.Register(context.Background(), storage.Schema{Kind: kind}))
			require.NoError(t, write(st, "a"))
			got, _ := badinput.Try(func() badinput.Snapshot { return badinput.Take(t, st, kind) }, tt.answers,
				func() error { return tt.call(st) })
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEntryAndCtx(t *testing.T) {
	assert.Equal(t, "Desk.OpenIncident", badinput.Entry("nil ctx/Desk.OpenIncident/empty title"))
	assert.Equal(t, "New", badinput.Entry("New"))
	assert.Nil(t, badinput.Ctx("nil ctx/New", context.Background()))
	assert.NotNil(t, badinput.Ctx("New/nil backend", context.Background()))
}

type svc struct{}

func (*svc) Open() error  { return nil }
func (*svc) Close() error { return nil }

func TestMethods(t *testing.T) {
	assert.Equal(t, []string{"svc.Close", "svc.Open"}, badinput.Methods((*svc)(nil)))
}

// TestAssertCovered: a method with no rows fails the check.
func TestAssertCovered(t *testing.T) {
	rec := &testing.T{}
	badinput.AssertCovered(rec, []string{"svc.Open/bad"}, []string{"svc.Open", "svc.Close"}, nil)
	assert.True(t, rec.Failed(), "svc.Close has no rows")
	ok := &testing.T{}
	badinput.AssertCovered(ok, []string{"svc.Open/bad"}, []string{"svc.Open", "svc.Close"}, map[string]bool{"svc.Close": true})
	assert.False(t, ok.Failed())
}
