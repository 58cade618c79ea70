package transition_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/internal/badinput"
	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/transition"
)

var (
	t0      = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	agent   = itsm.Actor{ID: "ann", Name: "Ann Agent", Roles: []string{"agent"}, Groups: []string{"cab", "network"}}
	admin   = itsm.Actor{ID: "root", Roles: []string{"admin"}}
	callerA = itsm.Actor{ID: "carl", Roles: []string{"caller"}}
)

func as(a itsm.Actor) context.Context { return itsm.WithActor(context.Background(), a) }

type env struct {
	store storage.Backend
	clock *itsm.FakeClock
	cmdb  *transition.CMDB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, memory.New())
}

// newEnvOn builds the CMDB on the given store.
func newEnvOn(t testing.TB, store storage.Backend) *env {
	t.Helper()
	clock := itsm.NewFakeClock(t0)
	c, err := transition.NewCMDB(context.Background(), store, transition.CMDBConfig{Clock: clock})
	require.NoError(t, err)
	return &env{store: store, clock: clock, cmdb: c}
}

// ci creates an installed CI and returns its id.
func (e *env) ci(t testing.TB, name, class string) string {
	t.Helper()
	c := &transition.CI{Name: name, Class: class}
	require.NoError(t, e.cmdb.CreateInstalledCI(as(agent), c, storage.Command{}))
	return c.ID
}

func (e *env) rel(t testing.TB, parent, typ, child string) string {
	t.Helper()
	r, err := e.cmdb.Relate(as(agent), parent, typ, child, storage.Command{})
	require.NoError(t, err)
	return r.ID
}

// snapshot is everything the store holds for the given kinds, plus the
// whole event log.
type snapshot = badinput.Snapshot

func takeSnapshot(t testing.TB, s storage.Backend, kinds ...string) snapshot {
	t.Helper()
	return badinput.Take(t, s, kinds...)
}

var cmdbKinds = []string{transition.KindCI, transition.KindRelationship, transition.KindBaseline}
