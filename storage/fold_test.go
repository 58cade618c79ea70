package storage_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// A fold runs a record's commands in memory as the Tx forms would, writes
// nothing, and hands over a record and events that storage.Import writes
// and Verify accepts; a refused command leaves the fold as it was.
func TestFoldReplaysAHistoryInMemory(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(24 * time.Hour))
	ctx := as(importer)
	fold := f.foldTicket(t, ctx, "mail slow")
	docs, evs := f.snapshot(t)
	assert.Empty(t, docs, "a fold writes nothing")
	assert.Empty(t, evs)

	at := func(m int) storage.Command { return storage.Command{At: t0.Add(time.Duration(m) * time.Minute)} }
	_, err := fold.Fire(ctx, "start", at(1), nil)
	require.NoError(t, err)
	_, err = fold.Fire(ctx, "resolve", at(2), nil)
	require.ErrorIs(t, err, itsm.ErrInvalidTransition, "the guard refuses")
	assert.Equal(t, "in_progress", fold.Record().State, "a refused command leaves the fold as it was")
	same, err := fold.Change(ctx, at(3), func(tk *ticket) error { tk.Priority = 3; return nil })
	require.NoError(t, err)
	assert.Equal(t, int64(2), same.Version, "an unchanged record writes no event")
	_, err = fold.Fire(ctx, "resolve", at(4), func(tk *ticket) error { tk.ResolutionCode = "solved"; return nil })
	require.NoError(t, err)
	_, err = fold.Change(ctx, at(5), func(tk *ticket) error { tk.Comments = append(tk.Comments, "thanks"); return nil })
	require.NoError(t, err)
	_, err = fold.Change(ctx, at(4), func(tk *ticket) error { tk.Priority = 1; return nil })
	require.ErrorIs(t, err, itsm.ErrInvalid, "time runs forward")

	rec := fold.Record()
	assert.Equal(t, int64(4), rec.Version)
	assert.Equal(t, t0.Add(4*time.Minute), rec.ResolvedAt, "the effect ran at the command's time")
	require.Len(t, fold.Events(), 4)
	assert.Equal(t, []itsm.FieldChange{{Field: "priority", From: "", To: "3"}},
		filterChanges(fold.Events()[0].Changes, "priority"))
	assert.False(t, fold.Replaced())

	require.NoError(t, storage.Import(context.Background(), f.store, []storage.Document{fold.Document()}, fold.Events()))
	got, err := f.records.Get(as(agent), rec.ID)
	require.NoError(t, err)
	assert.Equal(t, "resolved", got.State)
	assert.Equal(t, []string{"thanks"}, got.Comments)
	require.NoError(t, f.records.Verify(as(agent), rec.ID))

	// The fold continues a stored record.
	doc, err := f.store.Get(context.Background(), "ticket", rec.ID)
	require.NoError(t, err)
	var more *storage.Fold[ticket, *ticket]
	require.NoError(t, f.store.Update(ctx, func(tx storage.Tx) error {
		more, err = f.records.FoldFrom(ctx, tx, doc)
		return err
	}))
	_, err = more.Fire(ctx, "close", at(9), nil)
	require.NoError(t, err)
	require.Len(t, more.Events(), 1)
	assert.Equal(t, int64(5), more.Events()[0].RecordVersion)
	require.NoError(t, f.store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, more.Document(), 4); err != nil {
			return err
		}
		return tx.Append(ctx, more.Events()...)
	}))
	require.NoError(t, f.records.Verify(as(agent), rec.ID))

	// Replace changes the record without an event, for checking only.
	require.NoError(t, more.Replace(func(tk *ticket) { tk.State = "resolved" }))
	assert.True(t, more.Replaced())
	assert.Equal(t, "resolved", more.Record().State)
	assert.Len(t, more.Events(), 1)
}

func filterChanges(cs []itsm.FieldChange, field string) []itsm.FieldChange {
	var out []itsm.FieldChange
	for _, c := range cs {
		if c.Field == field {
			out = append(out, c)
		}
	}
	return out
}

