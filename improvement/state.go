package improvement

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// The incident states the engine knows, from the cross-pillar conventions.
const (
	stateNew      = "new"
	stateOnHold   = "on_hold"
	stateResolved = "resolved"
	stateClosed   = "closed"
	stateCanceled = "canceled"
)

// sliceKey is the slice a measurement belongs to. Service and group names
// are interned (state.Names), so keys hash and compare as three integers.
type sliceKey struct {
	Service  int32
	Group    int32
	Priority int32
}

// bucketKey is a slice on one UTC day (days since the Unix epoch).
type bucketKey struct {
	Slice sliceKey
	Day   int32
}

// counters are the additive sums of one bucket. Durations are milliseconds,
// backlog opening times Unix seconds. Every field only ever changes by a
// measurement added or withdrawn, so sums over buckets are exact.
type counters struct {
	AckN, AckMs                           int64
	ResN, ResMs, ResBizN, ResBizMs        int64
	Reopened, FCR, Reassigned             int64
	BacklogDelta, BacklogOpenedSec        int64
	MTBFN, MTBFMs                         int64
	SLAN, SLAMet                          int64
	ChgClosed, ChgReviewed, ChgSuccessful int64
	ChgEmergency, ChgCausing              int64
	ReqN, ReqMs                           int64
	IncOpened, ReqOpened, ChgOpened       int64
}

// incidentT is what the engine remembers about an incident until it closes.
type incidentT struct {
	Opened    int64 // Unix microseconds of creation
	Key       sliceKey
	State     string
	Acked     bool
	Held      bool
	Reassign  int32
	Reopen    int32
	InBacklog bool
	BKey      sliceKey // slice the backlog entry was counted in
	Resolved  bool
	RKey      bucketKey // bucket of the resolution measurement, withdrawn on reopen
	RMs       int64
	RBizMs    int64
	RBiz      bool  // the resolution has a business time
	RFlags    uint8 // resolution measurement: reopened, reassigned, first-contact
	CausedBy  string
	SLAs      []string // SLA clocks running on the incident, forgotten with it
}

const (
	flagReopened uint8 = 1 << iota
	flagReassigned
	flagFCR
)

// changeT is what the engine remembers about a change; closed changes are
// kept (small) so that incidents linking to them later count.
type changeT struct {
	Key     sliceKey
	Type    string
	Outcome string
	Closed  bool
	CKey    bucketKey
}

type requestT struct {
	Opened int64
	Key    sliceKey
	SLAs   []string
}

type slaT struct {
	Task      string
	Metric    string
	Stage     string
	Breached  bool
	Own       sliceKey
	OwnSet    uint8 // which of Own's fields the clock carries: 1 service, 2 group, 4 priority
	Completed bool
	CKey      bucketKey
	CMet      bool
}

type serviceT struct {
	Open    int32
	HasUp   bool
	UpSince int64 // Unix microseconds
}

// state is everything the engine knows; it is what a checkpoint saves.
type state struct {
	Seq int64
	// Keys and Counters are the buckets, in the order they were first
	// used; index maps a key to its position. Neither holds a pointer, so
	// the garbage collector never scans them.
	Keys     []bucketKey
	Counters []counters
	index    map[bucketKey]int32
	// the bucket used last: an event often touches one bucket several times
	lastKey    bucketKey
	lastIdx    int32
	lastOK     bool
	Incidents  map[string]*incidentT
	Changes    map[string]*changeT
	ChangeRefs map[string]int32
	Requests   map[string]*requestT
	SLAs       map[string]*slaT
	Services   map[int32]*serviceT
	// Names interns service and group names; 0 is "".
	Names  []string
	ids    map[string]int32
	HasDay bool
	MinDay int32
	MaxDay int32
}

func newState() *state {
	return &state{
		index:      map[bucketKey]int32{},
		Incidents:  map[string]*incidentT{},
		Changes:    map[string]*changeT{},
		ChangeRefs: map[string]int32{},
		Requests:   map[string]*requestT{},
		SLAs:       map[string]*slaT{},
		Services:   map[int32]*serviceT{},
		Names:      []string{""},
		ids:        map[string]int32{"": 0},
	}
}

