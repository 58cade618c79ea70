// Package webhook delivers the event log to an HTTP receiver: one signed
// POST per event, in Seq order, at least once, each run as its own named
// consumer (storage/stream) so a slow or dead receiver holds no other.
//
// The body is a stream.Payload: the event and the record as the
// subscription's actor may read them (internal fields hidden unless the
// actor may read them; records the actor may not read are not delivered).
// Each request carries
//
//	Content-Type: application/json
//	Pillars-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//	Idempotency-Key: <event id>      (the same on every retry of the event)
//	Pillars-Event: <kind>.<event>    (for example incident.resolve)
//	Pillars-Attempt: <n>
//
// A receiver checks the signature with Verify or VerifyRequest and drops a
// repeated Idempotency-Key: delivery is at least once, so a crash between
// the receiver's answer and the store noting it repeats one event.
//
// A failed attempt is retried with exponential backoff and jitter while
// the event is younger than Config.RetryFor, on timeouts and transport
// errors (the receiver is down), 408, 429 (after its Retry-After) and 5xx;
// any other answer (4xx, 3xx: redirects are not followed) dead-letters the
// event at once. Dead letters are documents in the store, listed with
// DeadLetters and sent again with Redeliver. Progress (the last event
// delivered, the attempts of the event being retried) is a document in the
// store, so a restarted process resumes where the last one stopped,
// backoff and deadline included.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
	"github.com/pillars-itsm/pillars/storage/stream"
)

// Document kinds the webhooks keep in the store.
const (
	// StateKind holds one document per webhook: the Seq of the last event
	// delivered (or dead-lettered or skipped) and the retry state of the
	// event being retried.
	StateKind = "webhook_state"
	// DeadLetterKind holds the events a webhook gave up on.
	DeadLetterKind = "webhook_dead_letter"
)

// Defaults and bounds of Config.
const (
	MinSecret         = 32 // bytes
	DefaultTimeout    = 10 * time.Second
	DefaultRetryFor   = 24 * time.Hour
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultTolerance is how far a signature's time may lie from the
	// receiver's clock when Verify is given no tolerance.
	DefaultTolerance = 5 * time.Minute
)

// Header names of a delivery.
const (
	HeaderSignature   = "Pillars-Signature"
	HeaderIdempotency = "Idempotency-Key"
	HeaderEvent       = "Pillars-Event"
	HeaderAttempt     = "Pillars-Attempt"
)

// Config configures a Webhook. Subscription (its Name names the webhook),
// Kinds, Reader, URL and Secret are required; the rest have defaults.
type Config struct {
	// Subscription says which events the receiver gets and as whom it
	// reads them; its Name names the webhook's consumer and documents.
	Subscription stream.Subscription
	// Kinds is the catalogue the subscription is checked against.
	Kinds stream.Kinds
	// Reader reads each event's record as the subscription's actor may see
	// it; it must cover every kind the subscription passes (a
	// stream.Readers of stream.RecordReader(pillar.Incidents()), ...).
	Reader stream.Reader
	// URL the events are POSTed to: http or https, with a host.
	URL string
	// Secret signs every request (HMAC-SHA256); at least MinSecret bytes.
	Secret []byte
	// Client sends the requests; a client with no timeout of its own by
	// default (Timeout bounds each attempt). Its CheckRedirect is replaced:
	// redirects are not followed.
	Client *http.Client
	// Timeout bounds one attempt (default DefaultTimeout).
	Timeout time.Duration
	// RetryFor is how long an event is retried, from its first failed
	// attempt, before it is dead-lettered (default DefaultRetryFor).
	RetryFor time.Duration
	// Backoff is the wait after a first failed attempt; it doubles with
	// each failure up to MaxBackoff, and a random part of up to half is
	// taken off (jitter). A 429 or 503 answer's Retry-After replaces it.
	Backoff, MaxBackoff time.Duration
	// Clock tells the time of signatures and deadlines (system clock when
	// nil).
	Clock itsm.Clock
	// Wait waits d or until ctx is done (default: a timer); tests pass
	// one that moves a fake clock.
	Wait func(ctx context.Context, d time.Duration) error
	// Consumer configures the consumer that runs the webhook (Batch, Poll,
	// Lease, Tenant, ...); its Name and Handler are the webhook's own, and
	// its Observer also sees every failed delivery attempt.
	Consumer stream.ConsumerConfig
}

