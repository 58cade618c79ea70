package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/sqlite"
)

// subjects returns the subjects of a person's inbox, newest first.
func subjects(t *testing.T, srv *Server, user string) []string {
	t.Helper()
	notes, err := srv.inbox.of(context.Background(), user)
	require.NoError(t, err)
	var out []string
	for _, n := range notes {
		out = append(out, n.Subject)
	}
	return out
}

// The inbox files a notification once per event, topic and person however
// often it is handed out, reaches a group's members, and lists a person's
// newest first, at most maxInbox of them.
func TestInboxFilesOnce(t *testing.T) {
	ctx := context.Background()
	srv, err := NewServer(ctx, memory.New(), Config{Clock: itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))})
	require.NoError(t, err)
	notify := logNotifier{srv}
	groups := func(g string) []string { return srv.members[g] }
	first := operation.Notification{Kind: operation.KindIncident, Number: "INC0000001", Topic: "assigned", EventID: "e1",
		To: []string{GroupNetwork, "carl"}, Subject: "first"}
	for range 3 { // the log hands an event out at least once
		require.NoError(t, notify.Notify(ctx, first))
	}
	second := first
	second.Topic, second.Subject = "escalation", "second" // the same event, another topic
	require.NoError(t, notify.Notify(ctx, second))
	noEvent := operation.Notification{To: []string{"carl"}, Subject: "no event"}
	require.NoError(t, notify.Notify(ctx, noEvent))
	require.NoError(t, notify.Notify(ctx, noEvent))
	require.NoError(t, srv.inbox.add(ctx, operation.Notification{Subject: "nobody", EventID: "e2"}, groups))

	assert.Equal(t, []string{"no event", "no event", "second", "first"}, subjects(t, srv, "carl"),
		"newest first; a notification without an event counts each time")
	for _, agent := range srv.members[GroupNetwork] {
		assert.Equal(t, []string{"second", "first"}, subjects(t, srv, agent), "the group's member %s", agent)
	}
	assert.Empty(t, subjects(t, srv, "cora"))

	for i := range maxInbox + 5 {
		n := operation.Notification{To: []string{"cora"}, Subject: "n", EventID: "bulk", Topic: string(rune('a' + i))}
		require.NoError(t, notify.Notify(ctx, n))
	}
	assert.Len(t, subjects(t, srv, "cora"), maxInbox)
}

// The inbox is records in the portal's store: closing the store and
// opening it again (a restart) keeps every notification, in order, and
// catching up with the log again files none twice.
func TestInboxSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "desk.db")
	clock := itsm.NewFakeClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	open := func() (*Server, storage.Backend) {
		st, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		// The same session key: the same instance to the stream's leases,
		// as a restarted deployment with its configured key is.
		srv, err := NewServer(ctx, st, Config{Clock: clock, SessionKey: []byte("0123456789abcdef0123456789abcdef")})
		require.NoError(t, err)
		return srv, st
	}
	srv, st := open()
	seeded, ok, err := srv.Seed(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	ann := itsm.WithActor(ctx, srv.byID["ann"].Actor)
	_, err = srv.desk.TakeIncident(ann, seeded.Incident, false, storage.Command{})
	require.NoError(t, err)
	_, err = srv.desk.AddComment(ann, seeded.Incident, "On it", storage.Command{})
	require.NoError(t, err)
	require.NoError(t, srv.CatchUp(ctx))
	before := subjects(t, srv, "carl")
	require.NotEmpty(t, before, "carl hears of his incident")
	agents := subjects(t, srv, "ann")
	require.NotEmpty(t, agents)
	require.NoError(t, st.Close())

	srv, st = open()
	defer st.Close()
	assert.Equal(t, before, subjects(t, srv, "carl"), "kept across the restart")
	assert.Equal(t, agents, subjects(t, srv, "ann"))
	require.NoError(t, srv.CatchUp(ctx))
	assert.Equal(t, before, subjects(t, srv, "carl"), "nothing filed twice")

	// The page reads the same records.
	ts := httptest.NewServer(srv)
	defer ts.Close()
	d := &desk{t: t, srv: srv, store: st, clock: clock, seeded: seeded, url: ts.URL}
	page := text(d.as("carl").get("/notifications").body)
	assert.Contains(t, page, before[0])
	assert.NotContains(t, page, "Nothing new")
}