// id interns a service or group name.
func (st *state) id(s string) int32 {
	if v, ok := st.ids[s]; ok {
		return v
	}
	v := int32(len(st.Names))
	st.Names = append(st.Names, s)
	st.ids[s] = v
	return v
}

// jsonPriority reads a priority; values outside 0..1000 read as 0.
func jsonPriority(s string) int32 {
	n := jsonInt(s)
	if n < 0 || n > 1000 {
		return 0
	}
	return int32(n)
}

func dayOf(t time.Time) int32 { return dayOfUnix(t.Unix()) }

func dayOfUnix(sec int64) int32 {
	d := sec / 86400
	if sec%86400 < 0 {
		d--
	}
	return int32(d)
}

func dayStart(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (st *state) bucket(k sliceKey, t time.Time) *counters {
	day := dayOf(t)
	if !st.HasDay {
		st.HasDay, st.MinDay, st.MaxDay = true, day, day
	} else {
		st.MinDay, st.MaxDay = min(st.MinDay, day), max(st.MaxDay, day)
	}
	bk := bucketKey{k, day}
	if st.lastOK && st.lastKey == bk {
		return &st.Counters[st.lastIdx]
	}
	i, ok := st.index[bk]
	if !ok {
		i = int32(len(st.Keys))
		st.index[bk] = i
		st.Keys = append(st.Keys, bk)
		st.Counters = append(st.Counters, counters{})
	}
	st.lastKey, st.lastIdx, st.lastOK = bk, i, true
	// The pointer is valid until the next bucket is added: callers finish
	// with one bucket before asking for another.
	return &st.Counters[i]
}

// lookup returns the bucket of k, or nil when it was never used.
func (st *state) lookup(k bucketKey) *counters {
	if i, ok := st.index[k]; ok {
		return &st.Counters[i]
	}
	return nil
}

// millis returns the interval in whole milliseconds, zero when negative.
func millis(fromMicro int64, to time.Time) int64 {
	d := to.UnixMicro() - fromMicro
	if d < 0 {
		return 0
	}
	return d / 1000
}

// jsonString reads a Change value holding a JSON string; anything else
// (null, a removed field, a number) reads as "".
func jsonString(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		inner := s[1 : len(s)-1]
		if !strings.ContainsRune(inner, '\\') {
			return inner
		}
		var out string
		if json.Unmarshal([]byte(s), &out) == nil {
			return out
		}
	}
	return ""
}

// jsonInt reads a Change value holding a JSON integer (or a string holding
// one); anything else reads as 0.
func jsonInt(s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if n, err := strconv.Atoi(jsonString(s)); err == nil {
		return n
	}
	return 0
}

func (e *Engine) applyOne(ev *itsm.Event) {
	switch ev.Kind {
	case e.cfg.IncidentKind:
		e.incident(ev)
	case e.cfg.ChangeKind:
		e.change(ev)
	case e.cfg.RequestKind:
		e.request(ev)
	case e.cfg.SLA.Kind:
		e.sla(ev)
	}
}

func incidentOpen(s string) bool {
	return s != "" && s != stateResolved && s != stateClosed && s != stateCanceled
}

