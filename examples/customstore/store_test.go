package customstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/examples/customstore"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/storagetest"
)

var (
	clientOnce sync.Once
	client     *redis.Client
	clientErr  error
)

// testDB is the logical database the tests use (PILLARS_REDIS_DB, default
// 9): cleaning up a prefix scans the keys of one database, so keeping the
// tests apart from whatever else the machine's Redis holds in database 0
// keeps each clean-up short.
func testDB() int {
	if n, err := strconv.Atoi(os.Getenv("PILLARS_REDIS_DB")); err == nil && n >= 0 {
		return n
	}
	return 9
}

// redisClient returns the shared test client, skipping the test when Redis
// is not reachable at PILLARS_REDIS_ADDR (default 127.0.0.1:6379).
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	clientOnce.Do(func() {
		addr := os.Getenv("PILLARS_REDIS_ADDR")
		if addr == "" {
			addr = "127.0.0.1:6379"
		}
		client = redis.NewClient(&redis.Options{Addr: addr, DB: testDB(), PoolSize: 64})
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
	return newStoreOn(t, redisClient(t))
}

// newStoreOn is newStore on a given client.
func newStoreOn(t testing.TB, rdb *redis.Client) *customstore.Store {
	t.Helper()
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
	iter := rdb.Scan(ctx, 0, "{"+prefix+"}:*", 10_000).Iterator()
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

// TestConformance runs the whole storage contract suite. Every test of the
// suite runs; by default with the suite's Light counts (16 writers x 50
// increments instead of x 500, 600 documents to page instead of 3,000), so
// that go test takes seconds over a network round trip per call on a shared
// machine. PILLARS_SCALE=1 runs the full counts.
//
// Reopen opens a second Store on the same prefix, as a restarted instance
// would, so the schema-change area also migrates a kind an earlier Store
// registered.
func TestConformance(t *testing.T) {
	rdb := redisClient(t)
	opts := []storagetest.Option{storagetest.Reopen(func(t *testing.T, b storage.Backend) storage.Backend {
		s, err := customstore.New(rdb, b.(*customstore.Store).Prefix())
		require.NoError(t, err)
		return s
	})}
	if os.Getenv("PILLARS_SCALE") != "1" {
		opts = append(opts, storagetest.Light())
	}
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newStoreOn(t, rdb) }, opts...)
}

func TestNewRefusesBadInput(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	cases := map[string]struct {
		rdb    redis.UniversalClient
		prefix string
	}{
		"nil client":     {nil, "ok"},
		"empty prefix":   {rdb, ""},
		"hash tag":       {rdb, "a{b}"},
		"space":          {rdb, "a b"},
		"glob":           {rdb, "a*"},
		"colon":          {rdb, "a:b"},
		"unicode":        {rdb, "é"},
		"newline":        {rdb, "a\nb"},
		"empty with tag": {rdb, "{}"},
	}
	for what, c := range cases {
		s, err := customstore.New(c.rdb, c.prefix)
		require.ErrorIs(t, err, itsm.ErrInvalid, what)
		require.Nil(t, s, what)
	}
}

// An unreachable Redis gives errors, never panics, and never a sentinel
// that would make a caller believe something about the data.
func TestUnreachable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	s, err := customstore.New(rdb, "down")
	require.NoError(t, err)
	ctx := t.Context()
	sc := storage.Schema{Kind: "thing", Fields: []storage.Field{{Name: "n", Type: storage.TypeInt}}}
	calls := map[string]func() error{
		"Register":   func() error { return s.Register(ctx, sc) },
		"ReadEvents": func() error { _, err := s.ReadEvents(ctx, 0, 10); return err },
		"History":    func() error { _, err := s.History(ctx, "thing", "a"); return err },
		"Update": func() error {
			return s.Update(ctx, func(tx storage.Tx) error { _, err := tx.NextSequence(ctx, "x"); return err })
		},
	}
	for what, call := range calls {
		err := call()
		require.Error(t, err, what)
		for _, sentinel := range []error{itsm.ErrNotFound, itsm.ErrConflict, itsm.ErrInvalid} {
			require.NotErrorIs(t, err, sentinel, what)
		}
	}
}

