package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/storage/sqlite"
	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/internal/fixture"
	"github.com/pillars-itsm/pillars/storage/stream/webhook"
)

// Environment of the child process of TestKilledMidDeliveryResumes.
const (
	envChild = "PILLARS_WEBHOOK_CRASH_CHILD"
	envDB    = "PILLARS_WEBHOOK_CRASH_DB"
	envURL   = "PILLARS_WEBHOOK_CRASH_URL"
)

// openHook opens the SQLite store at path and the webhook on it, as the
// child and the restarted parent both do.
func openHook(t testing.TB, ctx context.Context, path, url string) (*sqlite.Store, *webhook.Webhook) {
	b, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	recs, err := fixture.Open(ctx, b)
	require.NoError(t, err)
	w, err := webhook.New(ctx, b, webhook.Config{
		Subscription: stream.Subscription{Name: "crash", Actor: fixture.Manager()},
		Kinds:        kinds(),
		Reader:       stream.Readers{fixture.Kind: stream.RecordReader(recs)},
		URL:          url, Secret: secret,
		Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		// One batch for all the events, so the consumer's checkpoint has
		// not moved when the process dies: only the webhook's own
		// progress tells the restart what was delivered.
		Consumer: stream.ConsumerConfig{Batch: 100, Lease: time.Second, Poll: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	return b, w
}

// TestKilledMidDeliveryResumes kills the delivering process (SIGKILL of a
// child running this test binary) while the receiver holds the request of
// the 8th event, then restarts delivery on the same SQLite file: every
// event arrives and the ones delivered before the kill are not sent again.
// Only the event in flight is: when the receiver had already taken it in
// (it acts, then answers), that is one duplicate its Idempotency-Key lets
// it drop; when it had not, none.
func TestKilledMidDeliveryResumes(t *testing.T) {
	ctx := context.Background()
	if os.Getenv(envChild) == "1" {
		_, w := openHook(t, ctx, os.Getenv(envDB), os.Getenv(envURL))
		require.NoError(t, w.Start(ctx))
		select {} // until killed
	}
	if testing.Short() {
		t.Skip("starts a child process; skipped with -short")
	}
	for _, tc := range []struct {
		name     string
		accepted bool // the receiver took the 8th event in before the kill
		dups     int
	}{{"in flight, not taken in", false, 0}, {"taken in, answer lost", true, 1}} {
		t.Run(tc.name, func(t *testing.T) { killAndResume(t, tc.accepted, tc.dups) })
	}
}

func killAndResume(t *testing.T, accepted bool, wantDups int) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	b, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	recs, err := fixture.Open(ctx, b)
	require.NoError(t, err)
	const n = 20
	_, err = fixture.Create(ctx, recs, n)
	require.NoError(t, err)
	require.NoError(t, b.Close())

	hold := make(chan struct{})
	held := make(chan struct{}, 1)
	var rc *receiver
	rc = newReceiver(func(r *http.Request, k int) int {
		if k == 7 { // the 8th request: hold it until the child is dead
			if accepted {
				rc.accept(r.Header.Get(webhook.HeaderIdempotency))
			}
			held <- struct{}{}
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			return http.StatusServiceUnavailable // nobody hears it
		}
		return http.StatusOK
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledMidDeliveryResumes$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"=1", envDB+"="+path, envURL+"="+srv.URL)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the child never reached the 8th event")
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	close(hold)
	before, _ := rc.unique()
	if accepted {
		assert.Equal(t, 8, before, "7 events delivered and the 8th taken in before the kill")
	} else {
		assert.Equal(t, 7, before, "7 events delivered before the kill")
	}

	b2, w := openHook(t, ctx, path, srv.URL)
	defer func() { _ = b2.Close() }()
	require.NoError(t, w.Start(ctx)) // takes the dead child's lease once it runs out
	rc.waitFor(t, n, 30*time.Second)
	// Events go in Seq order, so a repeat of the 8th came before the 20th.
	require.NoError(t, w.Stop(ctx))
	u, dups := rc.unique()
	assert.Equal(t, n, u, "every event delivered")
	assert.Equal(t, wantDups, dups, "only the event in flight at the kill may come twice; the first 7 are not sent again")
	t.Logf("killed mid-delivery (%s): %d events, %d taken in before the kill, %d duplicates after the restart",
		t.Name(), u, before, dups)
}