func (e *Engine) incident(ev *itsm.Event) {
	st := e.st
	inc := st.Incidents[ev.RecordID]
	if inc == nil {
		if ev.Name != itsm.EventCreate {
			return // closed, canceled, or created before the log began
		}
		inc = &incidentT{Opened: ev.At.UnixMicro()}
		st.Incidents[ev.RecordID] = inc
	}
	key, caused, assigned := inc.Key, inc.CausedBy, false
	for i := range ev.Changes {
		c := &ev.Changes[i]
		switch c.Field {
		case "service_id":
			key.Service = st.id(jsonString(c.To))
		case "assignment_group":
			key.Group = st.id(jsonString(c.To))
		case "priority":
			key.Priority = jsonPriority(c.To)
		case "assigned_to":
			assigned = jsonString(c.To) != ""
		case "caused_by_change_id":
			caused = jsonString(c.To)
		}
	}
	if key.Group != inc.Key.Group && inc.Key.Group != 0 && key.Group != 0 {
		inc.Reassign++
	}
	if key != inc.Key {
		if inc.InBacklog {
			st.backlogLeave(inc, ev.At)
			inc.Key = key
			st.backlogEnter(inc, ev.At)
		}
		inc.Key = key
	}
	from, to := inc.State, ev.To
	if to == "" {
		to = from
	}
	if from == "" {
		st.bucket(inc.Key, ev.At).IncOpened++
	}
	if caused != inc.CausedBy || (to == stateCanceled && caused != "") {
		if inc.CausedBy != "" {
			st.unref(inc.CausedBy)
		}
		inc.CausedBy = caused
		if caused != "" && to != stateCanceled {
			st.ref(caused)
		} else {
			inc.CausedBy = ""
		}
	}
	if !inc.Acked && to != stateCanceled && ((from == stateNew && to != stateNew) || assigned) {
		inc.Acked = true
		b := st.bucket(inc.Key, ev.At)
		b.AckN++
		b.AckMs += millis(inc.Opened, ev.At)
	}
	if to == stateOnHold {
		inc.Held = true
	}
	if inc.Resolved && (incidentOpen(to) || to == stateCanceled) {
		st.withdrawResolution(inc)
		if to != stateCanceled {
			inc.Reopen++
		}
	}
	if !inc.Resolved && (to == stateResolved || (to == stateClosed && from != stateResolved)) {
		e.resolve(inc, ev.At)
	}
	switch open := incidentOpen(to); {
	case inc.InBacklog && !open:
		st.backlogLeave(inc, ev.At)
	case !inc.InBacklog && open:
		st.backlogEnter(inc, ev.At)
	}
	inc.State = to
	if to == stateClosed || to == stateCanceled {
		st.forgetSLAs(inc.SLAs)
		delete(st.Incidents, ev.RecordID)
	}
}

func (e *Engine) resolve(inc *incidentT, at time.Time) {
	st := e.st
	b := st.bucket(inc.Key, at)
	inc.Resolved = true
	inc.RKey = bucketKey{inc.Key, dayOf(at)}
	inc.RMs = millis(inc.Opened, at)
	inc.RBizMs, inc.RBiz = 0, false
	if e.cfg.Calendar != nil {
		if d, err := e.cfg.Calendar.Between(time.UnixMicro(inc.Opened).UTC(), at); err == nil {
			inc.RBizMs, inc.RBiz = max(d.Milliseconds(), 0), true
		}
	}
	inc.RFlags = 0
	if inc.Reopen > 0 {
		inc.RFlags |= flagReopened
	}
	if inc.Reassign > 0 {
		inc.RFlags |= flagReassigned
	}
	if inc.Reopen == 0 && inc.Reassign == 0 && !inc.Held {
		inc.RFlags |= flagFCR
	}
	b.ResN++
	b.ResMs += inc.RMs
	if inc.RBiz {
		b.ResBizN++
		b.ResBizMs += inc.RBizMs
	}
	b.add(inc.RFlags, 1)
}

func (c *counters) add(flags uint8, n int64) {
	if flags&flagReopened != 0 {
		c.Reopened += n
	}
	if flags&flagReassigned != 0 {
		c.Reassigned += n
	}
	if flags&flagFCR != 0 {
		c.FCR += n
	}
}

func (st *state) withdrawResolution(inc *incidentT) {
	b := st.lookup(inc.RKey)
	if b != nil {
		b.ResN--
		b.ResMs -= inc.RMs
		if inc.RBiz {
			b.ResBizN--
			b.ResBizMs -= inc.RBizMs
		}
		b.add(inc.RFlags, -1)
	}
	inc.Resolved = false
	inc.RKey, inc.RMs, inc.RBizMs, inc.RBiz, inc.RFlags = bucketKey{}, 0, 0, false, 0
}

