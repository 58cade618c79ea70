package operation_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// runNotifications runs the desk's notification handler as a consumer
// until the log is read.
func runNotifications(t *testing.T, f fixture, name string) *stream.Consumer {
	t.Helper()
	c, err := stream.NewConsumer(context.Background(), f.store, stream.ConsumerConfig{Name: name, Handler: f.desk.Notifications()})
	require.NoError(t, err)
	for range 100 {
		n, err := c.RunOnce(context.Background())
		require.NoError(t, err)
		if n == 0 {
			return c
		}
	}
	t.Fatal("the log did not end")
	return nil
}

func sent(n *notifier) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, x := range n.sent {
		out = append(out, x.Topic+" "+x.Number+" -> "+strings.Join(x.To, ","))
	}
	return out
}

// The desk's events become notifications through the Notifier: the
// assignee on assignment, the caller on state changes and on comments by
// others, the approval group when a request waits for it; never the
// person who acted.
func TestNotificationsFromTheLog(t *testing.T) {
	f := newFixture(t)
	carl := as(itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	ann := as(itsm.Actor{ID: "ann", Roles: []string{"agent"}, Groups: []string{"network"}})
	bob := as(itsm.Actor{ID: "bob", Roles: []string{"agent"}, Groups: []string{"network"}})

	inc := &operation.Incident{ShortDescription: "VPN down", Impact: 2, Urgency: 2}
	require.NoError(t, f.desk.OpenIncident(carl, inc, storage.Command{}))
	_, err := f.desk.AssignIncident(bob, inc.ID, "network", "ann", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.StartIncident(ann, inc.ID, storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.AddComment(ann, inc.ID, "please try again", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.AddComment(carl, inc.ID, "still broken", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.AddWorkNote(ann, inc.ID, "internal", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.AssignIncident(ann, inc.ID, "network", "", storage.Command{})
	require.NoError(t, err)
	_, err = f.desk.ResolveIncident(bob, inc.ID, operation.ResolvedWorkaround, "MTU lowered", storage.Command{})
	require.NoError(t, err)
	req := &operation.Request{CatalogItemID: "laptop", Variables: map[string]string{"model": "13-inch"}}
	require.NoError(t, f.desk.SubmitRequest(carl, req, storage.Command{}))
	f.note.mu.Lock()
	f.note.sent = nil // nothing above called the Notifier directly
	f.note.mu.Unlock()

	runNotifications(t, f, "notifications")
	assert.Equal(t, []string{
		"assigned INC0000001 -> ann",
		"state_changed INC0000001 -> carl", // started by ann herself: only the caller hears
		"comment INC0000001 -> carl",
		"assigned INC0000001 -> network",   // ann gave it back to the group
		"state_changed INC0000001 -> carl", // resolved by bob; ann is no longer assigned
		"approval_requested REQ0000001 -> approvers",
	}, sent(f.note))
	f.note.mu.Lock()
	defer f.note.mu.Unlock()
	for _, n := range f.note.sent {
		assert.NotEmpty(t, n.EventID)
		assert.NotEmpty(t, n.Subject)
	}
	assert.Equal(t, "please try again", f.note.sent[2].Body)
}

// failingNotifier fails its first calls.
type failingNotifier struct {
	notifier
	fail int
}

func (n *failingNotifier) Notify(ctx context.Context, x operation.Notification) error {
	if _, ok := itsm.TenantFrom(ctx); !ok {
		return errors.New("no tenant in the context")
	}
	n.mu.Lock()
	if n.fail > 0 {
		n.fail--
		n.mu.Unlock()
		return errors.New("mail server down")
	}
	n.mu.Unlock()
	return n.notifier.Notify(ctx, x)
}

// A Notify error leaves the batch to be handed in again: nothing is lost.
func TestNotificationsRetryAfterAFailure(t *testing.T) {
	fn := &failingNotifier{fail: 1}
	f := newFixture(t, func(c *operation.Config) { c.Notifier = fn })
	carl := as(itsm.Actor{ID: "carl", Roles: []string{"caller"}})
	bob := as(itsm.Actor{ID: "bob", Roles: []string{"agent"}, Groups: []string{"network"}})
	inc := &operation.Incident{ShortDescription: "VPN down", Impact: 2, Urgency: 2}
	require.NoError(t, f.desk.OpenIncident(carl, inc, storage.Command{}))
	_, err := f.desk.AssignIncident(bob, inc.ID, "network", "ann", storage.Command{})
	require.NoError(t, err)

	c, err := stream.NewConsumer(context.Background(), f.store, stream.ConsumerConfig{Name: "n", Handler: f.desk.Notifications()})
	require.NoError(t, err)
	_, err = c.RunOnce(context.Background())
	require.ErrorContains(t, err, "mail server down")
	_, err = c.RunOnce(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"assigned INC0000001 -> ann"}, sent(&fn.notifier))
}

// Events the handler does not know, or cannot read, are passed over
// without a panic; without a Notifier every batch is acknowledged.
func TestNotificationsOddEvents(t *testing.T) {
	f := newFixture(t)
	h := f.desk.Notifications()
	ctx := context.Background()
	odd := []itsm.Event{
		{Kind: "change", Name: "approve", From: "a", To: "b"},
		{Kind: operation.KindIncident, RecordID: itsm.NewID(), Name: "start", From: "new", To: "in_progress"},
		{Kind: operation.KindIncident, RecordID: itsm.NewID(), Name: "update", Changes: []itsm.FieldChange{
			{Field: "assigned_to", To: "{not json"}, {Field: "comments", To: "[{bad", Appended: true}}},
		{Kind: operation.KindRequest, RecordID: itsm.NewID(), Name: operation.EventRequestApproval, From: "new", To: "awaiting_approval"},
	}
	require.NoError(t, h.Handle(ctx, odd))
	assert.Empty(t, sent(f.note))

	quiet := newFixture(t, func(c *operation.Config) { c.Notifier = nil })
	require.NoError(t, quiet.desk.Notifications().Handle(ctx, odd))
}
