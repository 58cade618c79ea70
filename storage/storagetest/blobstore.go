package storagetest

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// BlobStore checks a storage.BlobStore against its doc comment: content
// comes back byte for byte (binary and a mebibyte included), another
// tenant's key is ErrNotFound, a missing key is ErrNotFound to OpenBlob
// and no error to DeleteBlob, and a key that is not a UUID is ErrInvalid.
func BlobStore(t *testing.T, bs storage.BlobStore) {
	ctx := context.Background()
	acme := itsm.WithTenant(ctx, "acme")
	read := func(t *testing.T, ctx context.Context, key string) ([]byte, error) {
		t.Helper()
		rc, err := bs.OpenBlob(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	contents := map[string][]byte{
		"binary": {0, 1, 2, 0xff, 0xfe, '"', '\\', '\n'},
		"1 MiB":  bytes.Repeat([]byte("0123456789abcdef"), 1<<16),
	}
	for name, content := range contents {
		key := itsm.NewID()
		require.NoError(t, bs.PutBlob(ctx, key, content), name)
		got, err := read(t, ctx, key)
		require.NoError(t, err, name)
		assert.Equal(t, content, got, name)
		_, err = read(t, acme, key)
		assert.ErrorIs(t, err, itsm.ErrNotFound, "%s: another tenant's blob", name)
		require.NoError(t, bs.DeleteBlob(acme, key), "%s: deleting under another tenant deletes nothing", name)
		_, err = read(t, ctx, key)
		require.NoError(t, err, name)
		require.NoError(t, bs.DeleteBlob(ctx, key), name)
		_, err = read(t, ctx, key)
		assert.ErrorIs(t, err, itsm.ErrNotFound, name)
		assert.NoError(t, bs.DeleteBlob(ctx, key), "%s: a missing blob deletes without error", name)
	}
	for _, key := range []string{"", "../../etc/passwd", "a/b", "x"} {
		assert.ErrorIs(t, bs.PutBlob(ctx, key, []byte("x")), itsm.ErrInvalid, "key %q", key)
		_, err := bs.OpenBlob(ctx, key)
		assert.ErrorIs(t, err, itsm.ErrInvalid, "key %q", key)
	}
}