// Stats counts what a Webhook did since it was made, in this process.
type Stats struct {
	Delivered    int64 // events the receiver accepted
	Attempts     int64 // requests sent, retries included
	Retries      int64 // failed attempts that will be retried
	DeadLettered int64 // events given up on
	Skipped      int64 // events the subscription's actor may not see
}

// Webhook delivers a subscription's events to one URL. Make it with New,
// then Start it (or drive it with RunOnce); Stop it when done. It is safe
// for concurrent use.
type Webhook struct {
	cfg      Config
	b        storage.Backend
	filter   *stream.Filter
	url      string
	consumer *stream.Consumer
	stateID  string
	states   *storage.Collection[state, *state]
	dead     *storage.Collection[DeadLetter, *DeadLetter]
	docCtx   func(context.Context) context.Context

	delivered, attempts, retries, deadLettered, skipped atomic.Int64
}

// state is the stored progress of a webhook.
type state struct {
	itsm.Record
	Webhook string `json:"webhook"`
	// Delivered is the Seq of the last event done with: delivered,
	// dead-lettered or skipped.
	Delivered int64 `json:"delivered"`
	// Pending is the id of the event being retried, with its attempts so
	// far, the time of its first failure, of its next attempt and its
	// last error.
	Pending   string    `json:"pending,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	First     time.Time `json:"first,omitzero"`
	Next      time.Time `json:"next,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// DeadLetter is an event a webhook gave up on, kept in the store until it
// is redelivered or discarded.
type DeadLetter struct {
	itsm.Record
	Webhook    string     `json:"webhook"`
	Event      itsm.Event `json:"event"`
	Attempts   int        `json:"attempts"`
	Status     int        `json:"status,omitempty"` // the receiver's last answer; 0 when it gave none
	LastError  string     `json:"last_error"`
	FirstError time.Time  `json:"first_error"`
	DeadAt     time.Time  `json:"dead_at"`
}

var idSpace = uuid.MustParse("6a1e2f4c-9b3d-4e8a-8c7f-1d2b3a4c5e6f")

func stateCollection() *storage.Collection[state, *state] {
	return storage.NewCollection[state](StateKind)
}

func deadCollection() *storage.Collection[DeadLetter, *DeadLetter] {
	return storage.NewCollection[DeadLetter](DeadLetterKind,
		storage.StringField("webhook", func(d *DeadLetter) string { return d.Webhook }).CompositeOnly(),
		storage.TimeField("dead_at", func(d *DeadLetter) time.Time { return d.DeadAt }).CompositeOnly(),
	).WithIndex("webhook_dead_letters", "webhook", "dead_at")
}

// New checks cfg, registers the webhook's document kinds and makes its
// consumer; nothing is sent until it runs. A bad field is an error
// matching itsm.ErrInvalid naming it: an unparsable URL or one that is not
// http(s) with a host, a secret shorter than MinSecret, no reader or a
// kind it does not cover, a bad subscription, negative durations.
func New(ctx context.Context, b storage.Backend, cfg Config) (*Webhook, error) {
	if ctx == nil || b == nil {
		return nil, itsm.Invalidf("webhook: context and backend are required")
	}
	f, err := cfg.Subscription.Compile(cfg.Kinds)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	name := cfg.Subscription.Name
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil:
		return nil, itsm.Invalidf("webhook %s: url %q does not parse: %v", name, cfg.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, itsm.Invalidf("webhook %s: url %q must be http or https", name, cfg.URL)
	case u.Host == "" || u.Hostname() == "":
		return nil, itsm.Invalidf("webhook %s: url %q names no host", name, cfg.URL)
	case u.User != nil:
		return nil, itsm.Invalidf("webhook %s: url %q carries credentials; the signature authenticates the sender", name, u.Redacted())
	case len(cfg.Secret) < MinSecret:
		return nil, itsm.Invalidf("webhook %s: secret is %d bytes, at least %d", name, len(cfg.Secret), MinSecret)
	case cfg.Reader == nil:
		return nil, itsm.Invalidf("webhook %s: a reader is required (the record is sent as the subscription's actor may read it)", name)
	case cfg.Timeout < 0, cfg.RetryFor < 0, cfg.Backoff < 0, cfg.MaxBackoff < 0:
		return nil, itsm.Invalidf("webhook %s: timeout, retry and backoff durations must not be negative", name)
	case cfg.Consumer.Handler != nil || cfg.Consumer.TxHandler != nil || cfg.Consumer.Local:
		return nil, itsm.Invalidf("webhook %s: the consumer's handler is the webhook's; leave Handler, TxHandler and Local unset", name)
	}
	if rs, ok := cfg.Reader.(stream.Readers); ok {
		for _, k := range f.Kinds() {
			if rs[k] == nil {
				return nil, itsm.Invalidf("webhook %s: no reader for kind %q", name, k)
			}
		}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = DefaultRetryFor
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	if cfg.Clock == nil {
		cfg.Clock = itsm.SystemClock{}
	}
	if cfg.Wait == nil {
		cfg.Wait = timerWait
	}
	client := http.Client{}
	if cfg.Client != nil {
		client = *cfg.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &client
	cfg.Secret = bytes.Clone(cfg.Secret)

	tenant := cfg.Consumer.Tenant
	if tenant == "" {
		tenant = itsm.DefaultTenant
	}
	w := &Webhook{cfg: cfg, b: b, filter: f, url: u.String(),
		stateID: uuid.NewSHA1(idSpace, []byte("state/"+name)).String(),
		states:  stateCollection(), dead: deadCollection(),
		docCtx: func(ctx context.Context) context.Context { return itsm.WithTenant(ctx, tenant) }}
	dctx := w.docCtx(ctx)
	if err := w.states.Register(dctx, b); err != nil {
		return nil, err
	}
	if err := w.dead.Register(dctx, b); err != nil {
		return nil, err
	}
	cc := cfg.Consumer
	cc.Name, cc.Handler = name, stream.HandlerFunc(w.handle)
	if w.consumer, err = stream.NewConsumer(ctx, b, cc); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", name, err)
	}
	return w, nil
}

func timerWait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Name returns the webhook's name (its subscription's).
func (w *Webhook) Name() string { return w.cfg.Subscription.Name }

// Consumer returns the consumer that runs the webhook, for its Lag and
// Stats.
func (w *Webhook) Consumer() *stream.Consumer { return w.consumer }

// Start runs the webhook in the background until ctx is done or Stop is
// called (see stream.Consumer.Start).
func (w *Webhook) Start(ctx context.Context) error { return w.consumer.Start(ctx) }

// Stop stops the webhook: an attempt under way is abandoned (its event is
// sent again by the next run) and the consumer's lease given up.
func (w *Webhook) Stop(ctx context.Context) error { return w.consumer.Stop(ctx) }

// RunOnce delivers the next batch of events (see stream.Consumer.RunOnce).
// It returns when every event of the batch is delivered, dead-lettered or
// skipped, which may take the retries of a receiver that is down.
func (w *Webhook) RunOnce(ctx context.Context) (int, error) { return w.consumer.RunOnce(ctx) }

// Stats returns what the webhook did in this process.
func (w *Webhook) Stats() Stats {
	return Stats{Delivered: w.delivered.Load(), Attempts: w.attempts.Load(), Retries: w.retries.Load(),
		DeadLettered: w.deadLettered.Load(), Skipped: w.skipped.Load()}
}

// handle is the consumer's handler: every event of the batch, in order,
// is delivered, dead-lettered or skipped before it returns nil.
func (w *Webhook) handle(ctx context.Context, events []itsm.Event) error {
	st, err := w.load(ctx)
	if err != nil {
		return err
	}
	dirty := false
	for _, ev := range events {
		if ev.Seq <= st.Delivered {
			continue // done before a restart; the checkpoint had not moved
		}
		ok, err := w.filter.Match(ctx, w.b, ev)
		if err != nil {
			return err
		}
		var p stream.Payload
		skip := !ok
		if ok {
			if p, skip, err = stream.ReadPayload(ctx, w.cfg.Reader, w.cfg.Subscription.Actor, ev); err != nil {
				return err
			}
			if skip {
				w.skipped.Add(1)
			}
		}
		if skip {
			// Nothing to note unless a retry of it was: the consumer's
			// checkpoint covers it, and a rerun skips it again.
			if st.Pending == ev.ID {
				st.clear()
				dirty = true
			}
			st.Delivered = ev.Seq
			continue
		}
		body, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := w.deliver(ctx, st, ev, body); err != nil {
			return err
		}
		dirty = false // deliver saved the state
	}
	if dirty {
		return w.save(ctx, st, nil)
	}
	return nil
}

// deliver sends one event until the receiver accepts it or the webhook
// gives up on it, saving the state after each attempt.
func (w *Webhook) deliver(ctx context.Context, st *state, ev itsm.Event, body []byte) error {
	for {
		if st.Pending == ev.ID {
			if err := w.cfg.Wait(ctx, st.Next.Sub(w.cfg.Clock.Now())); err != nil {
				return err
			}
		} else {
			st.clear()
		}
		attempt := st.Attempts + 1
		res := w.send(ctx, body, ev.ID, ev.Kind+"."+ev.Name, attempt)
		if ctx.Err() != nil {
			return ctx.Err() // abandoned: the next run sends it again
		}
		now := w.cfg.Clock.Now()
		if res == nil {
			w.delivered.Add(1)
			st.clear()
			st.Delivered = ev.Seq
			return w.save(ctx, st, nil)
		}
		if st.Pending != ev.ID {
			st.Pending, st.First = ev.ID, now
		}
		st.Attempts, st.LastError = attempt, res.Error()
		dead := !res.Retryable || now.Sub(st.First) >= w.cfg.RetryFor
		if o := w.cfg.Consumer.Observer; o != nil {
			o.DeliveryFailed(ctx, stream.DeliveryFailure{Receiver: w.Name(), Event: ev, Attempt: attempt, Status: res.Status, Err: res, DeadLettered: dead})
		}
		if dead {
			w.deadLettered.Add(1)
			dl := &DeadLetter{Record: itsm.Record{ID: w.deadID(ev.ID)}, Webhook: w.Name(), Event: ev, Attempts: attempt,
				Status: res.Status, LastError: res.Error(), FirstError: st.First, DeadAt: now}
			st.clear()
			st.Delivered = ev.Seq
			return w.save(ctx, st, dl)
		}
		w.retries.Add(1)
		wait := res.RetryAfter
		if wait <= 0 {
			wait = w.backoff(attempt)
		}
		st.Next = now.Add(wait)
		if err := w.save(ctx, st, nil); err != nil {
			return err
		}
	}
}

func (s *state) clear() {
	s.Pending, s.Attempts, s.First, s.Next, s.LastError = "", 0, time.Time{}, time.Time{}, ""
}

// backoff returns the wait after the k-th failed attempt: Backoff doubled
// k-1 times, at most MaxBackoff, less a random part of up to half.
func (w *Webhook) backoff(k int) time.Duration {
	d := w.cfg.Backoff
	for i := 1; i < k && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rand.Int64N(half + 1))
	}
	return d
}

