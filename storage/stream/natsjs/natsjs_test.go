package natsjs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/memory"
	"github.com/pillars-itsm/pillars/storage/stream"
	"github.com/pillars-itsm/pillars/storage/stream/internal/fixture"
	"github.com/pillars-itsm/pillars/storage/stream/natsjs"
)

const defaultURL = "nats://127.0.0.1:4222"

// natsURL returns the NATS server the tests use: PILLARS_NATS_URL, else
// the local default. Without PILLARS_NATS_URL an unreachable server skips
// the test; with it (CI sets it) the test fails.
func natsURL(t testing.TB) string {
	t.Helper()
	u, set := os.LookupEnv("PILLARS_NATS_URL")
	if !set || u == "" {
		u = defaultURL
	}
	nc, err := nats.Connect(u, nats.Timeout(time.Second))
	if err != nil {
		if set {
			t.Fatalf("NATS at PILLARS_NATS_URL=%s: %v", u, err)
		}
		t.Skipf("NATS is not reachable at %s and PILLARS_NATS_URL is not set (%v); start nats-server -js or set PILLARS_NATS_URL", u, err)
	}
	nc.Close()
	return u
}

type bundle struct {
	ctx    context.Context
	b      storage.Backend
	recs   *fixture.Records
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	st     jetstream.Stream
}

func setup(t testing.TB) bundle {
	t.Helper()
	u := natsURL(t)
	ctx := context.Background()
	nc, err := nats.Connect(u, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	id := uuid.NewString()[:8]
	prefix, name := "pt_"+id, "PILLARS_TEST_"+id
	st, err := natsjs.CreateStream(ctx, js, name, prefix, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(dctx, name)
	})
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	recs, err := fixture.Open(ctx, b)
	require.NoError(t, err)
	return bundle{ctx, b, recs, nc, js, prefix, st}
}