// A fold refuses what a command would: no actor, no import right for a
// backdated command, a foreign document, no unit of work.
func TestFoldRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := as(importer)
	tests := []struct {
		name string
		run  func(tx storage.Tx) error
		want error
	}{
		{"backdated without the import right", func(tx storage.Tx) error {
			_, err := f.records.FoldCreate(as(agent), tx, &ticket{Title: "x"}, storage.Command{At: t0.Add(-time.Hour)})
			return err
		}, itsm.ErrForbidden},
		{"no unit of work", func(storage.Tx) error {
			_, err := f.records.FoldCreate(ctx, nil, &ticket{Title: "x"}, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"invalid record", func(tx storage.Tx) error {
			_, err := f.records.FoldCreate(ctx, tx, &ticket{}, storage.Command{})
			return err
		}, itsm.ErrInvalid},
		{"another kind's document", func(tx storage.Tx) error {
			_, err := f.records.FoldFrom(ctx, tx, storage.Document{Kind: "other", ID: itsm.NewID(), Data: []byte(`{}`)})
			return err
		}, itsm.ErrInvalid},
		{"no lifecycle event", func(tx storage.Tx) error {
			fold, err := f.records.FoldCreate(ctx, tx, &ticket{Title: "x"}, storage.Command{})
			if err != nil {
				return err
			}
			_, err = fold.Fire(ctx, "", storage.Command{}, nil)
			return err
		}, itsm.ErrInvalid},
		{"no mutation", func(tx storage.Tx) error {
			fold, err := f.records.FoldCreate(ctx, tx, &ticket{Title: "x"}, storage.Command{})
			if err != nil {
				return err
			}
			_, err = fold.Change(ctx, storage.Command{}, nil)
			return err
		}, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.store.Update(ctx, tt.run)
			require.ErrorIs(t, err, tt.want)
			docs, evs := f.snapshot(t)
			assert.Empty(t, docs)
			assert.Empty(t, evs)
		})
	}
}

// A closed fold hands its buffers to the next one: what it handed out
// stays as it was while the next fold runs.
func TestFoldCloseKeepsWhatItHandedOut(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(24 * time.Hour))
	ctx := as(importer)
	run := func(title string) (storage.Document, []itsm.Event, *storage.Fold[ticket, *ticket]) {
		fold := f.foldTicket(t, ctx, title)
		_, err := fold.Fire(ctx, "start", storage.Command{At: t0.Add(time.Minute)}, nil)
		require.NoError(t, err)
		_, err = fold.Change(ctx, storage.Command{At: t0.Add(2 * time.Minute)}, func(tk *ticket) error { tk.Priority = 1; return nil })
		require.NoError(t, err)
		return fold.Document(), fold.Events(), fold
	}
	doc, evs, first := run("mail slow")
	data := string(doc.Data)
	first.Close()
	first.Close() // a second Close does nothing
	doc2, evs2, second := run("printer down")
	second.Close()
	assert.Equal(t, data, string(doc.Data))
	assert.NotEqual(t, string(doc.Data), string(doc2.Data))
	require.NoError(t, storage.Import(context.Background(), f.store, []storage.Document{doc, doc2}, append(slices.Clone(evs), evs2...)))
	for _, d := range []storage.Document{doc, doc2} {
		require.NoError(t, f.records.Verify(as(agent), d.ID))
	}
}

// A fold checks the text its commands set as the Tx forms do, though it
// does not read again the strings a command left as they were.
func TestFoldRefusesBadText(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(t0.Add(24 * time.Hour))
	ctx := as(importer)
	fold := f.foldTicket(t, ctx, "mail slow")
	at := storage.Command{At: t0.Add(time.Minute)}
	for _, tc := range []struct {
		name   string
		mutate func(*ticket) error
	}{
		{"a string member", func(tk *ticket) error { tk.Title = "bad \xff"; return nil }},
		{"a NUL", func(tk *ticket) error { tk.Title = "bad \x00"; return nil }},
		{"a slice member", func(tk *ticket) error { tk.Comments = append(tk.Comments, "bad \xff"); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fold.Change(ctx, at, tc.mutate)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), "UTF-8")
		})
	}
	_, err := fold.Change(ctx, at, func(tk *ticket) error { tk.Priority = 1; return nil })
	require.NoError(t, err, "text left as it was passes")
	assert.Len(t, fold.Events(), 2)
}

// foldTicket starts a fold creating a ticket of the title at priority 3,
// at t0.
func (f *fixture) foldTicket(t *testing.T, ctx context.Context, title string) *storage.Fold[ticket, *ticket] {
	t.Helper()
	var fold *storage.Fold[ticket, *ticket]
	require.NoError(t, f.store.Update(ctx, func(tx storage.Tx) error {
		var err error
		fold, err = f.records.FoldCreate(ctx, tx, &ticket{Title: title, Priority: 3}, storage.Command{At: t0})
		return err
	}))
	return fold
}