func (w *Webhook) deadID(eventID string) string {
	return uuid.NewSHA1(idSpace, []byte("dead/"+w.Name()+"/"+eventID)).String()
}

// load reads the webhook's state, at the start of every batch: another
// instance may have moved it while this one did not hold the lease.
func (w *Webhook) load(ctx context.Context) (*state, error) {
	st, err := w.states.Get(w.docCtx(ctx), w.b, w.stateID)
	if errors.Is(err, itsm.ErrNotFound) {
		st, err = &state{Record: itsm.Record{ID: w.stateID}, Webhook: w.Name()}, nil
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// save writes the state, with a dead letter when dl is not nil, in one
// unit of work. It runs even when ctx was cancelled after the receiver
// answered, so what was delivered is noted.
func (w *Webhook) save(ctx context.Context, st *state, dl *DeadLetter) error {
	dctx := w.docCtx(context.WithoutCancel(ctx))
	err := w.b.Update(dctx, func(tx storage.Tx) error {
		if dl != nil {
			if old, err := w.dead.Get(dctx, tx, dl.ID); err == nil {
				dl.Version = old.Version // the same event given up on again
			} else if !errors.Is(err, itsm.ErrNotFound) {
				return err
			}
			if err := w.dead.Put(dctx, tx, dl); err != nil {
				return err
			}
		}
		return w.states.Put(dctx, tx, st)
	})
	if err != nil {
		return fmt.Errorf("webhook %s: saving progress: %w", w.Name(), err)
	}
	return nil
}

// DeliveryError is a failed attempt: the receiver's status (0 when it gave
// no answer) or the transport error, and whether it is worth retrying.
type DeliveryError struct {
	Webhook    string
	URL        string
	Attempt    int
	Status     int           // HTTP status; 0 when the receiver gave none
	Err        error         // transport error when Status is 0
	Retryable  bool          // a timeout, transport error, 408, 429 or 5xx
	RetryAfter time.Duration // the receiver's Retry-After, if any
}

// Error says what failed, where, and at which attempt.
func (e *DeliveryError) Error() string {
	what := ""
	switch {
	case e.Status != 0:
		what = fmt.Sprintf("receiver answered %d %s", e.Status, http.StatusText(e.Status))
	case isTimeout(e.Err):
		what = fmt.Sprintf("no answer in time: %v", e.Err)
	case isUnreachable(e.Err):
		what = fmt.Sprintf("receiver unreachable: %v", e.Err)
	default:
		what = fmt.Sprintf("request failed: %v", e.Err)
	}
	return fmt.Sprintf("webhook %s: POST %s (attempt %d): %s", e.Webhook, e.URL, e.Attempt, what)
}

// Unwrap returns the transport error.
func (e *DeliveryError) Unwrap() error { return e.Err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isUnreachable(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.ECONNRESET) || errors.As(err, &dns)
}

// send makes one attempt; nil when the receiver answered 2xx.
func (w *Webhook) send(ctx context.Context, body []byte, id, event string, attempt int) *DeliveryError {
	w.attempts.Add(1)
	actx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	fail := &DeliveryError{Webhook: w.Name(), URL: w.url, Attempt: attempt}
	req, err := http.NewRequestWithContext(actx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		fail.Err = err
		return fail
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pillars-webhook")
	req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, body, w.cfg.Clock.Now()))
	req.Header.Set(HeaderIdempotency, id)
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		fail.Err, fail.Retryable = err, true
		return fail
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	fail.Status = resp.StatusCode
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		fail.Retryable = true
		fail.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), w.cfg.Clock.Now())
	}
	return fail
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Ping sends a signed test request ({"ping":true}, Pillars-Event: ping)
// and returns nil when the receiver answers 2xx: a host checks a new
// webhook with it. An unreachable receiver, a timeout or another answer is
// a *DeliveryError saying which.
func (w *Webhook) Ping(ctx context.Context) error {
	if ctx == nil {
		return itsm.Invalidf("webhook %s: nil context", w.Name())
	}
	if res := w.send(ctx, []byte(`{"ping":true}`), uuid.NewString(), "ping", 1); res != nil {
		return res
	}
	return nil
}