func (st *state) backlogEnter(inc *incidentT, at time.Time) {
	b := st.bucket(inc.Key, at)
	b.BacklogDelta++
	b.BacklogOpenedSec += inc.Opened / 1e6
	inc.InBacklog, inc.BKey = true, inc.Key
	if s := inc.Key.Service; s != 0 {
		sv := st.Services[s]
		if sv == nil {
			sv = &serviceT{}
			st.Services[s] = sv
		}
		if sv.Open == 0 && sv.HasUp {
			m := st.bucket(sliceKey{Service: s}, at)
			m.MTBFN++
			m.MTBFMs += millis(sv.UpSince, at)
		}
		sv.Open++
	}
}

func (st *state) backlogLeave(inc *incidentT, at time.Time) {
	b := st.bucket(inc.BKey, at)
	b.BacklogDelta--
	b.BacklogOpenedSec -= inc.Opened / 1e6
	if s := inc.BKey.Service; s != 0 {
		if sv := st.Services[s]; sv != nil && sv.Open > 0 {
			sv.Open--
			if sv.Open == 0 {
				sv.HasUp, sv.UpSince = true, at.UnixMicro()
			}
		}
	}
	inc.InBacklog, inc.BKey = false, sliceKey{}
}

func (st *state) ref(change string) {
	st.ChangeRefs[change]++
	if st.ChangeRefs[change] == 1 {
		if ch := st.Changes[change]; ch != nil && ch.Closed {
			if b := st.lookup(ch.CKey); b != nil {
				b.ChgCausing++
			}
		}
	}
}

func (st *state) unref(change string) {
	n := st.ChangeRefs[change] - 1
	if n > 0 {
		st.ChangeRefs[change] = n
		return
	}
	delete(st.ChangeRefs, change)
	if ch := st.Changes[change]; ch != nil && ch.Closed {
		if b := st.lookup(ch.CKey); b != nil {
			b.ChgCausing--
		}
	}
}

func (e *Engine) change(ev *itsm.Event) {
	st := e.st
	ch := st.Changes[ev.RecordID]
	if ch == nil {
		if ev.Name != itsm.EventCreate {
			return
		}
		ch = &changeT{}
		st.Changes[ev.RecordID] = ch
		defer func() { st.bucket(ch.Key, ev.At).ChgOpened++ }()
	}
	if ch.Closed {
		return // a closed change's measurements are final
	}
	for i := range ev.Changes {
		c := &ev.Changes[i]
		switch c.Field {
		case "service_id":
			ch.Key.Service = st.id(jsonString(c.To))
		case "assignment_group":
			ch.Key.Group = st.id(jsonString(c.To))
		case "priority":
			ch.Key.Priority = jsonPriority(c.To)
		case "type":
			ch.Type = jsonString(c.To)
		case "review_outcome":
			ch.Outcome = jsonString(c.To)
		}
	}
	switch ev.To {
	case stateClosed:
		b := st.bucket(ch.Key, ev.At)
		b.ChgClosed++
		if ch.Outcome != "" {
			b.ChgReviewed++
			if ch.Outcome == "successful" {
				b.ChgSuccessful++
			}
		}
		if ch.Type == "emergency" {
			b.ChgEmergency++
		}
		if st.ChangeRefs[ev.RecordID] > 0 {
			b.ChgCausing++
		}
		ch.Closed, ch.CKey = true, bucketKey{ch.Key, dayOf(ev.At)}
		ch.Type, ch.Outcome = "", ""
	case stateCanceled:
		delete(st.Changes, ev.RecordID)
	}
}

func (e *Engine) request(ev *itsm.Event) {
	st := e.st
	rq := st.Requests[ev.RecordID]
	if rq == nil {
		if ev.Name != itsm.EventCreate {
			return
		}
		rq = &requestT{Opened: ev.At.UnixMicro()}
		st.Requests[ev.RecordID] = rq
		defer func() { st.bucket(rq.Key, ev.At).ReqOpened++ }()
	}
	for i := range ev.Changes {
		c := &ev.Changes[i]
		switch c.Field {
		case "service_id":
			rq.Key.Service = st.id(jsonString(c.To))
		case "assignment_group":
			rq.Key.Group = st.id(jsonString(c.To))
		case "priority":
			rq.Key.Priority = jsonPriority(c.To)
		}
	}
	if e.fulfil[ev.To] {
		b := st.bucket(rq.Key, ev.At)
		b.ReqN++
		b.ReqMs += millis(rq.Opened, ev.At)
	}
	if e.ended[ev.To] {
		st.forgetSLAs(rq.SLAs)
		delete(st.Requests, ev.RecordID)
	}
}

