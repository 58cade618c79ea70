package customstore_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// benchSchema is an incident-like kind: a queue index and a counter field
// that every benchmark write changes.
var benchSchema = storage.Schema{
	Kind: "incident",
	Fields: []storage.Field{{Name: "assignment_group", Type: storage.TypeString}, {Name: "state", Type: storage.TypeString},
		{Name: "priority", Type: storage.TypeInt}, {Name: "opened_at", Type: storage.TypeTime}, {Name: "reassignment_count", Type: storage.TypeInt}},
	Indexes: []storage.Index{{Name: "queue", Fields: []string{"assignment_group", "state", "priority", "opened_at"}}},
}

var benchOpened = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

func benchDoc(id string, version, count int64) storage.Document {
	return storage.Document{Kind: "incident", ID: id, Version: version,
		Data: fmt.Appendf(nil, `{"short_description":"printer on fire","reassignment_count":%d}`, count),
		Fields: []storage.Value{storage.String("network"), storage.String("new"), storage.Int(int64(1 + count%5)),
			storage.Time(benchOpened.Add(time.Duration(count) * time.Second)), storage.Int(count)}}
}

// uowDoc is the benchmark's incident at a version: only its reassignment
// count (and so its two index entries for that field) changes.
func uowDoc(version int64) storage.Document {
	d := benchDoc("inc1", version, 0)
	d.Data = fmt.Appendf(nil, `{"short_description":"printer on fire","reassignment_count":%d}`, version)
	d.Fields[4] = storage.Int(version)
	return d
}

// BenchmarkUnitOfWork compares one read-modify-write unit (Get, Put at the
// next version, Append one event) through the adapter with the same Redis
// commands sent by hand: HMGET, then one MULTI/EXEC with HSET, ZREM/ZADD on
// the two index entries the write moves, INCR, XADD and RPUSH — everything but the
// version check, the encodings and the contract.
func BenchmarkUnitOfWork(b *testing.B) {
	s := newStore(b)
	ctx := b.Context()
	require.NoError(b, s.Register(ctx, benchSchema))
	require.NoError(b, s.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, uowDoc(1), 0) }))
	event := func(v int64) itsm.Event {
		e := itsm.Event{ID: itsm.NewID(), Kind: "incident", RecordID: "inc1", Number: "INC0000001", RecordVersion: v,
			Name: itsm.EventUpdate, From: "new", To: "new", Actor: "alice", At: benchOpened, RecordedAt: benchOpened,
			Changes: []itsm.FieldChange{{Field: "reassignment_count", From: strconv.FormatInt(v-2, 10), To: strconv.FormatInt(v-1, 10)}}}
		itsm.Seal(&e, "")
		return e
	}

	b.Run("adapter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			err := s.Update(ctx, func(tx storage.Tx) error {
				d, err := tx.Get(ctx, "incident", "inc1")
				if err != nil {
					return err
				}
				if err := tx.Put(ctx, uowDoc(d.Version+1), d.Version); err != nil {
					return err
				}
				return tx.Append(ctx, event(d.Version+1))
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("raw_go_redis", func(b *testing.B) {
		rdb := redisClient(b)
		p := "{" + s.Prefix() + "}:raw:"
		require.NoError(b, rdb.HSet(ctx, p+"doc", "v", 1, "d", "{}", "f", "").Err())
		b.ReportAllocs()
		for b.Loop() {
			r, err := rdb.HMGet(ctx, p+"doc", "v", "d", "f").Result()
			if err != nil {
				b.Fatal(err)
			}
			v, _ := strconv.ParseInt(r[0].(string), 10, 64)
			body, _ := json.Marshal(event(v + 1))
			old, cur := "network\x00new\x00"+strconv.FormatInt(v-1, 10)+"\x00inc1", "network\x00new\x00"+strconv.FormatInt(v, 10)+"\x00inc1"
			_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.HSet(ctx, p+"doc", "v", v+1, "d", fmt.Appendf(nil, `{"short_description":"printer on fire","reassignment_count":%d}`, v), "f", cur)
				for _, k := range []string{"f:count:a", "f:count:d"} {
					pipe.ZRem(ctx, p+k, old)
					pipe.ZAdd(ctx, p+k, redis.Z{Member: cur})
				}
				seq := pipe.Incr(ctx, p+"logseq")
				_ = seq
				pipe.XAdd(ctx, &redis.XAddArgs{Stream: p + "log", Values: []any{"e", body}})
				pipe.RPush(ctx, p+"hist", body)
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkQueuePage reads the first page (50) of a queue: one group and
// state, by priority then opened time, out of 2,000 incidents in 4 groups.
// The baseline is ZRANGEBYLEX on a hand-kept index plus a pipelined HMGET of
// the 50 hashes.
func BenchmarkQueuePage(b *testing.B) {
	s := newStore(b)
	ctx := b.Context()
	require.NoError(b, s.Register(ctx, benchSchema))
	rdb := redisClient(b)
	p := "{" + s.Prefix() + "}:raw:"
	groups := []string{"network", "desktop", "database", "service_desk"}
	const n = 2000
	require.NoError(b, s.Update(ctx, func(tx storage.Tx) error {
		for i := range n {
			d := benchDoc(fmt.Sprintf("inc%05d", i), 1, int64(i))
			d.Fields[0] = storage.String(groups[i%4])
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range n {
			id := fmt.Sprintf("inc%05d", i)
			pipe.HSet(ctx, p+"doc:"+id, "v", 1, "d", "{}", "f", "x")
			pipe.ZAdd(ctx, p+"queue", redis.Z{Member: fmt.Sprintf("%s\x00new\x00%d\x00%020d\x00%s", groups[i%4], 1+i%5, i, id)})
		}
		return nil
	})
	require.NoError(b, err)
	q := storage.Query{Kind: "incident", Filters: []storage.Filter{storage.Eq("assignment_group", storage.String("network")), storage.Eq("state", storage.String("new"))},
		Sort: []storage.Sort{{Field: "priority"}, {Field: "opened_at"}}, Limit: 50}

	b.Run("adapter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			page, err := s.Query(ctx, q)
			if err != nil || len(page.Docs) != 50 {
				b.Fatal(err, len(page.Docs))
			}
		}
	})
	b.Run("raw_go_redis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ms, err := rdb.ZRangeByLex(ctx, p+"queue", &redis.ZRangeBy{Min: "[network\x00new\x00", Max: "(network\x00new\x01", Count: 51}).Result()
			if err != nil || len(ms) != 51 {
				b.Fatal(err, len(ms))
			}
			cmds, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
				for _, m := range ms[:50] {
					pipe.HMGet(ctx, p+"doc:"+m[len(m)-8:], "v", "d", "f")
				}
				return nil
			})
			if err != nil || len(cmds) != 50 {
				b.Fatal(err)
			}
		}
	})
}