// DeadLetters returns one page of the webhook's dead letters, oldest
// first, and the cursor of the next page ("" on the last).
func (w *Webhook) DeadLetters(ctx context.Context, p storage.Paging) ([]*DeadLetter, string, error) {
	if ctx == nil {
		return nil, "", itsm.Invalidf("webhook %s: nil context", w.Name())
	}
	return w.dead.Query(w.docCtx(ctx), w.b, storage.Query{
		Filters: []storage.Filter{storage.Eq("webhook", storage.String(w.Name()))},
		Sort:    []storage.Sort{{Field: "dead_at"}},
		Limit:   p.Limit, Cursor: p.Cursor,
	})
}

// Redeliver sends a dead letter's event once more, read again as the
// subscription's actor may see it now, and removes the dead letter when
// the receiver accepts it. A failed attempt is returned (a
// *DeliveryError) and noted on the dead letter; an event the actor may no
// longer see is removed without sending (ErrForbidden is returned). An
// unknown id is ErrNotFound.
func (w *Webhook) Redeliver(ctx context.Context, id string) error {
	if ctx == nil {
		return itsm.Invalidf("webhook %s: nil context", w.Name())
	}
	dctx := w.docCtx(ctx)
	dl, err := w.dead.Get(dctx, w.b, id)
	if err != nil {
		return err
	}
	if dl.Webhook != w.Name() {
		return &itsm.NotFoundError{Kind: DeadLetterKind, ID: id}
	}
	p, skip, err := stream.ReadPayload(ctx, w.cfg.Reader, w.cfg.Subscription.Actor, dl.Event)
	if err != nil {
		return err
	}
	if skip {
		if err := w.Discard(ctx, id); err != nil {
			return err
		}
		return &itsm.ForbiddenError{Actor: w.cfg.Subscription.Actor.ID, Kind: dl.Event.Kind, Action: itsm.ActionRead,
			Reason: "the subscription's actor may no longer read the record; the dead letter was removed"}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	res := w.send(ctx, body, dl.Event.ID, dl.Event.Kind+"."+dl.Event.Name, dl.Attempts+1)
	if res == nil {
		w.delivered.Add(1)
		return w.Discard(ctx, id)
	}
	dl.Attempts, dl.Status, dl.LastError = res.Attempt, res.Status, res.Error()
	if err := w.b.Update(dctx, func(tx storage.Tx) error { return w.dead.Put(dctx, tx, dl) }); err != nil {
		return errors.Join(res, err)
	}
	return res
}

// Discard removes a dead letter without sending it. An unknown id is
// ErrNotFound.
func (w *Webhook) Discard(ctx context.Context, id string) error {
	if ctx == nil {
		return itsm.Invalidf("webhook %s: nil context", w.Name())
	}
	dctx := w.docCtx(ctx)
	return w.b.Update(dctx, func(tx storage.Tx) error {
		d, err := tx.Get(dctx, DeadLetterKind, id)
		if err != nil {
			return err
		}
		return tx.Delete(dctx, DeadLetterKind, id, d.Version)
	})
}

// Sign returns the Pillars-Signature header value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrSignature is returned by Verify for a missing, malformed, wrong or
// stale signature. It matches itsm.ErrForbidden.
var ErrSignature = fmt.Errorf("webhook signature: %w", itsm.ErrForbidden)

// Verify checks a Pillars-Signature header against the body as received
// (the raw bytes, before any JSON decoding) and the receiver's clock: the
// HMAC must match (any of several v1 values, so a sender may sign with an
// old and a new secret while the secret is rotated) and the time lie
// within tolerance of now (DefaultTolerance when 0), so a captured request
// cannot be replayed later. A receiver should also drop a repeated
// Idempotency-Key. Failures wrap ErrSignature.
//
//	body, err := io.ReadAll(r.Body)
//	if err == nil {
//		err = webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0)
//	}
//	if err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: header %q is not t=<unix>,v1=<hex>", ErrSignature, header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now (tolerance %s)", ErrSignature, time.Unix(sec, 0).UTC().Format(time.RFC3339), d.Round(time.Second), tolerance)
	}
	want := []byte(mac(secret, ts, body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches the body", ErrSignature)
}

// VerifyRequest reads r's body (at most maxBody bytes; 0 means 1 MiB) and
// checks its signature with Verify at the system clock's now. It returns
// the body for the receiver to decode (into a stream.Payload).
func VerifyRequest(r *http.Request, secret []byte, tolerance time.Duration, maxBody int64) ([]byte, error) {
	if r == nil || r.Body == nil {
		return nil, fmt.Errorf("%w: no request body", ErrSignature)
	}
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > maxBody {
		return nil, itsm.Invalidf("webhook: request body is longer than %d bytes", maxBody)
	}
	if err := Verify(secret, r.Header.Get(HeaderSignature), body, time.Now(), tolerance); err != nil {
		return nil, err
	}
	return body, nil
}
