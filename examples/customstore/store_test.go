package customstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/examples/customstore"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

var (
	clientOnce sync.Once
	client     *redis.Client
	clientErr  error
)

// redisClient returns the shared test client, skipping the test when Redis
// is not reachable at PILLARS_REDIS_ADDR (default 127.0.0.1:6379).
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	clientOnce.Do(func() {
		addr := os.Getenv("PILLARS_REDIS_ADDR")
		if addr == "" {
			addr = "127.0.0.1:6379"
		}
		client = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		clientErr = client.Ping(context.Background()).Err()
	})
	if clientErr != nil {
		t.Skipf("Redis is not reachable (set PILLARS_REDIS_ADDR; default 127.0.0.1:6379): %v", clientErr)
	}
	return client
}

// newStore returns a Store on a fresh random prefix whose keys are deleted
// when the test ends.
func newStore(t testing.TB) *customstore.Store {
	t.Helper()
	rdb := redisClient(t)
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "pillarstest-" + hex.EncodeToString(b[:])
	s, err := customstore.New(rdb, prefix)
	require.NoError(t, err)
	t.Cleanup(func() { dropPrefix(t, rdb, prefix) })
	return s
}

// dropPrefix deletes every key of a prefix.
func dropPrefix(t testing.TB, rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, "{"+prefix+"}:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			require.NoError(t, rdb.Unlink(ctx, keys...).Err())
			keys = keys[:0]
		}
	}
	require.NoError(t, iter.Err())
	if len(keys) > 0 {
		require.NoError(t, rdb.Unlink(ctx, keys...).Err())
	}
}

func TestConformance(t *testing.T) {
	redisClient(t)
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newStore(t) })
}
