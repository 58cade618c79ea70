package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/internal/fixture"
	"github.com/pillars-itsm/pillars/storage/stream/webhook"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// receiver is an httptest receiver that verifies every request and counts
// deliveries by idempotency key. answer decides each reply (nil: 200).
type receiver struct {
	mu      sync.Mutex
	keys    []string // every accepted delivery, in arrival order
	seen    map[string]int
	bad     []string // requests that failed verification
	bodies  []stream.Payload
	answer  func(r *http.Request, n int) int // n: how many requests came before
	n       int
	changed chan struct{}
	// tolerance of signature times; a webhook on a fake clock signs with
	// its time.
	tolerance time.Duration
}

func newReceiver(answer func(r *http.Request, n int) int) *receiver {
	return &receiver{seen: map[string]int{}, answer: answer, changed: make(chan struct{}, 1)}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := webhook.VerifyRequest(r, secret, rc.tolerance, 0)
	rc.mu.Lock()
	n := rc.n
	rc.n++
	answer := rc.answer
	rc.mu.Unlock()
	if err != nil {
		rc.mu.Lock()
		rc.bad = append(rc.bad, err.Error())
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	code := http.StatusOK
	if answer != nil {
		code = answer(r, n)
	}
	if code == http.StatusOK {
		var p stream.Payload
		_ = json.Unmarshal(body, &p)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, p)
		rc.mu.Unlock()
		rc.accept(r.Header.Get(webhook.HeaderIdempotency))
	}
	w.WriteHeader(code)
}

// accept notes a delivery as taken in.
func (rc *receiver) accept(key string) {
	rc.mu.Lock()
	rc.keys = append(rc.keys, key)
	rc.seen[key]++
	rc.mu.Unlock()
	select {
	case rc.changed <- struct{}{}:
	default:
	}
}

// unique returns how many distinct events were accepted and how many
// deliveries repeated one.
func (rc *receiver) unique() (unique, dups int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen), len(rc.keys) - len(rc.seen)
}

// waitFor waits until n distinct events were accepted, or fails after d.
func (rc *receiver) waitFor(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		if u, _ := rc.unique(); u >= n {
			return
		}
		select {
		case <-rc.changed:
		case <-deadline:
			u, _ := rc.unique()
			t.Fatalf("receiver got %d distinct events in %s, want %d", u, d, n)
		}
	}
}

func kinds() stream.Kinds { return stream.Kinds{fixture.Kind: stream.FieldsOf(fixture.Ticket{})} }

type env struct {
	ctx  context.Context
	b    storage.Backend
	recs *fixture.Records
}

