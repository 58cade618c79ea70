package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

var pngBytes = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)

type attachFixture struct {
	accessFixture
	dir  string
	atts *storage.Attachments
	call *call
}

func newAttachFixture(t *testing.T, wrap func(storage.Backend) storage.Backend, blobs func(storage.BlobStore) storage.BlobStore) attachFixture {
	t.Helper()
	f := newAccessFixture(t, nil, nil)
	c := &call{Title: "VPN", CallerID: "carl", Group: "network"}
	require.NoError(t, f.recs.Create(as(netAnn), c, storage.Command{}))
	dir := t.TempDir()
	var bs storage.BlobStore
	bs, err := storage.NewDirBlobStore(dir)
	require.NoError(t, err)
	if blobs != nil {
		bs = blobs(bs)
	}
	var b storage.Backend = f.store
	if wrap != nil {
		b = wrap(b)
	}
	atts, err := storage.NewAttachments(context.Background(), b, storage.AttachmentsConfig{
		Blobs: bs, Parents: []storage.AttachmentParent{storage.AttachTo(f.recs)}, Policy: storage.AttachmentPolicy{MaxSize: 1 << 10},
		Authorizer: &itsm.RoleAuthorizer{}}) // grants nobody remove_attachment
	require.NoError(t, err)
	return attachFixture{accessFixture: f, dir: dir, atts: atts, call: c}
}

// blobFiles counts the files the blob directory holds.
func (f attachFixture) blobFiles(t *testing.T) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(f.dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	}))
	return n
}

func (f attachFixture) metadata(t *testing.T) int {
	t.Helper()
	page, err := f.store.Query(context.Background(), storage.Query{Kind: storage.KindAttachment})
	require.NoError(t, err)
	return len(page.Docs)
}

func TestAttachmentsFollowTheRecordAndAuditRemoval(t *testing.T) {
	f := newAttachFixture(t, nil, nil)
	att, err := f.atts.Add(as(carl), "call", f.call.ID, "screen shot.png", "image/png", bytes.NewReader(pngBytes))
	require.NoError(t, err)
	sum := sha256.Sum256(pngBytes)
	assert.Equal(t, hex.EncodeToString(sum[:]), att.SHA256)
	assert.Equal(t, int64(len(pngBytes)), att.Size)
	assert.Equal(t, "image/png", att.ContentType)
	assert.Equal(t, "carl", att.AddedBy)

	for _, who := range []itsm.Actor{carl, netAnn} {
		got, rc, err := f.atts.Open(as(who), att.ID)
		require.NoError(t, err, who.ID)
		b, _ := io.ReadAll(rc)
		rc.Close()
		assert.Equal(t, pngBytes, b)
		assert.Equal(t, att.Name, got.Name)
		list, _, err := f.atts.List(as(who), "call", f.call.ID, storage.Paging{})
		require.NoError(t, err)
		assert.Len(t, list, 1)
	}
	for _, who := range []itsm.Actor{cora, dbDan} {
		_, _, err := f.atts.Open(as(who), att.ID)
		assert.ErrorIs(t, err, itsm.ErrForbidden, who.ID)
		_, _, err = f.atts.List(as(who), "call", f.call.ID, storage.Paging{})
		assert.ErrorIs(t, err, itsm.ErrForbidden, who.ID)
		_, err = f.atts.Add(as(who), "call", f.call.ID, "x.png", "", bytes.NewReader(pngBytes))
		assert.ErrorIs(t, err, itsm.ErrForbidden, who.ID)
		assert.ErrorIs(t, f.atts.Remove(as(who), att.ID, storage.Command{}), itsm.ErrForbidden, who.ID)
	}
	assert.ErrorIs(t, f.atts.Remove(as(netAnn), att.ID, storage.Command{}), itsm.ErrForbidden, "someone else's needs remove_attachment")
	require.NoError(t, f.atts.Remove(as(carl), att.ID, storage.Command{Reason: "wrong file"}))
	_, _, err = f.atts.Open(as(carl), att.ID)
	assert.ErrorIs(t, err, itsm.ErrNotFound)
	assert.Equal(t, 0, f.blobFiles(t))
	evs, err := f.atts.Records().History(as(carl), att.ID)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, "carl", evs[1].Actor)
	assert.Equal(t, "wrong file", evs[1].Reason)
	require.NoError(t, f.atts.Records().Verify(as(carl), att.ID))
}