func (e *Engine) sla(ev *itsm.Event) {
	st, in := e.st, &e.cfg.SLA
	s := st.SLAs[ev.RecordID]
	if s == nil {
		if ev.Name != itsm.EventCreate {
			return
		}
		s = &slaT{}
		st.SLAs[ev.RecordID] = s
	}
	staged := false
	for i := range ev.Changes {
		c := &ev.Changes[i]
		switch c.Field {
		case in.TaskField:
			if task := jsonString(c.To); task != s.Task {
				s.Task = task
				if inc := st.Incidents[task]; inc != nil {
					inc.SLAs = append(inc.SLAs, ev.RecordID)
				} else if rq := st.Requests[task]; rq != nil {
					rq.SLAs = append(rq.SLAs, ev.RecordID)
				}
			}
		case in.StageField:
			s.Stage, staged = jsonString(c.To), true
		case in.MetricField:
			s.Metric = jsonString(c.To)
		case in.BreachedField:
			s.Breached = c.To == "true"
		case in.ServiceField:
			s.Own.Service, s.OwnSet = st.id(jsonString(c.To)), s.OwnSet|1
		case in.GroupField:
			s.Own.Group, s.OwnSet = st.id(jsonString(c.To)), s.OwnSet|2
		case in.PriorityField:
			s.Own.Priority, s.OwnSet = jsonPriority(c.To), s.OwnSet|4
		}
	}
	if !staged && ev.Name != itsm.EventUpdate && ev.To != "" {
		s.Stage = ev.To
	}
	done := e.slaDone[s.Stage]
	cancelled := s.Stage == "cancelled" || s.Stage == "canceled"
	if s.Completed && (!done || cancelled) {
		if b := st.lookup(s.CKey); b != nil {
			b.SLAN--
			if s.CMet {
				b.SLAMet--
			}
		}
		s.Completed, s.CMet, s.CKey = false, false, bucketKey{}
	}
	// ticket finds the clock's ticket once: its slice, nil when the engine
	// does not follow it.
	var task *sliceKey
	looked := false
	ticket := func() *sliceKey {
		if !looked {
			looked = true
			if inc := st.Incidents[s.Task]; inc != nil {
				task = &inc.Key
			} else if rq := st.Requests[s.Task]; rq != nil {
				task = &rq.Key
			}
		}
		return task
	}
	if !s.Completed && done && !cancelled && (e.metrics == nil || e.metrics[s.Metric]) {
		key := s.Own
		if task := ticket(); task != nil {
			if s.OwnSet&1 == 0 {
				key.Service = task.Service
			}
			if s.OwnSet&2 == 0 {
				key.Group = task.Group
			}
			if s.OwnSet&4 == 0 {
				key.Priority = task.Priority
			}
		}
		b := st.bucket(key, ev.At)
		b.SLAN++
		s.CMet = !s.Breached
		if s.CMet {
			b.SLAMet++
		}
		s.Completed, s.CKey = true, bucketKey{key, dayOf(ev.At)}
	}
	if done && e.metrics != nil && !e.metrics[s.Metric] {
		delete(st.SLAs, ev.RecordID) // a clock of a metric not measured
		return
	}
	if (s.Completed || cancelled) && ticket() == nil {
		// Ended on a ticket the engine no longer follows (closed, or of a
		// kind it does not read): nothing can withdraw the measurement or
		// restart the clock any more.
		delete(st.SLAs, ev.RecordID)
	}
}

// forgetSLAs drops the completed SLA clocks of a ticket that is closing:
// their measurements are final. Running clocks are kept until they end.
func (st *state) forgetSLAs(ids []string) {
	for _, id := range ids {
		if s := st.SLAs[id]; s != nil && (s.Completed || s.Stage == "canceled" || s.Stage == "cancelled") {
			delete(st.SLAs, id)
		}
	}
}
