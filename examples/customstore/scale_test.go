package customstore_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// TestScale loads a million incidents (PILLARS_SCALE=1; the count can be
// changed with PILLARS_REDIS_SCALE_DOCS) and shows that a queue page costs
// the same at that size as on a store of 2,000, since it is read straight off
// one sorted set; it logs load rate, page times and Redis memory per
// incident. It writes nothing but its own prefix, deleted at the end.
func TestScale(t *testing.T) {
	if os.Getenv("PILLARS_SCALE") != "1" {
		t.Skip("set PILLARS_SCALE=1 to load a million incidents into Redis")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("PILLARS_REDIS_SCALE_DOCS")); err == nil && v > 0 {
		n = v
	}
	// A database of its own, so other tests' clean-ups never scan the
	// million.
	rdb := redis.NewClient(&redis.Options{Addr: redisClient(t).Options().Addr, DB: testDB() + 1})
	t.Cleanup(func() { _ = rdb.Close() })
	small, s := newStoreOn(t, rdb), newStoreOn(t, rdb)
	ctx := t.Context()
	require.NoError(t, small.Register(ctx, benchSchema))
	require.NoError(t, s.Register(ctx, benchSchema))
	groups := []string{"network", "desktop", "database", "service_desk", "identity", "storage", "email", "erp"}
	states := []string{"new", "in_progress", "on_hold", "resolved", "closed"}
	load := func(s storage.Backend, n int) {
		const unit = 1000
		for base := 0; base < n; base += unit {
			docs := make([]storage.Document, 0, unit)
			for i := base; i < min(base+unit, n); i++ {
				d := benchDoc(fmt.Sprintf("inc%07d", i), 1, int64(i))
				d.Fields[0] = storage.String(groups[i%len(groups)])
				d.Fields[1] = storage.String(states[(i/7)%len(states)])
				docs = append(docs, d)
			}
			ev := itsm.Event{ID: itsm.NewID(), Kind: "incident", RecordID: "batch", RecordVersion: int64(base/unit + 1), Name: "import"}
			require.NoError(t, storage.Import(ctx, s, docs, []itsm.Event{ev}))
		}
	}
	const smallN = 2000
	load(small, smallN)
	memBefore := usedMemory(t, rdb)
	start := time.Now()
	load(s, n)
	took := time.Since(start)
	t.Logf("loaded %d incidents in %s: %.0f/s, %.0f bytes of Redis memory each", n, took.Round(time.Millisecond),
		float64(n)/took.Seconds(), float64(usedMemory(t, rdb)-memBefore)/float64(n))

	// Each query runs on the small and the big store alternately, so both
	// see the same machine load; the ratio is the figure that matters.
	timeQuery := func(what string, q storage.Query, pages int) {
		t.Helper()
		const runs = 20
		var took [2]time.Duration
		for range runs {
			for i, b := range []storage.Backend{small, s} {
				q := q
				began := time.Now()
				for range pages {
					page, err := b.Query(ctx, q)
					require.NoError(t, err, what)
					require.NotEmpty(t, page.Docs, what)
					q.Cursor = page.Next
				}
				took[i] += time.Since(began)
			}
		}
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / runs / float64(pages) }
		t.Logf("%-48s %d: %6.2f ms/page   %d: %6.2f ms/page   ratio %.2f", what, smallN, per(took[0]), n, per(took[1]), per(took[1])/per(took[0]))
	}
	queue := storage.Query{Kind: "incident", Filters: []storage.Filter{storage.Eq("assignment_group", storage.String("network")), storage.Eq("state", storage.String("new"))},
		Sort: []storage.Sort{{Field: "priority"}, {Field: "opened_at"}}, Limit: 50}
	timeQuery("queue (group, state; priority, opened)", queue, 1)
	timeQuery("queue: pages 1-10 through cursors", queue, 10)
	newest := queue
	newest.Sort = []storage.Sort{{Field: "priority", Desc: true}, {Field: "opened_at", Desc: true}}
	timeQuery("queue newest first (descending twin)", newest, 1)
	timeQuery("all incidents by id", storage.Query{Kind: "incident", Limit: 50}, 1)
	timeQuery("opened since a time, newest first", storage.Query{Kind: "incident",
		Filters: []storage.Filter{storage.Gte("opened_at", storage.Time(benchOpened.Add(time.Duration(smallN-600)*time.Second)))},
		Sort:    []storage.Sort{{Field: "opened_at", Desc: true}}, Limit: 50}, 1)
	timeQuery("one group by id (equality on one field)", storage.Query{Kind: "incident",
		Filters: []storage.Filter{storage.Eq("assignment_group", storage.String("email"))}, Limit: 50}, 1)
	require.NoError(t, rdb.Ping(ctx).Err())
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	info, err := rdb.Info(t.Context(), "memory").Result()
	require.NoError(t, err)
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}
