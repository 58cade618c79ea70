package operation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Alert severities, as monitoring tools and ServiceNow Event Management use
// them: 1 is the most severe, 0 clears the alert.
const (
	SeverityClear    = 0
	SeverityCritical = 1
	SeverityMajor    = 2
	SeverityMinor    = 3
	SeverityWarning  = 4
	SeverityInfo     = 5
)

// Alert states and events.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertClosed       = "closed"
	EventAcknowledge  = "acknowledge"
	EventClear        = "clear"
)

// MonitorEvent is one event from a monitoring tool, as Ingest receives it.
type MonitorEvent struct {
	Source   string // the tool: "prometheus", "zabbix"
	EventID  string // the tool's id of this event; repeats with the same id are idempotent
	Node     string // host or device
	Type     string // what is wrong: "cpu_high", "link_down"
	Severity int    // SeverityClear..SeverityInfo
	Message  string
	CIID     string // the configuration item, when the tool knows it
	// DedupKey folds repeats into one alert; default source|node|type|ci.
	DedupKey string
}

func (e MonitorEvent) key() string {
	if e.DedupKey != "" {
		return e.DedupKey
	}
	return strings.Join([]string{e.Source, e.Node, e.Type, e.CIID}, "|")
}

func (e MonitorEvent) hash() string {
	h := sha256.New()
	for _, s := range []string{e.Source, e.EventID, e.Node, e.Type, fmt.Sprint(e.Severity), e.Message, e.CIID, e.DedupKey} {
		fmt.Fprintf(h, "%d:%s|", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (e MonitorEvent) validate() error {
	ve := &itsm.ValidationError{Kind: KindAlert}
	if e.Source == "" || len(e.Source) > 100 {
		ve.Add("source", "is required (at most 100 bytes)")
	}
	if e.Node == "" || len(e.Node) > 255 {
		ve.Add("node", "is required (at most 255 bytes)")
	}
	if e.Type == "" || len(e.Type) > 100 {
		ve.Add("type", "is required (at most 100 bytes)")
	}
	if e.Severity < SeverityClear || e.Severity > SeverityInfo {
		ve.Add("severity", fmt.Sprintf("%d is not a severity (0 clear, 1 critical .. 5 info)", e.Severity))
	}
	if len(e.Message) > MaxText || len(e.EventID) > 255 || len(e.DedupKey) > 500 {
		ve.Add("message", "message, event id or dedup key too long")
	}
	return ve.Err()
}

// Alert folds repeated monitoring events with one deduplication key: how
// many arrived, when first and last, the latest severity and message, and
// the incident it raised or joined.
type Alert struct {
	itsm.Record
	DedupKey      string    `json:"dedup_key"`
	Source        string    `json:"source"`
	Node          string    `json:"node"`
	Type          string    `json:"type"`
	Severity      int       `json:"severity"`
	Message       string    `json:"message,omitempty"`
	CIID          string    `json:"ci_id,omitempty"`
	UpstreamCIIDs []string  `json:"upstream_ci_ids,omitempty"` // from the CMDB, for correlation
	Count         int       `json:"count"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	IncidentID    string    `json:"incident_id,omitempty"`
	Correlated    bool      `json:"correlated,omitempty"` // joined another alert's incident

	// Custom holds the custom field values the host declares for the kind
	// (Config.Dictionary, see storage.Dictionary).
	Custom itsm.Values `json:"custom,omitempty"`
}

// AlertLifecycle returns the alert lifecycle: open → acknowledged → closed
// (clear, from either open state). A new event after closing opens a new
// alert.
func AlertLifecycle() *itsm.Lifecycle[*Alert] {
	return itsm.NewLifecycle[*Alert](KindAlert).
		Initial(AlertOpen).States(AlertAcknowledged).Final(AlertClosed).
		Event(EventAcknowledge, AlertAcknowledged, AlertOpen).
		Event(EventClear, AlertClosed, AlertOpen, AlertAcknowledged)
}

func alertCollection() *storage.Collection[Alert, *Alert] {
	return storage.NewCollection[Alert](KindAlert,
		storage.StringField("dedup_key", func(a *Alert) string { return a.DedupKey }),
		storage.StringField("ci_id", func(a *Alert) string { return a.CIID }),
		storage.StringField("incident_id", func(a *Alert) string { return a.IncidentID }),
		storage.IntField("severity", func(a *Alert) int64 { return int64(a.Severity) }),
	).WithIndex("alert_dedup", "dedup_key", "state").
		WithIndex("alert_console", "state", "severity", "updated_at")
}

// MonitoringEvent remembers a monitoring event that carried an EventID, so
// a repeat is recognised: the same payload is ignored, a changed one
// refused.
type MonitoringEvent struct {
	itsm.Record
	Source      string `json:"source"`
	EventID     string `json:"event_id"`
	PayloadHash string `json:"payload_hash"`
	AlertID     string `json:"alert_id,omitempty"`
}

func monitoringEventLifecycle() *itsm.Lifecycle[*MonitoringEvent] {
	return itsm.NewLifecycle[*MonitoringEvent](KindMonitoringEvent).
		Initial("received").Final("processed").
		Event("process", "processed", "received")
}

func monitoringEventCollection() *storage.Collection[MonitoringEvent, *MonitoringEvent] {
	return storage.NewCollection[MonitoringEvent](KindMonitoringEvent)
}

var eventNamespace = uuid.MustParse("6f1d1d8e-58a3-4d53-9a3c-2b8f0c1d7a11")

// AlertRule decides what alerts do to incidents.
type AlertRule struct {
	// MinSeverity raises an incident for alerts of severity 1..MinSeverity
	// (so 2 means critical and major); 0 never raises.
	MinSeverity int
	// Impact and Urgency of raised incidents; 0 derives both from the
	// severity (critical 1/1, major 1/2, minor 2/2, others 3/3, within the
	// matrix).
	Impact, Urgency int
	// AssignmentGroup of raised incidents.
	AssignmentGroup string
	// Caller of raised incidents; the ingesting actor when empty.
	CallerID string
	// ResolveOnClear resolves the alert's incident when a clearing event
	// closes the alert (and no other open alert still points at it), with
	// ClearCode (default solved_remotely).
	ResolveOnClear bool
	ClearCode      string
}

func (r AlertRule) check(p IncidentPolicy) error {
	if r.MinSeverity < 0 || r.MinSeverity > SeverityInfo {
		return itsm.Invalidf("operation: alert rule min severity %d outside 0..5", r.MinSeverity)
	}
	if r.Impact != 0 || r.Urgency != 0 {
		if _, err := p.Matrix.Priority(r.Impact, r.Urgency); err != nil {
			return fmt.Errorf("operation: alert rule: %w", err)
		}
	}
	if !validRef(r.AssignmentGroup) || !validRef(r.CallerID) {
		return itsm.Invalidf("operation: alert rule assignment group and caller must be NUL-free UTF-8 of at most %d bytes", storage.MaxStringValue)
	}
	if r.ClearCode != "" && !slices.Contains(p.ResolutionCodes, r.ClearCode) {
		return itsm.Invalidf("operation: alert rule clear code %q is not a resolution code", r.ClearCode)
	}
	return nil
}

// IngestResult says what Ingest did with an event.
type IngestResult struct {
	Alert     *Alert    // the alert the event opened, folded into or cleared; nil for a clear with no open alert
	Incident  *Incident // the incident raised or joined by this event, if any
	Duplicate bool      // the event was a repeat of one already ingested, ignored
}

// Ingest takes one monitoring event. A clear (severity 0) closes the open
// alert with the event's dedup key and, when the rule says so, resolves its
// incident. Any other event is folded into the open alert with its key
// (count, last seen, severity, message) or opens a new one; an alert at or
// above the rule's severity raises an incident, or joins the incident of an
// open alert on a CI sharing an upstream cause when a CMDB is configured.
// A repeat of an EventID with the same payload is ignored; with a changed
// payload it is refused (itsm.ErrConflict). Everything happens in one unit
// of work.
func (d *Desk) Ingest(ctx context.Context, ev MonitorEvent) (IngestResult, error) {
	if ctx == nil {
		return IngestResult{}, itsm.Invalidf("alert: nil context")
	}
	if err := ev.validate(); err != nil {
		return IngestResult{}, err
	}
	if err := itsm.Authorize(ctx, d.cfg.Authorizer, KindAlert, itsm.ActionCreate, nil); err != nil {
		return IngestResult{}, err
	}
	var upstream []string
	if d.cfg.CMDB != nil && ev.CIID != "" && ev.Severity != SeverityClear {
		var err error
		if upstream, err = d.cfg.CMDB.Upstream(ctx, ev.CIID); err != nil {
			return IngestResult{}, fmt.Errorf("alert: CMDB upstream of %s: %w", ev.CIID, err)
		}
	}
	var res IngestResult
	err := d.update(ctx, func(tx storage.Tx) error {
		res = IngestResult{}
		var evID string
		if ev.EventID != "" {
			evID = uuid.NewSHA1(eventNamespace, []byte(ev.Source+"\x00"+ev.EventID)).String()
			seen, err := d.mevents.Collection().Get(ctx, tx, evID)
			switch {
			case err == nil && seen.PayloadHash == ev.hash():
				res.Duplicate = true
				if seen.AlertID != "" {
					res.Alert, err = d.alerts.Collection().Get(ctx, tx, seen.AlertID)
				}
				return err
			case err == nil:
				return fmt.Errorf("alert: event %s from %s was already received with a different payload: %w", ev.EventID, ev.Source, itsm.ErrConflict)
			case !errors.Is(err, itsm.ErrNotFound):
				return err
			}
		}
		if err := d.ingestTx(ctx, tx, ev, upstream, &res); err != nil {
			return err
		}
		if evID != "" {
			me := &MonitoringEvent{Source: ev.Source, EventID: ev.EventID, PayloadHash: ev.hash()}
			me.ID = evID
			if res.Alert != nil {
				me.AlertID = res.Alert.ID
			}
			return d.mevents.CreateTx(ctx, tx, me, storage.Command{})
		}
		return nil
	})
	return res, err
}

// AlertKey points a deduplication key at its open alert. Its id is derived
// from the key, so two units of work opening an alert for one key at once
// collide on it (a version conflict, retried) instead of opening two alerts:
// a store's queries may not see a concurrent unit's uncommitted alert.
type AlertKey struct {
	itsm.Record
	DedupKey string `json:"dedup_key"`
	AlertID  string `json:"alert_id"`
}

func alertKeyLifecycle() *itsm.Lifecycle[*AlertKey] {
	return itsm.NewLifecycle[*AlertKey](KindAlertKey).
		Initial("active").Final("retired").
		Event("retire", "retired", "active")
}

var alertKeyNamespace = uuid.MustParse("0b5f3c2e-7d4a-4e8b-9c61-5a2d8e3f1b07")

// openAlert returns the key record for key (nil when none exists yet) and
// the open alert it points at (nil when there is none).
func (d *Desk) openAlert(ctx context.Context, tx storage.Tx, key string) (*AlertKey, *Alert, error) {
	k, err := d.alertKeys.Collection().Get(ctx, tx, uuid.NewSHA1(alertKeyNamespace, []byte(key)).String())
	if errors.Is(err, itsm.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	a, err := d.alerts.Collection().Get(ctx, tx, k.AlertID)
	if err != nil {
		return nil, nil, err
	}
	if a.State == AlertClosed {
		return k, nil, nil
	}
	return k, a, nil
}

// pointKey makes the key record point at a new alert.
func (d *Desk) pointKey(ctx context.Context, tx storage.Tx, k *AlertKey, a *Alert) error {
	if k == nil {
		k = &AlertKey{DedupKey: a.DedupKey, AlertID: a.ID}
		k.ID = uuid.NewSHA1(alertKeyNamespace, []byte(a.DedupKey)).String()
		return d.alertKeys.CreateTx(ctx, tx, k, storage.Command{})
	}
	_, err := d.alertKeys.ChangeTx(ctx, tx, k.ID, storage.Command{}, func(k *AlertKey) error {
		k.AlertID = a.ID
		return nil
	})
	return err
}

func (d *Desk) ingestTx(ctx context.Context, tx storage.Tx, ev MonitorEvent, upstream []string, res *IngestResult) error {
	now := d.now()
	k, a, err := d.openAlert(ctx, tx, ev.key())
	if err != nil {
		return err
	}
	if ev.Severity == SeverityClear {
		if a == nil || a.State == AlertClosed {
			return nil
		}
		if res.Alert, err = d.alerts.FireTx(ctx, tx, a.ID, EventClear, storage.Command{Reason: ev.Message}, func(a *Alert) error {
			a.Count++
			a.LastSeen = now
			return nil
		}); err != nil {
			return err
		}
		return d.clearIncident(ctx, tx, res)
	}
	if a == nil {
		a = &Alert{DedupKey: ev.key(), Source: ev.Source, Node: ev.Node, Type: ev.Type, Severity: ev.Severity,
			Message: ev.Message, CIID: ev.CIID, UpstreamCIIDs: upstream, Count: 1, FirstSeen: now, LastSeen: now}
		if err := d.alerts.CreateTx(ctx, tx, a, storage.Command{}); err != nil {
			return err
		}
		if err := d.pointKey(ctx, tx, k, a); err != nil {
			return err
		}
	} else if a, err = d.alerts.ChangeTx(ctx, tx, a.ID, storage.Command{}, func(a *Alert) error {
		a.Count++
		a.LastSeen, a.Severity, a.Message = now, ev.Severity, ev.Message
		return nil
	}); err != nil {
		return err
	}
	res.Alert = a
	if d.cfg.AlertRule.MinSeverity == 0 || a.Severity > d.cfg.AlertRule.MinSeverity {
		return nil
	}
	if a.IncidentID != "" {
		inc, err := d.incidents.Collection().Get(ctx, tx, a.IncidentID)
		if err != nil {
			return err
		}
		if inc.State != StateClosed && inc.State != StateCanceled {
			return nil // open, or resolved and still reopenable by a person
		}
	}
	inc, correlated, err := d.incidentForAlert(ctx, tx, a)
	if err != nil {
		return err
	}
	res.Incident = inc
	res.Alert, err = d.alerts.ChangeTx(ctx, tx, a.ID, storage.Command{Reason: "linked to " + inc.Number}, func(a *Alert) error {
		a.IncidentID, a.Correlated = inc.ID, correlated
		return nil
	})
	return err
}

// incidentForAlert finds the open incident of a correlated alert, or raises
// a new one.
func (d *Desk) incidentForAlert(ctx context.Context, tx storage.Tx, a *Alert) (*Incident, bool, error) {
	if d.cfg.CMDB != nil && a.CIID != "" {
		q := storage.Query{Limit: storage.MaxLimit, Filters: []storage.Filter{
			storage.In("state", storage.String(AlertOpen), storage.String(AlertAcknowledged)),
			storage.Gt("incident_id", storage.String(""))}}
		others, _, err := d.alerts.Collection().Query(ctx, tx, q)
		if err != nil {
			return nil, false, err
		}
		mine := append([]string{a.CIID}, a.UpstreamCIIDs...)
		for _, o := range others {
			if o.ID == a.ID || o.CIID == "" {
				continue
			}
			theirs := append([]string{o.CIID}, o.UpstreamCIIDs...)
			if !slices.ContainsFunc(mine, func(c string) bool { return slices.Contains(theirs, c) }) {
				continue
			}
			inc, err := d.incidents.Collection().Get(ctx, tx, o.IncidentID)
			if err != nil {
				return nil, false, err
			}
			if d.IsOpen(inc) {
				return inc, true, nil
			}
		}
	}
	r := d.cfg.AlertRule
	impact, urgency := r.Impact, r.Urgency
	if impact == 0 {
		impact, urgency = severityImpact(a.Severity, d.matrix(ctx))
	}
	actor, _ := itsm.ActorFrom(ctx)
	caller := r.CallerID
	if caller == "" {
		caller = actor.ID
	}
	desc := fmt.Sprintf("%s on %s: %s", a.Type, a.Node, a.Message)
	if len(desc) > MaxShortDescription {
		desc = desc[:MaxShortDescription]
	}
	inc := &Incident{ShortDescription: desc, Description: a.Message, CallerID: caller, OpenedBy: actor.ID, ContactType: "monitoring",
		CIID: a.CIID, Category: "monitoring", Subcategory: a.Type, Impact: impact, Urgency: urgency, AssignmentGroup: r.AssignmentGroup}
	if err := d.checkPriority(ctx, inc); err != nil {
		return nil, false, err
	}
	if err := d.incidents.CreateTx(ctx, tx, inc, storage.Command{Reason: "raised by alert " + a.Number}); err != nil {
		return nil, false, err
	}
	return inc, false, nil
}

func severityImpact(sev int, m *PriorityMatrix) (int, int) {
	pairs := map[int][2]int{SeverityCritical: {1, 1}, SeverityMajor: {1, 2}, SeverityMinor: {2, 2}}
	p, ok := pairs[sev]
	if !ok {
		p = [2]int{3, 3}
	}
	return min(p[0], m.Impacts()), min(p[1], m.Urgencies())
}

// clearIncident resolves the cleared alert's incident when the rule says so
// and no other open alert still points at it.
func (d *Desk) clearIncident(ctx context.Context, tx storage.Tx, res *IngestResult) error {
	a := res.Alert
	if !d.cfg.AlertRule.ResolveOnClear || a.IncidentID == "" {
		return nil
	}
	inc, err := d.incidents.Collection().Get(ctx, tx, a.IncidentID)
	if err != nil || !d.IsOpen(inc) {
		return err
	}
	others, _, err := d.alerts.Collection().Query(ctx, tx, storage.Query{Limit: 2, Filters: []storage.Filter{
		storage.Eq("incident_id", storage.String(inc.ID)), storage.In("state", storage.String(AlertOpen), storage.String(AlertAcknowledged))}})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != a.ID {
			return nil // another alert still open on this incident
		}
	}
	code := d.cfg.AlertRule.ClearCode
	if code == "" {
		code = ResolvedRemotely
	}
	res.Incident, err = d.resolveTx(ctx, tx, inc.ID, code, "cleared by monitoring: alert "+a.Number, storage.Command{Reason: "alert " + a.Number + " cleared"})
	return err
}

// AcknowledgeAlert marks an open alert as being looked at.
func (d *Desk) AcknowledgeAlert(ctx context.Context, id string, cmd storage.Command) (*Alert, error) {
	return d.alerts.Fire(ctx, id, EventAcknowledge, cmd, nil)
}