func newFixture(t *testing.T) env {
	t.Helper()
	return newFixtureOn(t, func(tb testing.TB) storage.Backend {
		b := memory.New()
		tb.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// newFixtureOn is newFixture on the store open returns.
func newFixtureOn(t *testing.T, open func(tb testing.TB) storage.Backend) env {
	t.Helper()
	ctx := context.Background()
	b := open(t)
	recs, err := fixture.Open(ctx, b)
	require.NoError(t, err)
	return env{ctx, b, recs}
}

func (f env) config(name, url string) webhook.Config {
	return webhook.Config{
		Subscription: stream.Subscription{Name: name, Actor: fixture.Caller()},
		Kinds:        kinds(),
		Reader:       stream.Readers{fixture.Kind: stream.RecordReader(f.recs)},
		URL:          url,
		Secret:       secret,
		Backoff:      5 * time.Millisecond,
		MaxBackoff:   50 * time.Millisecond,
		Timeout:      2 * time.Second,
		Consumer:     stream.ConsumerConfig{Poll: 5 * time.Millisecond, Backoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
	}
}

// drain runs the webhook until the log is read.
func drain(t *testing.T, ctx context.Context, w *webhook.Webhook) {
	t.Helper()
	for range 1000 {
		n, err := w.RunOnce(ctx)
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
	t.Fatal("the log did not end")
}

func TestNewRefusesBadConfig(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		edit func(*webhook.Config)
		want string
	}{
		{"unparsable url", func(c *webhook.Config) { c.URL = "http://[::1" }, "does not parse"},
		{"not http", func(c *webhook.Config) { c.URL = "ftp://example.com/x" }, "must be http or https"},
		{"relative url", func(c *webhook.Config) { c.URL = "/hooks" }, "must be http or https"},
		{"no host", func(c *webhook.Config) { c.URL = "http:///x" }, "names no host"},
		{"credentials", func(c *webhook.Config) { c.URL = "https://u:p@example.com/" }, "carries credentials"},
		{"short secret", func(c *webhook.Config) { c.Secret = []byte("short") }, "secret is 5 bytes, at least 32"},
		{"no reader", func(c *webhook.Config) { c.Reader = nil }, "a reader is required"},
		{"reader misses a kind", func(c *webhook.Config) { c.Reader = stream.Readers{} }, `no reader for kind "ticket"`},
		{"bad subscription", func(c *webhook.Config) { c.Subscription.Kinds = []string{"tickt"} }, `unknown kind "tickt"`},
		{"bad name", func(c *webhook.Config) { c.Subscription.Name = "" }, "name must be"},
		{"negative timeout", func(c *webhook.Config) { c.Timeout = -1 }, "must not be negative"},
		{"consumer handler", func(c *webhook.Config) { c.Consumer.Handler = stream.HandlerFunc(nil) }, "leave Handler"},
		{"bad consumer", func(c *webhook.Config) { c.Consumer.Batch = -1 }, "batch -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config("hook", "http://127.0.0.1:1/hook")
			tc.edit(&cfg)
			w, err := webhook.New(f.ctx, f.b, cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, w)
		})
	}
	_, err := webhook.New(nil, f.b, f.config("hook", "http://x")) //nolint:staticcheck // refused, not a panic
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestDeliversSignedEventsInOrderAsTheActorSeesThem runs on every built-in
// store.
func TestDeliversSignedEventsInOrderAsTheActorSeesThem(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) { testDeliversInOrder(t, newFixtureOn(t, st.open)) })
	}
}

func testDeliversInOrder(t *testing.T, f env) {
	rc := newReceiver(nil)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var events []string
	rc.answer = func(r *http.Request, _ int) int {
		events = append(events, r.Header.Get(webhook.HeaderEvent)+"#"+r.Header.Get(webhook.HeaderAttempt))
		return http.StatusOK
	}
	ts, err := fixture.Create(f.ctx, f.recs, 3)
	require.NoError(t, err)
	// What the caller does is not echoed back to them.
	require.NoError(t, f.recs.Create(itsm.WithActor(f.ctx, fixture.Caller()), &fixture.Ticket{Title: "mine", CallerID: fixture.Caller().ID}, storage.Command{}))
	w, err := webhook.New(f.ctx, f.b, f.config("hook", srv.URL))
	require.NoError(t, err)
	drain(t, f.ctx, w)

	evs, err := f.b.ReadEvents(f.ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, rc.bad)
	assert.Equal(t, []string{evs[0].ID, evs[1].ID, evs[2].ID}, rc.keys)
	assert.Equal(t, []string{"ticket.create#1", "ticket.create#1", "ticket.create#1"}, events)
	for i, p := range rc.bodies {
		var tk fixture.Ticket
		require.NoError(t, json.Unmarshal(p.Record, &tk))
		assert.Equal(t, ts[i].ID, tk.ID)
		assert.Empty(t, tk.Notes, "internal field hidden from the caller")
		assert.Equal(t, evs[i].Seq, p.Event.Seq)
		for _, c := range p.Event.Changes {
			assert.NotEqual(t, "notes", c.Field, "internal change hidden from the caller")
		}
	}
	assert.Equal(t, webhook.Stats{Delivered: 3, Attempts: 3}, w.Stats())
	lag, err := w.Consumer().Lag(f.ctx)
	require.NoError(t, err)
	assert.Zero(t, lag)
}

func TestSkipsRecordsTheActorMayNotRead(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(nil)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, err := fixture.Create(f.ctx, f.recs, 2)
	require.NoError(t, err)
	cfg := f.config("other", srv.URL)
	cfg.Subscription.Actor = itsm.Actor{ID: "someone-else", Roles: []string{"caller"}}
	w, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	u, _ := rc.unique()
	assert.Zero(t, u)
	assert.Equal(t, int64(2), w.Stats().Skipped)
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event":{}}`)
	good := webhook.Sign(secret, body, now)
	old := []byte("an older secret that is long enough..")
	tests := []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"good", good, body, now, true},
		{"within tolerance", good, body, now.Add(4 * time.Minute), true},
		{"stale", good, body, now.Add(6 * time.Minute), false},
		{"from the future", good, body, now.Add(-6 * time.Minute), false},
		{"tampered body", good, []byte(`{"event":{"x":1}}`), now, false},
		{"wrong secret", webhook.Sign(old, body, now), body, now, false},
		{"rotation: old and new", webhook.Sign(old, body, now) + ",v1=" + strings.Split(good, "v1=")[1], body, now, true},
		{"empty", "", body, now, false},
		{"no v1", "t=1700000000", body, now, false},
		{"bad time", "t=x,v1=00", body, now, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(secret, tc.header, tc.body, tc.now, 0)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, webhook.ErrSignature)
			require.ErrorIs(t, err, itsm.ErrForbidden)
		})
	}
	_, err := webhook.VerifyRequest(nil, secret, 0, 0)
	require.ErrorIs(t, err, webhook.ErrSignature)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", 20)))
	_, err = webhook.VerifyRequest(r, secret, 0, 10)
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// TestReceiverDownThenBack: the receiver is down (connection refused)
// while events are written, the webhook retries with backoff, and when the
// receiver comes back on the same address every event arrives. It runs on
// every built-in store.
func TestReceiverDownThenBack(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) { testReceiverDownThenBack(t, newFixtureOn(t, st.open)) })
	}
}