func TestAttachmentsRefuseBadInputAndWriteNothing(t *testing.T) {
	f := newAttachFixture(t, nil, nil)
	exe := append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 60)...)
	tests := []struct {
		name, file, declared string
		content              []byte
	}{
		{"oversized", "big.txt", "", bytes.Repeat([]byte("a"), 1<<10+1)},
		{"empty", "e.txt", "", nil},
		{"executable declared as an image", "cat.png", "image/png", exe},
		{"html", "page.txt", "", []byte("<html><script>alert(1)</script></html>")},
		{"declared type disagrees", "a.png", "application/pdf", pngBytes},
		{"unparsable declared type", "a.png", "image/png; x", pngBytes},
		{"slash", "../etc/passwd", "", pngBytes},
		{"backslash", `..\boot.ini`, "", pngBytes},
		{"control character", "a\x1b[31m.png", "", pngBytes},
		{"newline", "a\n.png", "", pngBytes},
		{"dot dot", "..", "", pngBytes},
		{"empty name", "", "", pngBytes},
		{"long name", strings.Repeat("n", 256), "", pngBytes},
		{"not UTF-8", "a\xff.png", "", pngBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.atts.Add(as(carl), "call", f.call.ID, tt.file, tt.declared, bytes.NewReader(tt.content))
			assert.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Equal(t, 0, f.blobFiles(t))
			assert.Equal(t, 0, f.metadata(t))
		})
	}
	_, err := f.atts.Add(as(carl), "incident", f.call.ID, "a.png", "", bytes.NewReader(pngBytes))
	assert.ErrorIs(t, err, itsm.ErrInvalid, "a kind that takes no attachments")
	_, err = f.atts.Add(nil, "call", f.call.ID, "a.png", "", bytes.NewReader(pngBytes)) //nolint:staticcheck // bad input
	assert.ErrorIs(t, err, itsm.ErrInvalid)
}

// failingUpdates refuses every unit of work: the metadata write fails.
type failingUpdates struct{ storage.Backend }

var errDiskFull = errors.New("disk full")

func (failingUpdates) Update(context.Context, func(storage.Tx) error) error { return errDiskFull }

// failingBlobs refuses every write.
type failingBlobs struct{ storage.BlobStore }

func (failingBlobs) PutBlob(context.Context, string, []byte) error { return errDiskFull }

func TestAttachmentsLeaveNothingWhenOneHalfFails(t *testing.T) {
	f := newAttachFixture(t, func(b storage.Backend) storage.Backend { return failingUpdates{b} }, nil)
	_, err := f.atts.Add(as(carl), "call", f.call.ID, "a.png", "", bytes.NewReader(pngBytes))
	assert.ErrorIs(t, err, errDiskFull)
	assert.Equal(t, 0, f.blobFiles(t), "no blob left behind when the metadata write fails")

	g := newAttachFixture(t, nil, func(b storage.BlobStore) storage.BlobStore { return failingBlobs{b} })
	_, err = g.atts.Add(as(carl), "call", g.call.ID, "a.png", "", bytes.NewReader(pngBytes))
	assert.ErrorIs(t, err, errDiskFull)
	assert.Equal(t, 0, g.metadata(t), "no metadata when the blob write fails")
}

func TestDocBlobStoreRoundTrip(t *testing.T) {
	f := newAccessFixture(t, nil, nil)
	ctx := context.Background()
	bs, err := storage.NewDocBlobStore(ctx, f.store)
	require.NoError(t, err)
	key := itsm.NewID()
	require.NoError(t, bs.PutBlob(ctx, key, pngBytes))
	rc, err := bs.OpenBlob(ctx, key)
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	assert.Equal(t, pngBytes, b)
	_, err = bs.OpenBlob(itsm.WithTenant(ctx, "acme"), key)
	assert.ErrorIs(t, err, itsm.ErrNotFound, "another tenant's blob")
	require.NoError(t, bs.DeleteBlob(ctx, key))
	require.NoError(t, bs.DeleteBlob(ctx, key), "deleting twice is no error")
	_, err = bs.OpenBlob(ctx, key)
	assert.ErrorIs(t, err, itsm.ErrNotFound)
	assert.ErrorIs(t, bs.PutBlob(ctx, "../x", pngBytes), itsm.ErrInvalid)
}

func TestBlobStoresKeepTheContract(t *testing.T) {
	dir, err := storage.NewDirBlobStore(t.TempDir())
	require.NoError(t, err)
	t.Run("Dir", func(t *testing.T) { storagetest.BlobStore(t, dir) })
	doc, err := storage.NewDocBlobStore(context.Background(), memory.New())
	require.NoError(t, err)
	t.Run("Doc", func(t *testing.T) { storagetest.BlobStore(t, doc) })
}
