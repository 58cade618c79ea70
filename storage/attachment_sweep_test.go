package storage_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// failOnce fails the first DeleteBlob, as an object store that is down
// for a moment would, so a removal leaves its content behind.
type failOnce struct {
	storage.BlobStore
	storage.BlobLister
	failed bool
}

func (f *failOnce) DeleteBlob(ctx context.Context, key string) error {
	if !f.failed {
		f.failed = true
		return errors.New("object store down")
	}
	return f.BlobStore.DeleteBlob(ctx, key)
}

// noList is a blob store that cannot list its content.
type noList struct{ storage.BlobStore }

// TestSweepDeletesOnlyContentNoStoredAttachmentNames runs on both blob
// stores: content with no record and content of a removed record go once
// older than the grace; a stored attachment's content, young content,
// content under an undated key and another tenant's content stay.
func TestSweepDeletesOnlyContentNoStoredAttachmentNames(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T, b storage.Backend) interface {
			storage.BlobStore
			storage.BlobLister
		}
	}{
		{"dir", func(t *testing.T, _ storage.Backend) interface {
			storage.BlobStore
			storage.BlobLister
		} {
			d, err := storage.NewDirBlobStore(t.TempDir())
			require.NoError(t, err)
			return d
		}},
		{"doc", func(t *testing.T, b storage.Backend) interface {
			storage.BlobStore
			storage.BlobLister
		} {
			d, err := storage.NewDocBlobStore(context.Background(), b)
			require.NoError(t, err)
			return d
		}},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newAccessFixture(t, nil, nil)
			c := &call{Title: "VPN", CallerID: "carl", Group: "network"}
			require.NoError(t, f.recs.Create(as(netAnn), c, storage.Command{}))
			blobs := s.open(t, f.store)
			flaky := &failOnce{BlobStore: blobs, BlobLister: blobs}
			clock := itsm.NewFakeClock(time.Now().UTC())
			atts, err := storage.NewAttachments(context.Background(), f.store, storage.AttachmentsConfig{
				Blobs: flaky, Parents: []storage.AttachmentParent{storage.AttachTo(f.recs)}, Clock: clock})
			require.NoError(t, err)
			ctx := context.Background()

			kept, err := atts.Add(as(carl), "call", c.ID, "kept.png", "", bytes.NewReader(pngBytes))
			require.NoError(t, err)
			removed, err := atts.Add(as(carl), "call", c.ID, "removed.png", "", bytes.NewReader(pngBytes))
			require.NoError(t, err)
			err = atts.Remove(as(carl), removed.ID, storage.Command{})
			require.ErrorContains(t, err, "blob left behind", "the first delete fails")
			orphan := itsm.NewID() // a metadata write that never happened
			require.NoError(t, blobs.PutBlob(ctx, orphan, pngBytes))
			undated := uuid.NewString() // version 4: no time in the key
			require.NoError(t, blobs.PutBlob(ctx, undated, pngBytes))
			acme := itsm.WithTenant(ctx, "acme")
			other := itsm.NewID()
			require.NoError(t, blobs.PutBlob(acme, other, pngBytes))

			// Everything is younger than the grace: nothing goes.
			rep, err := atts.Sweep(as(admin), 0)
			require.NoError(t, err)
			assert.Equal(t, storage.SweepReport{Listed: 4, Kept: 1, Young: 2, Undated: 1}, rep)

			clock.Advance(2 * time.Hour)
			rep, err = atts.Sweep(as(admin), 0)
			require.NoError(t, err)
			assert.Equal(t, 4, rep.Listed)
			assert.Equal(t, 1, rep.Kept)
			assert.Equal(t, 1, rep.Undated)
			assert.ElementsMatch(t, []string{removed.ID, orphan}, rep.Deleted)
			for _, key := range []string{removed.ID, orphan} {
				_, err := blobs.OpenBlob(ctx, key)
				assert.ErrorIs(t, err, itsm.ErrNotFound, key)
			}
			for _, key := range []string{kept.ID, undated} {
				rc, err := blobs.OpenBlob(ctx, key)
				require.NoError(t, err, key)
				rc.Close()
			}
			rc, err := blobs.OpenBlob(acme, other)
			require.NoError(t, err, "another tenant's content is not this sweep's")
			rc.Close()
			// The records are untouched: the removal's audit trail stays.
			require.NoError(t, atts.Records().Verify(as(carl), removed.ID))
			_, content, err := atts.Open(as(carl), kept.ID)
			require.NoError(t, err)
			content.Close()

			// A second sweep finds nothing more.
			rep, err = atts.Sweep(as(admin), time.Minute)
			require.NoError(t, err)
			assert.Empty(t, rep.Deleted)
			assert.Equal(t, 2, rep.Listed)
		})
	}
}

func TestSweepRefusals(t *testing.T) {
	f := newAccessFixture(t, nil, nil)
	dir, err := storage.NewDirBlobStore(t.TempDir())
	require.NoError(t, err)
	open := func(b storage.BlobStore) *storage.Attachments {
		a, err := storage.NewAttachments(context.Background(), f.store, storage.AttachmentsConfig{
			Blobs: b, Parents: []storage.AttachmentParent{storage.AttachTo(f.recs)}})
		require.NoError(t, err)
		return a
	}
	atts := open(dir)
	orphan := itsm.NewID()
	require.NoError(t, dir.PutBlob(context.Background(), orphan, pngBytes))
	tests := []struct {
		name string
		atts *storage.Attachments
		ctx  context.Context
		grac time.Duration
		want error
	}{
		{"a caller", atts, as(carl), time.Nanosecond, itsm.ErrForbidden},
		{"an actor with no role", atts, as(itsm.Actor{ID: "x"}), time.Nanosecond, itsm.ErrForbidden},
		{"nil context", atts, nil, time.Nanosecond, itsm.ErrInvalid},
		{"negative grace", atts, as(admin), -time.Second, itsm.ErrInvalid},
		{"a blob store that cannot list", open(noList{dir}), as(admin), time.Nanosecond, itsm.ErrInvalid},
		{"a malformed tenant", atts, itsm.WithTenant(as(admin), "no spaces allowed"), time.Nanosecond, itsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := tt.atts.Sweep(tt.ctx, tt.grac)
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, rep.Deleted)
			rc, err := dir.OpenBlob(context.Background(), orphan)
			require.NoError(t, err, "nothing was deleted")
			rc.Close()
		})
	}
}