func (x bundle) config(name string) natsjs.Config {
	return natsjs.Config{
		Subscription: stream.Subscription{Name: name},
		Kinds:        stream.Kinds{fixture.Kind: stream.FieldsOf(fixture.Ticket{})},
		JetStream:    x.js, Prefix: x.prefix, Timeout: 2 * time.Second,
		Consumer: stream.ConsumerConfig{Poll: 5 * time.Millisecond, Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
}

func drain(t testing.TB, ctx context.Context, p *natsjs.Publisher) {
	t.Helper()
	for range 10000 {
		n, err := p.RunOnce(ctx)
		require.NoError(t, err)
		if n == 0 {
			return
		}
	}
	t.Fatal("the log did not end")
}

// messages reads every message of the stream.
func messages(t testing.TB, x bundle) []jetstream.Msg {
	t.Helper()
	info, err := x.st.Info(x.ctx)
	require.NoError(t, err)
	c, err := x.st.OrderedConsumer(x.ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var out []jetstream.Msg
	for uint64(len(out)) < info.State.Msgs {
		batch, err := c.Fetch(int(info.State.Msgs)-len(out), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, n, "fetch returned nothing")
	}
	return out
}

func TestNewRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	kinds := stream.Kinds{fixture.Kind: stream.FieldsOf(fixture.Ticket{})}
	var js jetstream.JetStream = fakeJS{}
	tests := []struct {
		name string
		cfg  natsjs.Config
		want string
	}{
		{"no jetstream", natsjs.Config{Subscription: stream.Subscription{Name: "p"}, Kinds: kinds}, "a JetStream is required"},
		{"bad prefix", natsjs.Config{Subscription: stream.Subscription{Name: "p"}, Kinds: kinds, JetStream: js, Prefix: "a.*"}, `prefix "a.*"`},
		{"empty token", natsjs.Config{Subscription: stream.Subscription{Name: "p"}, Kinds: kinds, JetStream: js, Prefix: "a..b"}, `prefix "a..b"`},
		{"bad subscription", natsjs.Config{Subscription: stream.Subscription{Name: "p", Kinds: []string{"x"}}, Kinds: kinds, JetStream: js}, `unknown kind "x"`},
		{"negative timeout", natsjs.Config{Subscription: stream.Subscription{Name: "p"}, Kinds: kinds, JetStream: js, Timeout: -1}, "negative"},
		{"consumer handler", natsjs.Config{Subscription: stream.Subscription{Name: "p"}, Kinds: kinds, JetStream: js,
			Consumer: stream.ConsumerConfig{Local: true}}, "leave Handler"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := natsjs.New(ctx, b, tc.cfg)
			require.ErrorIs(t, err, itsm.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, p)
		})
	}
	_, err := natsjs.CreateStream(ctx, js, "a.b", "p", nil)
	require.ErrorIs(t, err, itsm.ErrInvalid)
	_, err = natsjs.CreateStream(ctx, js, "s", "p.>", nil)
	require.ErrorIs(t, err, itsm.ErrInvalid)
}

// fakeJS stands in for a JetStream in the configuration tests, which never
// publish.
type fakeJS struct{ jetstream.JetStream }

func TestSubject(t *testing.T) {
	tests := []struct {
		ev   itsm.Event
		want string
	}{
		{itsm.Event{Kind: "incident", Name: "resolve"}, "pillars.default.incident.resolve"},
		{itsm.Event{Tenant: "acme", Kind: "incident", Name: "create"}, "pillars.acme.incident.create"},
		{itsm.Event{Tenant: "acme", Kind: "x.y", Name: "a b*"}, "pillars.acme.x_y.a_b_"},
		{itsm.Event{Tenant: "acme", Kind: "k"}, "pillars.acme.k._"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, natsjs.Subject("pillars", tc.ev))
	}
}

func TestPublishesEveryEventOnItsSubject(t *testing.T) {
	x := setup(t)
	ts, err := fixture.Create(x.ctx, x.recs, 5)
	require.NoError(t, err)
	_, err = x.recs.Fire(itsm.WithActor(x.ctx, fixture.Agent()), ts[0].ID, "resolve", storage.Command{}, nil)
	require.NoError(t, err)
	cfg := x.config("publisher")
	cfg.Reader = stream.Readers{fixture.Kind: stream.RecordReader(x.recs)}
	cfg.Subscription.Actor = fixture.Caller()
	p, err := natsjs.New(x.ctx, x.b, cfg)
	require.NoError(t, err)
	drain(t, x.ctx, p)
	evs, err := x.b.ReadEvents(x.ctx, 0, 100)
	require.NoError(t, err)
	msgs := messages(t, x)
	require.Len(t, msgs, len(evs))
	for i, m := range msgs {
		assert.Equal(t, fmt.Sprintf("%s.default.ticket.%s", x.prefix, evs[i].Name), m.Subject())
		assert.Equal(t, evs[i].ID, m.Headers().Get(jetstream.MsgIDHeader))
		var pl stream.Payload
		require.NoError(t, json.Unmarshal(m.Data(), &pl))
		assert.Equal(t, evs[i].ID, pl.Event.ID)
		var tk fixture.Ticket
		require.NoError(t, json.Unmarshal(pl.Record, &tk))
		assert.Empty(t, tk.Notes, "read as the caller: internal field hidden")
	}
	assert.Equal(t, natsjs.Stats{Published: int64(len(evs))}, p.Stats())
}

func TestRedeliveryIsDeduplicated(t *testing.T) {
	x := setup(t)
	_, err := fixture.Create(x.ctx, x.recs, 10)
	require.NoError(t, err)
	p, err := natsjs.New(x.ctx, x.b, x.config("first"))
	require.NoError(t, err)
	drain(t, x.ctx, p)
	// A second consumer from Seq 0 sends every event again, as a consumer
	// whose checkpoint did not move after a failure would.
	again, err := natsjs.New(x.ctx, x.b, x.config("again"))
	require.NoError(t, err)
	drain(t, x.ctx, again)
	assert.Len(t, messages(t, x), 10)
	assert.Equal(t, natsjs.Stats{Duplicates: 10}, again.Stats())
}

// TestNATSRestartedMidStream stops the local nats-server while events are
// published and starts it again: every event ends in the stream once.
func TestNATSRestartedMidStream(t *testing.T) {
	x := setup(t)
	u, _ := url.Parse(x.nc.ConnectedUrl())
	if u == nil || u.Host != "127.0.0.1:4222" || os.Geteuid() != 0 {
		t.Skip("restarts only the local nats-server (127.0.0.1:4222, as root)")
	}
	if _, err := exec.LookPath("start-stop-daemon"); err != nil {
		t.Skip("start-stop-daemon not found: cannot restart nats-server")
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err != nil {
		t.Skip("/usr/sbin/nats-server not found: cannot restart it")
	}
	start := func() {
		out, err := exec.Command("start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server", "--",
			"-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server", "-l", "/var/log/nats-server.log").CombinedOutput()
		require.NoError(t, err, "%s", out)
		for range 100 {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", 100*time.Millisecond); err == nil {
				_ = c.Close()
				return
			}
			time.Sleep(50 * time.Millisecond) //nolint:revive // waiting for a process to listen
		}
		t.Fatal("nats-server did not come back")
	}
	defer start() // always leave the server running

	cfg := x.config("restart")
	p, err := natsjs.New(x.ctx, x.b, cfg)
	require.NoError(t, err)
	require.NoError(t, p.Start(x.ctx))
	defer func() { _ = p.Stop(context.Background()) }()
	_, err = fixture.Create(x.ctx, x.recs, 30)
	require.NoError(t, err)

	out, err := exec.Command("start-stop-daemon", "--stop", "--retry", "5", "--exec", "/usr/sbin/nats-server").CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, err = fixture.Create(x.ctx, x.recs, 30)
	require.NoError(t, err)
	// Let the publisher fail against the stopped server for a while.
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Failures == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) //nolint:revive // polling a counter
	}
	failures := p.Stats().Failures
	start()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if lag, err := p.Consumer().Lag(x.ctx); err == nil && lag == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond) //nolint:revive // polling the consumer's lag
	}
	lag, err := p.Consumer().Lag(x.ctx)
	require.NoError(t, err)
	require.Zero(t, lag, "every event published after the restart")
	msgs := messages(t, x)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.Headers().Get(jetstream.MsgIDHeader)] = true
	}
	assert.Len(t, msgs, 60, "each event stored once")
	assert.Len(t, ids, 60)
	st := p.Stats()
	t.Logf("NATS restarted mid-stream: 60 events, %d batches failed while it was down (%d before the restart), %d messages sent again and dropped by JetStream as duplicates",
		st.Failures, failures, st.Duplicates)
}

// The subscription decides what is published, and its actor's own events
// are not.
func TestSubscriptionDecidesWhatIsPublished(t *testing.T) {
	x := setup(t)
	ts, err := fixture.Create(x.ctx, x.recs, 3)
	require.NoError(t, err)
	agent := itsm.WithActor(x.ctx, fixture.Agent())
	admin := itsm.WithActor(x.ctx, itsm.Actor{ID: "admin-1", Roles: []string{"admin"}})
	_, err = x.recs.Fire(agent, ts[0].ID, "resolve", storage.Command{}, nil)
	require.NoError(t, err)
	_, err = x.recs.Fire(admin, ts[1].ID, "resolve", storage.Command{}, nil)
	require.NoError(t, err)
	cfg := x.config("resolutions")
	cfg.Subscription.Events = []string{"resolve"}
	cfg.Subscription.Actor = fixture.Agent()
	p, err := natsjs.New(x.ctx, x.b, cfg)
	require.NoError(t, err)
	drain(t, x.ctx, p)
	msgs := messages(t, x)
	require.Len(t, msgs, 1, "the agent's own resolution is not published")
	assert.Equal(t, x.prefix+".default.ticket.resolve", msgs[0].Subject())
}