// Two Store values on one prefix are two app instances sharing a Redis:
// they see each other's writes, agree on schemas, never lose an update and
// number events without gaps or repeats.
func TestTwoInstances(t *testing.T) {
	a := newStore(t)
	rdb := redisClient(t)
	b, err := customstore.New(rdb, a.Prefix())
	require.NoError(t, err)
	ctx := t.Context()
	sc := storage.Schema{Kind: "counter", Fields: []storage.Field{{Name: "n", Type: storage.TypeInt}}}
	require.NoError(t, a.Register(ctx, sc))
	other := sc
	other.Fields = []storage.Field{{Name: "n", Type: storage.TypeString}}
	var sce *storage.SchemaChangeError
	require.ErrorAs(t, b.Register(ctx, other), &sce, "the schema lives in Redis, not in one instance: a type change is refused")
	require.NoError(t, b.Register(ctx, sc))

	doc := func(v, n int64) storage.Document {
		return storage.Document{Kind: "counter", ID: "c", Version: v, Fields: []storage.Value{storage.Int(n)}}
	}
	require.NoError(t, a.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, doc(1, 0), 0) }))
	const perInstance = 40
	var wg sync.WaitGroup
	for _, s := range []*customstore.Store{a, b, a, b} {
		wg.Go(func() {
			for done := 0; done < perInstance; {
				err := s.Update(ctx, func(tx storage.Tx) error {
					d, err := tx.Get(ctx, "counter", "c")
					if err != nil {
						return err
					}
					ev := itsm.Event{ID: itsm.NewID(), Kind: "counter", RecordID: "c", RecordVersion: d.Version + 1, Name: itsm.EventUpdate}
					if err := tx.Put(ctx, doc(d.Version+1, d.Fields[0].Int64()+1), d.Version); err != nil {
						return err
					}
					return tx.Append(ctx, ev)
				})
				if err == nil {
					done++
				} else if !assert.ErrorIs(t, err, itsm.ErrConflict) {
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := b.Get(ctx, "counter", "c")
	require.NoError(t, err)
	require.Equal(t, int64(4*perInstance), got.Fields[0].Int64())
	evs, err := a.ReadEvents(ctx, 0, 1000)
	require.NoError(t, err)
	require.Len(t, evs, 4*perInstance)
	for i, e := range evs {
		require.Equal(t, int64(i+1), e.Seq, "Seq is dense: numbered inside the commit script")
	}
}

// Data someone else wrote under the prefix is reported, not trusted.
func TestCorruptData(t *testing.T) {
	s := newStore(t)
	rdb := redisClient(t)
	ctx := t.Context()
	sc := storage.Schema{Kind: "thing", Fields: []storage.Field{{Name: "n", Type: storage.TypeInt}}}
	require.NoError(t, s.Register(ctx, sc))
	key := "{" + s.Prefix() + "}:doc:thing:"
	require.NoError(t, rdb.HSet(ctx, key+"bad_version", "v", "x", "d", "", "f", "").Err())
	require.NoError(t, rdb.HSet(ctx, key+"bad_fields", "v", "1", "d", "", "f", "abc").Err())
	for _, id := range []string{"bad_version", "bad_fields"} {
		_, err := s.Get(ctx, "thing", id)
		require.Error(t, err, id)
		require.NotErrorIs(t, err, itsm.ErrNotFound, id)
		err = s.Update(ctx, func(tx storage.Tx) error { _, err := tx.Get(ctx, "thing", id); return err })
		require.Error(t, err, id)
	}
	require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: "{" + s.Prefix() + "}:log", ID: "1-0", Values: []string{"e", "{not json"}}).Err())
	_, err := s.ReadEvents(ctx, 0, 10)
	require.Error(t, err)
	require.NoError(t, rdb.ZAdd(ctx, "{"+s.Prefix()+"}:ix:thing:id", redis.Z{Member: "\xff"}).Err())
	_, err = s.Query(ctx, storage.Query{Kind: "thing"})
	require.Error(t, err, "an index member that names no id")
}
