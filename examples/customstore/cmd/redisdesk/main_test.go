package main

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	addr := envOr("PILLARS_REDIS_ADDR", "127.0.0.1:6379")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Skipf("Redis is not reachable at %s (set PILLARS_REDIS_ADDR): %v", addr, err)
	}
	prefix := "redisdesk-test-" + strings.ReplaceAll(t.Name(), "/", "_")
	require.NoError(t, drop(t.Context(), rdb, prefix))
	t.Cleanup(func() { require.NoError(t, drop(context.Background(), rdb, prefix)) })
	var out strings.Builder
	require.NoError(t, run(t.Context(), &out, rdb, prefix))
	want := `raised INC0000001 P2 network: VPN drops every ten minutes
raised INC0000002 P1 network: Core switch down in building B
raised INC0000003 P3 desktop: Laptop will not boot
carl may not resolve INC0000001: forbidden=true
network queue, state new, by priority:
  INC0000002 P1 Core switch down in building B
event log:
  #1 INC0000001 create  -> new by carl
  #2 INC0000002 create  -> new by carl
  #3 INC0000003 create  -> new by carl
  #4 INC0000001 start new -> in_progress by ann
INC0000001: hash chain verified
`
	require.Equal(t, want, out.String())
}