func testReceiverDownThenBack(t *testing.T, f env) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // down: connections are refused

	cfg := f.config("downtime", "http://"+addr+"/hook")
	retried := make(chan struct{}, 100)
	cfg.Wait = func(ctx context.Context, d time.Duration) error {
		select {
		case retried <- struct{}{}:
		default:
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	require.NoError(t, w.Start(f.ctx))
	defer func() { require.NoError(t, w.Stop(context.Background())) }()
	const n = 40
	_, err = fixture.Create(f.ctx, f.recs, n/2)
	require.NoError(t, err)
	// Retrying, not lost: wait for a few waits between failed attempts.
	for range 3 {
		select {
		case <-retried:
		case <-time.After(10 * time.Second):
			t.Fatal("the webhook did not retry")
		}
	}
	require.GreaterOrEqual(t, w.Stats().Retries, int64(3))

	rc := newReceiver(nil)
	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, err = fixture.Create(f.ctx, f.recs, n/2)
	require.NoError(t, err)
	rc.waitFor(t, n, 20*time.Second)
	u, dups := rc.unique()
	assert.Equal(t, n, u)
	t.Logf("receiver down then back: %d events, %d duplicates, %d failed attempts retried", u, dups, w.Stats().Retries)
	assert.Zero(t, dups, "a receiver that never answered cannot have accepted an event twice")
	assert.Empty(t, rc.bad)
	dead, _, err := w.DeadLetters(f.ctx, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func TestSlowReceiverDoesNotBlockAnother(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	slow := newReceiver(func(r *http.Request, _ int) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	fast := newReceiver(nil)
	slowSrv, fastSrv := httptest.NewServer(slow), httptest.NewServer(fast)
	defer slowSrv.Close()
	defer fastSrv.Close()
	ws, err := webhook.New(f.ctx, f.b, f.config("slow", slowSrv.URL))
	require.NoError(t, err)
	cfg := f.config("fast", fastSrv.URL)
	wf, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	for _, w := range []*webhook.Webhook{ws, wf} {
		require.NoError(t, w.Start(f.ctx))
	}
	const n = 25
	_, err = fixture.Create(f.ctx, f.recs, n)
	require.NoError(t, err)
	fast.waitFor(t, n, 20*time.Second)
	u, _ := slow.unique()
	assert.Zero(t, u, "the slow receiver has answered nothing yet")
	close(release)
	slow.waitFor(t, n, 20*time.Second)
	for _, w := range []*webhook.Webhook{ws, wf} {
		require.NoError(t, w.Stop(context.Background()))
	}
}

// fakeTime gives a webhook a fake clock whose waits move it, and records
// every wait.
type fakeTime struct {
	mu    sync.Mutex
	clock *itsm.FakeClock
	waits []time.Duration
}

func (ft *fakeTime) wait(ctx context.Context, d time.Duration) error {
	ft.mu.Lock()
	ft.waits = append(ft.waits, d)
	ft.mu.Unlock()
	ft.clock.Advance(max(d, 0))
	return ctx.Err()
}

func TestRetryAfterOn429(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(func(_ *http.Request, n int) int {
		if n == 0 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	inner := rc.answer
	rc.tolerance = 48 * time.Hour
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		first := rc.n == 0
		rc.mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "7")
		}
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	rc.answer = inner
	ft := &fakeTime{clock: itsm.NewFakeClock(time.Now())}
	cfg := f.config("limited", srv.URL)
	cfg.Clock, cfg.Wait = ft.clock, ft.wait
	w, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	_, err = fixture.Create(f.ctx, f.recs, 1)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	u, dups := rc.unique()
	assert.Equal(t, 1, u)
	assert.Zero(t, dups)
	assert.Contains(t, ft.waits, 7*time.Second, "the retry waited the receiver's Retry-After")
	assert.Equal(t, webhook.Stats{Delivered: 1, Attempts: 2, Retries: 1}, w.Stats())
}

func TestRetriesAreBoundedThenDeadLettered(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(func(*http.Request, int) int { return http.StatusServiceUnavailable })
	rc.tolerance = 48 * time.Hour
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ft := &fakeTime{clock: itsm.NewFakeClock(time.Now())}
	cfg := f.config("bounded", srv.URL)
	cfg.Clock, cfg.Wait = ft.clock, ft.wait
	cfg.RetryFor, cfg.Backoff, cfg.MaxBackoff = time.Hour, time.Minute, 10*time.Minute
	w, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	_, err = fixture.Create(f.ctx, f.recs, 1)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	st := w.Stats()
	assert.Equal(t, int64(1), st.DeadLettered)
	assert.Greater(t, st.Attempts, int64(3))
	assert.Less(t, st.Attempts, int64(30), "exponential backoff, not a retry a minute")
	// The waits grow (with jitter) and never pass MaxBackoff.
	for i, d := range ft.waits {
		assert.LessOrEqual(t, d, 10*time.Minute, "wait %d", i)
	}
	dead, _, err := w.DeadLetters(f.ctx, storage.Paging{})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, http.StatusServiceUnavailable, dead[0].Status)
	assert.Contains(t, dead[0].LastError, "receiver answered 503 Service Unavailable")
	assert.GreaterOrEqual(t, dead[0].DeadAt.Sub(dead[0].FirstError), time.Hour)
}

func TestClientErrorDeadLettersAtOnceAndRedeliver(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	refuse := true
	rc := newReceiver(func(_ *http.Request, n int) int {
		mu.Lock()
		defer mu.Unlock()
		if refuse && n == 1 {
			return http.StatusUnprocessableEntity
		}
		return http.StatusOK
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w, err := webhook.New(f.ctx, f.b, f.config("strict", srv.URL))
	require.NoError(t, err)
	_, err = fixture.Create(f.ctx, f.recs, 3)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	u, _ := rc.unique()
	assert.Equal(t, 2, u, "the refused event does not hold the others")
	dead, next, err := w.DeadLetters(f.ctx, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, dead, 1)
	assert.Equal(t, 1, dead[0].Attempts, "a 4xx is not retried")
	assert.Equal(t, http.StatusUnprocessableEntity, dead[0].Status)

	require.ErrorIs(t, w.Redeliver(f.ctx, itsm.NewID()), itsm.ErrNotFound)
	mu.Lock()
	refuse = false
	mu.Unlock()
	require.NoError(t, w.Redeliver(f.ctx, dead[0].ID))
	u, dups := rc.unique()
	assert.Equal(t, 3, u)
	assert.Zero(t, dups)
	dead, _, err = w.DeadLetters(f.ctx, storage.Paging{})
	require.NoError(t, err)
	assert.Empty(t, dead)
	require.ErrorIs(t, w.Discard(f.ctx, itsm.NewID()), itsm.ErrNotFound)
}

func TestRedeliverFailureIsNoted(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(func(*http.Request, int) int { return http.StatusGone })
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w, err := webhook.New(f.ctx, f.b, f.config("gone", srv.URL))
	require.NoError(t, err)
	_, err = fixture.Create(f.ctx, f.recs, 1)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	dead, _, err := w.DeadLetters(f.ctx, storage.Paging{})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	err = w.Redeliver(f.ctx, dead[0].ID)
	var de *webhook.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, http.StatusGone, de.Status)
	assert.False(t, de.Retryable)
	dead, _, err = w.DeadLetters(f.ctx, storage.Paging{})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, 2, dead[0].Attempts)
}

func TestTimeoutIsRetried(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(func(r *http.Request, n int) int {
		if n == 0 {
			<-r.Context().Done() // hold the first attempt past the timeout
		}
		return http.StatusOK
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := f.config("timeouts", srv.URL)
	cfg.Timeout = 100 * time.Millisecond
	w, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	_, err = fixture.Create(f.ctx, f.recs, 1)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	u, _ := rc.unique()
	assert.Equal(t, 1, u)
	assert.Equal(t, int64(1), w.Stats().Retries)
}

func TestPing(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(nil)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w, err := webhook.New(f.ctx, f.b, f.config("pinged", srv.URL))
	require.NoError(t, err)
	require.NoError(t, w.Ping(f.ctx))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	w, err = webhook.New(f.ctx, f.b, f.config("unreachable", "http://"+addr+"/hook"))
	require.NoError(t, err)
	err = w.Ping(f.ctx)
	var de *webhook.DeliveryError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.Retryable)
	assert.Contains(t, err.Error(), "receiver unreachable")
	assert.Contains(t, err.Error(), addr)

	w, err = webhook.New(f.ctx, f.b, f.config("nohost", "http://no-such-host.invalid/hook"))
	require.NoError(t, err)
	err = w.Ping(f.ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "receiver unreachable")
	assert.True(t, errors.As(err, &de))
}

// Which answers are retried and which dead-letter the event at once.
func TestStatusClassification(t *testing.T) {
	tests := []struct {
		status int
		retry  bool
	}{
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusGatewayTimeout, true},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
		{http.StatusConflict, false},
		{http.StatusMovedPermanently, false}, // redirects are not followed
		{http.StatusNotModified, false},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			f := newFixture(t)
			rc := newReceiver(func(_ *http.Request, n int) int {
				if n == 0 {
					return tc.status
				}
				return http.StatusOK
			})
			rc.tolerance = 48 * time.Hour
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc.mu.Lock()
				first := rc.n == 0
				rc.mu.Unlock()
				if first && tc.status == http.StatusMovedPermanently {
					w.Header().Set("Location", "/elsewhere")
				}
				rc.ServeHTTP(w, r)
			}))
			defer srv.Close()
			ft := &fakeTime{clock: itsm.NewFakeClock(time.Now())}
			cfg := f.config("status", srv.URL)
			cfg.Clock, cfg.Wait = ft.clock, ft.wait
			w, err := webhook.New(f.ctx, f.b, cfg)
			require.NoError(t, err)
			_, err = fixture.Create(f.ctx, f.recs, 1)
			require.NoError(t, err)
			drain(t, f.ctx, w)
			st := w.Stats()
			if tc.retry {
				assert.Equal(t, webhook.Stats{Delivered: 1, Attempts: 2, Retries: 1}, st)
				return
			}
			assert.Equal(t, webhook.Stats{DeadLettered: 1, Attempts: 1}, st)
			dead, _, err := w.DeadLetters(f.ctx, storage.Paging{})
			require.NoError(t, err)
			require.Len(t, dead, 1)
			assert.Equal(t, tc.status, dead[0].Status)
		})
	}
}

// The subscription decides what is sent: here the resolution of
// priority-1 tickets only.
func TestSubscriptionDecidesWhatIsSent(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(nil)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ts, err := fixture.Create(f.ctx, f.recs, 4) // priorities 1, 2, 3, 4
	require.NoError(t, err)
	agent := itsm.WithActor(f.ctx, fixture.Agent())
	for _, tk := range ts[:2] {
		_, err = f.recs.Fire(agent, tk.ID, "resolve", storage.Command{}, nil)
		require.NoError(t, err)
	}
	cfg := f.config("p1", srv.URL)
	cfg.Subscription.Events = []string{"resolve"}
	cfg.Subscription.Where = []stream.Condition{{Field: "priority", Op: stream.OpEq, Value: 1}}
	w, err := webhook.New(f.ctx, f.b, cfg)
	require.NoError(t, err)
	drain(t, f.ctx, w)
	require.Len(t, rc.bodies, 1)
	assert.Equal(t, "resolve", rc.bodies[0].Event.Name)
	assert.Equal(t, ts[0].ID, rc.bodies[0].Event.RecordID)
}
