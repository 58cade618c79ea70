package improvement

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

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

// An incident's state as the engine keeps it: the states it tells apart,
// and every other (open) state as stOther.
const (
	stNone uint8 = iota // not yet created
	stNew
	stOnHold
	stResolved
	stClosed
	stCanceled
	stOther
)

func stateCode(s string) uint8 {
	switch s {
	case "":
		return stNone
	case stateNew:
		return stNew
	case stateOnHold:
		return stOnHold
	case stateResolved:
		return stResolved
	case stateClosed:
		return stClosed
	case stateCanceled:
		return stCanceled
	}
	return stOther
}

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
// measurement added or withdrawn, so sums over buckets are exact. Counts
// are of one slice on one day, so 32 bits hold them; a bucket is two cache
// lines.
type counters struct {
	AckMs, ResMs, ResBizMs, BacklogOpenedSec, MTBFMs, ReqMs int64
	AckN, ResN, ResBizN                                     int32
	Reopened, FCR, Reassigned                               int32
	BacklogDelta, MTBFN                                     int32
	SLAN, SLAMet                                            int32
	ChgClosed, ChgReviewed, ChgSuccessful                   int32
	ChgEmergency, ChgCausing                                int32
	ReqN                                                    int32
	IncOpened, ReqOpened, ChgOpened                         int32
}

// Buckets are stored in chunks of a fixed size, so adding one never copies
// the others.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

// The per-record facts below hold no pointer: records live in tables
// (slices indexed by slot), other records are named by slot+1 (0: none),
// names by their interned id, and states by small codes, so the garbage
// collector never scans them and a record costs no allocation.

// bucketRef names a bucket by its position in state.Keys plus one; 0 is
// none. A record keeps the buckets of its measurements so (4 bytes where a
// bucketKey takes 16): withdrawing one, or reading it for percentiles,
// goes to the counters without hashing the key.
type bucketRef int32

// incidentT is what the engine remembers about an incident; it is kept
// after closure, so that a reopen after close is applied. A million
// incidents are a million of these, so it is kept small (96 bytes): the
// measurements' buckets are bucketRefs, and the backlog entry is always
// counted in Key (the slice changes only by leaving and re-entering the
// backlog).
type incidentT struct {
	Opened int64 // Unix microseconds of creation
	RMs    int64 // the resolution measurement (ms), withdrawn on reopen
	RBizMs int64
	// Kept for percentiles and MTTRFirst, read at query time: the
	// acknowledgement and the first resolution (ms).
	AckMs    int64
	FirstMs  int64
	Key      sliceKey
	Reassign int32
	Reopen   int32
	CausedBy int32     // slot+1 of the change (Engine.Changes) it was caused by
	SLAs     int32     // slot+1 of the first SLA clock running on it; slaT.Next links the others
	Agent    int32     // interned assigned_to
	AgentChg int32     // assignee replaced by another (FirstContact.SameAgent)
	RRef     bucketRef // bucket of the resolution measurement, 0 when none stands
	AckRef   bucketRef // bucket of the acknowledgement, 0 until acknowledged
	FirstRef bucketRef // bucket of the first resolution, 0 until resolved once
	State    uint8     // stNew, ...
	RFlags   uint8     // resolution measurement: reopened, reassigned, first-contact
	Flags    uint8     // incAcked, ...
}

// Bits of incidentT.Flags.
// An incident is acknowledged when AckRef is set, has a resolution
// measurement standing when RRef is, and was resolved once when FirstRef
// is.
const (
	incHeld      uint8 = 1 << iota // was on hold
	incInBacklog                   // counted in the backlog (of Key)
	incRBiz                        // the resolution has a business time (RBizMs)
	incExcluded                    // left out by Config.Keep or Config.Tenants: its events are skipped
	incUntimed                     // resolved without a resolution time (Config.SkipUntimed)
)

func (inc *incidentT) has(f uint8) bool { return inc.Flags&f != 0 }

func (inc *incidentT) set(f uint8, on bool) {
	if on {
		inc.Flags |= f
	} else {
		inc.Flags &^= f
	}
}

const (
	flagReopened uint8 = 1 << iota
	flagReassigned
	flagFCR
)

// Outcomes of a change's review, as the engine keeps them.
const (
	outcomeNone uint8 = iota
	outcomeSuccessful
	outcomeOther
)

// changeT is what the engine remembers about a change; closed changes are
// kept (small) so that incidents linking to them later count. A change
// linked by incidents but not (or no longer) followed is kept with Live
// false while Refs counts the links.
type changeT struct {
	Excluded  bool // left out by Config.Keep: its events are skipped
	Live      bool // created in the log and not canceled
	Closed    bool
	Emergency bool
	Outcome   uint8
	Refs      int32 // incidents whose caused_by_change_id is this change
	Key       sliceKey
	CRef      bucketRef // bucket the closure was counted in
}

type requestT struct {
	Opened    int64
	Key       sliceKey
	SLAs      int32 // slot+1 of the first SLA clock running on it
	Ended     bool  // in a final state (Config.RequestEnded)
	Excluded  bool  // left out by Config.Keep or Config.Tenants
	Fulfilled bool  // a fulfilment measurement stands (FRef, FMs)
	FRef      bucketRef
	FMs       int64
}

// Kinds of ticket an SLA clock runs on.
const (
	taskNone uint8 = iota // not (or no longer) followed by the engine
	taskIncident
	taskRequest
)

type slaT struct {
	Task      string // id of the ticket
	TaskKind  uint8  // taskIncident or taskRequest while the engine follows the ticket
	TaskSlot  int32  // the ticket's slot in its table
	Next      int32  // slot+1 of the next clock on the same ticket
	Metric    int32  // interned metric name
	Done      bool   // the stage ends a measured clock (SLAInput.Completed)
	Cancelled bool   // the stage is canceled or cancelled
	Breached  bool
	OwnSet    uint8 // which of Own's fields the clock carries: 1 service, 2 group, 4 priority
	Completed bool
	CMet      bool
	Own       sliceKey
	CRef      bucketRef // bucket the completion was counted in
}

type serviceT struct {
	Open    int32
	HasUp   bool
	UpSince int64 // Unix microseconds
}

// table holds the records of one kind the engine follows: Rows[slot] is a
// record, IDs[slot] its id ("" for a free slot). Freed slots are reused,
// the last freed first, so the table stays as small as the records
// followed at once.
type table[T any] struct {
	IDs   []string
	Rows  []T
	Free  []int32
	index idIndex  // id -> slot; rebuilt from IDs on decode
	tags  []uint32 // tags[slot]: the index's tag of the id, so removing it hashes nothing
	seen  *seenIDs // allocated on first use
	last  int32    // slot+1 of the id added last
}

func newTable[T any]() table[T] { return table[T]{} }

// find returns the slot of id; h is the id's hash, or 0 to compute it
// when needed. The hash it returns is the id's when it computed or was
// given it, or 0 when the id was found by where its bytes are (see
// seenIDs); add takes it.
func (t *table[T]) find(id string, h uint64) (slot int32, ok bool, _ uint64) {
	var e *seenID
	var p uintptr
	if len(id) > 0 {
		if t.seen == nil {
			t.seen = new(seenIDs)
		}
		p = addressOf(id)
		e = t.seen.entry(p)
		if s := e.slot; e.p == p && int(s) < len(t.IDs) && len(t.IDs[s]) == len(id) &&
			addressOf(t.IDs[s]) == p {
			return s, true, 0
		}
	}
	if h == 0 {
		h = hashID(id)
	}
	slot, ok = t.index.get(t.IDs, id, h)
	if ok && e != nil {
		e.p, e.slot = p, slot
	}
	return slot, ok, h
}

// peek reads ahead what find will read for id (see Engine.loadAhead): the
// by-address cache entry and the row it names, and when it does not know
// id, id's bytes and the index slot a lookup starts from. It returns id's hash when it computed
// it (0 otherwise) and a byte of what it read, and changes nothing.
func (t *table[T]) peek(id string) (h uint64, b byte) {
	if len(id) == 0 {
		return 0, 0
	}
	if t.seen != nil {
		p := addressOf(id)
		if e := t.seen.entry(p); e.p == p && int(e.slot) < len(t.IDs) {
			// Most likely the record's slot: its row is read too.
			return 0, byte(len(t.IDs[e.slot])) ^ *(*byte)(unsafe.Pointer(&t.Rows[e.slot]))
		}
	}
	h = hashID(id)
	if slots := t.index.slots; len(slots) > 0 {
		b = byte(slots[uint32(h)&uint32(len(slots)-1)])
	}
	return h, b
}

// findOther returns the slot of id when id is a reference read from
// another record (an SLA clock's ticket), whose string is not the one the
// ticket's own events carry: it leaves what find remembers alone, and
// first tries the record added last, a clock being mostly created with
// its ticket.
func (t *table[T]) findOther(id string) (int32, bool) {
	if s := t.last - 1; s >= 0 && int(s) < len(t.IDs) && t.IDs[s] == id && id != "" {
		return s, true
	}
	return t.index.get(t.IDs, id, hashID(id))
}

// add takes a slot for id, which must not be in the table; h is the hash
// find returned, or 0 to compute it.
func (t *table[T]) add(id string, h uint64) int32 {
	if h == 0 {
		h = hashID(id)
	}
	var s int32
	if n := len(t.Free); n > 0 {
		s, t.Free = t.Free[n-1], t.Free[:n-1]
		t.IDs[s] = id
	} else {
		s = int32(len(t.Rows))
		t.IDs = append(grow(t.IDs), id)
		var zero T
		t.Rows = append(grow(t.Rows), zero)
	}
	t.index.put(h, s)
	t.setTag(s, h)
	t.last = s + 1
	if len(id) > 0 && t.seen != nil {
		p := addressOf(id)
		e := t.seen.entry(p)
		e.p, e.slot = p, s
	}
	return s
}

func (t *table[T]) setTag(s int32, h uint64) {
	if int(s) >= len(t.tags) {
		t.tags = append(grow(t.tags), make([]uint32, len(t.IDs)-len(t.tags))...)
	}
	t.tags[s] = uint32(h)
}

// grow returns s with room for one more element: when it is full, for as
// many more as it holds. append alone grows a large slice by about a
// quarter, so the tables of a million incidents were copied (and fresh
// memory for them faulted in) many times over as they grew: a
// recomputation of the million incidents allocated 985 MB, 505 MB with
// doubling, and the copying and clearing had been about 5% of its CPU
// profile.
func grow[S ~[]E, E any](s S) S {
	if len(s) < cap(s) {
		return s
	}
	return slices.Grow(s, max(len(s), 16))
}

// remove frees slot s.
func (t *table[T]) remove(s int32) {
	t.index.del(uint64(t.tags[s]), s)
	var zero T
	t.Rows[s], t.IDs[s], t.tags[s] = zero, "", 0
	t.Free = append(t.Free, s)
}

// seenBits sizes seenIDs.
const seenBits = 13

// seenIDs remembers where the bytes of recently found ids are: a log
// read from a memory store hands every event of a record the same string,
// so an event's record is found by comparing two addresses, without
// hashing or comparing its id. It is direct-mapped by address; an entry is
// trusted only when the slot it names holds a string at that very address
// and of the same length (the same bytes, strings being immutable), so a
// stale entry is merely a miss.
type seenIDs [1 << seenBits]seenID

type seenID struct {
	p    uintptr // address of the id's bytes
	slot int32
}

// entry returns the entry of the ids whose bytes are at address p.
func (c *seenIDs) entry(p uintptr) *seenID {
	return &c[(uint64(p)*0x9e3779b97f4a7c15)>>(64-seenBits)]
}

// addressOf returns the address of s's bytes.
func addressOf(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

// state is everything the engine knows; it is what a checkpoint saves.
type state struct {
	Seq int64
	// Keys and Counters are the buckets, in the order they were first
	// used (Counters in chunks of chunkSize, see counter); index maps a key
	// to its position. Neither holds a pointer, so the garbage collector
	// never scans them.
	Keys     []bucketKey
	Counters [][]counters
	index    bucketIndex
	// the bucket used last: an event often touches one bucket several times
	lastKey   bucketKey
	lastIdx   int32
	lastOK    bool
	recent    *recentBuckets // allocated on first use
	Incidents table[incidentT]
	Changes   table[changeT]
	Requests  table[requestT]
	SLAs      table[slaT]
	Services  []serviceT // by interned service name
	// Names interns service, group and SLA metric names; 0 is "".
	Names []string
	names idIndex // name -> position in Names; rebuilt on decode
	// nameCache[i] is the position in Names of a name recently interned
	// (see id); 0 is empty.
	nameCache [64]int32
	HasDay    bool
	MinDay    int32
	MaxDay    int32
}

func newState() *state {
	st := &state{
		Incidents: newTable[incidentT](),
		Changes:   newTable[changeT](),
		Requests:  newTable[requestT](),
		SLAs:      newTable[slaT](),
		Names:     []string{""},
	}
	st.names.put(hashID(""), 0)
	return st
}

// id interns a service or group name. Names are few and the same ones
// come again and again, so a small direct-mapped cache, keyed by the
// name's length and three of its bytes, answers most calls with one string
// comparison and no hashing.
func (st *state) id(s string) int32 {
	n := len(s)
	if n == 0 {
		return 0
	}
	c := &st.nameCache[(uint(n)*0x9e+uint(s[0])*7+uint(s[n>>1])*13+uint(s[n-1])*31)%uint(len(st.nameCache))]
	if v := *c; v != 0 && int(v) < len(st.Names) && st.Names[v] == s {
		return v
	}
	h := hashID(s)
	v, ok := st.names.get(st.Names, s, h)
	if !ok {
		v = int32(len(st.Names))
		st.Names = append(st.Names, s)
		st.names.put(h, v)
	}
	*c = v
	return v
}

// nameID returns the interned id of a name, and whether it was ever seen.
func (st *state) nameID(s string) (int32, bool) { return st.names.get(st.Names, s, hashID(s)) }

// service returns the uptime facts of an interned service.
func (st *state) service(s int32) *serviceT {
	if int(s) >= len(st.Services) {
		st.Services = append(st.Services, make([]serviceT, int(s)+1-len(st.Services))...)
	}
	return &st.Services[s]
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

const microPerDay = 86400 * 1e6

func dayOfMicro(us int64) int32 {
	d := us / microPerDay
	if us%microPerDay < 0 {
		d--
	}
	return int32(d)
}

func dayStart(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// bucket returns the counters of slice k on day.
func (st *state) bucket(k sliceKey, day int32) *counters { return st.counter(st.bucketAt(k, day)) }

// bucketRef returns the bucketRef of slice k on day, and its counters.
func (st *state) bucketRef(k sliceKey, day int32) (bucketRef, *counters) {
	i := st.bucketAt(k, day)
	return bucketRef(i + 1), st.counter(i)
}

// at returns the counters of a bucket a record refers to (r != 0).
func (st *state) at(r bucketRef) *counters { return st.counter(int32(r) - 1) }

// bucketAt returns the position of the bucket of slice k on day, adding
// it when new.
func (st *state) bucketAt(k sliceKey, day int32) int32 {
	if !st.HasDay {
		st.HasDay, st.MinDay, st.MaxDay = true, day, day
	} else if day < st.MinDay {
		st.MinDay = day
	} else if day > st.MaxDay {
		st.MaxDay = day
	}
	bk := bucketKey{k, day}
	if st.lastOK && st.lastKey == bk {
		return st.lastIdx
	}
	if st.recent == nil {
		st.recent = new(recentBuckets)
	}
	h := hashBucket(bk)
	r := &st.recent[h>>(64-recentBits)]
	if r.pos != 0 && r.key == bk {
		st.lastKey, st.lastIdx, st.lastOK = bk, r.pos-1, true
		return r.pos - 1
	}
	i, ok := st.index.find(st.Keys, bk, h)
	if !ok {
		i = int32(len(st.Keys))
		if len(st.Keys) == cap(st.Keys) {
			st.Keys = slices.Grow(st.Keys, max(len(st.Keys), chunkSize))
		}
		st.Keys = append(st.Keys, bk)
		st.index.add(h, i)
		if i&(chunkSize-1) == 0 {
			st.Counters = append(st.Counters, make([]counters, 0, chunkSize))
		}
		last := &st.Counters[len(st.Counters)-1]
		*last = append(*last, counters{})
	}
	r.key, r.pos = bk, i+1
	st.lastKey, st.lastIdx, st.lastOK = bk, i, true
	return i
}

// counter returns the counters of bucket i.
func (st *state) counter(i int32) *counters {
	return &st.Counters[i>>chunkBits][i&(chunkSize-1)]
}

// millis returns the interval between two Unix microsecond instants in
// whole milliseconds, zero when negative.
func millis(fromMicro, toMicro int64) int64 {
	d := toMicro - fromMicro
	if d < 0 {
		return 0
	}
	return d / 1000
}

// jsonString reads a FieldChange value holding a JSON string; anything else
// (null, a removed field, a number) reads as "".
func jsonString(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		inner := s[1 : len(s)-1]
		if strings.IndexByte(inner, '\\') < 0 {
			return inner
		}
		var out string
		if json.Unmarshal([]byte(s), &out) == nil {
			return out
		}
	}
	return ""
}

// jsonInt reads a FieldChange value holding a JSON integer (or a string holding
// one); anything else reads as 0.
func jsonInt(s string) int {
	if len(s) == 1 && s[0] >= '0' && s[0] <= '9' {
		return int(s[0] - '0')
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if n, err := strconv.Atoi(jsonString(s)); err == nil {
		return n
	}
	return 0
}

// event is what the engine reads of one event: its time once converted.
type event struct {
	*itsm.Event
	at   int64 // Unix microseconds
	day  int32
	hash uint64 // of RecordID, when loadAhead computed it; 0 otherwise
}

// applyOne applies ev, a record of kind k (see loadAhead), whose id hashes
// to h when h is not 0.
func (e *Engine) applyOne(ev *itsm.Event, k uint8, h uint64) {
	if k == kindNone {
		return
	}
	if e.tenants != nil {
		t := ev.Tenant
		if t == "" {
			t = itsm.DefaultTenant
		}
		if !e.tenants[t] {
			return
		}
	}
	// x stays on the stack: the handlers are called directly.
	x := event{Event: ev, at: ev.At.UnixMicro(), hash: h}
	x.day = dayOfMicro(x.at)
	switch k {
	case kindIncident:
		e.incident(&x)
	case kindSLA:
		e.sla(&x)
	case kindChange:
		e.change(&x)
	case kindRequest:
		e.request(&x)
	}
}

func incidentOpen(s uint8) bool {
	return s != stNone && s != stResolved && s != stClosed && s != stCanceled
}

func (e *Engine) incident(ev *event) {
	st := e.st
	slot, ok, h := st.Incidents.find(ev.RecordID, ev.hash)
	if !ok {
		if ev.Name != itsm.EventCreate {
			return // created before the log began
		}
		slot = st.Incidents.add(ev.RecordID, h)
		inc := &st.Incidents.Rows[slot]
		inc.Opened = ev.at
		if e.keep != nil && !e.keep(ev.Event) {
			inc.Flags |= incExcluded
		}
	}
	inc := &st.Incidents.Rows[slot]
	if inc.has(incExcluded) {
		return
	}
	key, assigned := inc.Key, false
	caused, causedSet, untimed := "", false, false
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
			agent := jsonString(c.To)
			assigned = agent != ""
			if e.cfg.FirstContact.SameAgent {
				a := st.id(agent)
				if a != inc.Agent && a != 0 && inc.Agent != 0 {
					inc.AgentChg++
				}
				inc.Agent = a
			}
		case "caused_by_change_id":
			caused, causedSet = jsonString(c.To), true
		case "resolved_at":
			untimed = e.cfg.SkipUntimed && untimedValue(c.To)
		}
	}
	if key.Group != inc.Key.Group && inc.Key.Group != 0 && key.Group != 0 {
		inc.Reassign++
	}
	if key != inc.Key {
		if inc.has(incInBacklog) {
			st.backlogLeave(inc, ev.at, ev.day)
			inc.Key = key
			st.backlogEnter(inc, ev.at, ev.day)
		}
		inc.Key = key
	}
	from, to := inc.State, inc.State
	if ev.To != "" {
		to = stateCode(ev.To)
	}
	if from == stNone {
		st.bucket(inc.Key, ev.day).IncOpened++
	}
	if causedSet || (to == stCanceled && inc.CausedBy != 0) {
		st.cause(inc, caused, causedSet, to == stCanceled)
	}
	if inc.AckRef == 0 && to != stCanceled && ((from == stNew && to != stNew) || assigned) {
		ms := millis(inc.Opened, ev.at)
		r, b := st.bucketRef(inc.Key, ev.day)
		b.AckN++
		b.AckMs += ms
		inc.AckRef, inc.AckMs = r, ms
	}
	if to == stOnHold {
		inc.Flags |= incHeld
	}
	if inc.RRef != 0 && (incidentOpen(to) || to == stCanceled) {
		st.withdrawResolution(inc)
		if to != stCanceled {
			inc.Reopen++
		}
	}
	resolving := to == stResolved || (to == stClosed && from != stResolved)
	if resolving && e.cfg.SkipUntimed && (untimed || from == stNone) {
		// Resolved without a resolution time (imported so): no interval
		// to measure, so the incident leaves every resolution KPI.
		inc.Flags |= incUntimed
	}
	if inc.RRef == 0 && !inc.has(incUntimed) && resolving {
		e.resolve(inc, ev)
	}
	switch open, in := incidentOpen(to), inc.has(incInBacklog); {
	case in && !open:
		st.backlogLeave(inc, ev.at, ev.day)
	case !in && open:
		st.backlogEnter(inc, ev.at, ev.day)
	}
	inc.State = to
	if (to == stClosed || to == stCanceled) && from != to {
		// The incident is kept (a reopen after close is applied), but the
		// measurements of its SLA clocks are final now.
		st.forgetSLAs(inc.SLAs)
		inc.SLAs = 0
	}
}

// untimedValue tells a resolved_at change that leaves the time unset: null,
// empty, or the zero time as a store may write it.
func untimedValue(raw string) bool {
	if raw == "" || raw == "null" {
		return true
	}
	v := jsonString(raw)
	return v == "" || strings.HasPrefix(v, "0001-01-01")
}

// cause links the incident to the change it was caused by (caused, when
// the event set it; the change it had otherwise), or drops the link when
// the incident is canceled or the link is emptied.
func (st *state) cause(inc *incidentT, caused string, set, canceled bool) {
	cur := ""
	if inc.CausedBy != 0 {
		cur = st.Changes.IDs[inc.CausedBy-1]
	}
	if !set {
		caused = cur
	}
	if caused == cur && !(canceled && caused != "") {
		return
	}
	if inc.CausedBy != 0 {
		st.unref(inc.CausedBy - 1)
		inc.CausedBy = 0
	}
	if caused != "" && !canceled {
		inc.CausedBy = st.ref(caused) + 1
	}
}

func (e *Engine) resolve(inc *incidentT, ev *event) {
	st := e.st
	r, b := st.bucketRef(inc.Key, ev.day)
	inc.RRef = r
	inc.RMs = millis(inc.Opened, ev.at)
	inc.RBizMs = 0
	inc.Flags &^= incRBiz
	if e.cfg.Calendar != nil {
		if d, err := e.cfg.Calendar.Between(time.UnixMicro(inc.Opened).UTC(), ev.At); err == nil {
			inc.RBizMs = max(d.Milliseconds(), 0)
			inc.Flags |= incRBiz
		}
	}
	inc.RFlags = 0
	if inc.Reopen > 0 {
		inc.RFlags |= flagReopened
	}
	if inc.Reassign > 0 {
		inc.RFlags |= flagReassigned
	}
	if fc := &e.cfg.FirstContact; inc.Reassign == 0 && (fc.AllowReopen || inc.Reopen == 0) &&
		(fc.AllowHold || !inc.has(incHeld)) && (!fc.SameAgent || inc.AgentChg == 0) {
		inc.RFlags |= flagFCR
	}
	if inc.FirstRef == 0 {
		inc.FirstRef, inc.FirstMs = inc.RRef, inc.RMs
	}
	b.ResN++
	b.ResMs += inc.RMs
	if inc.has(incRBiz) {
		b.ResBizN++
		b.ResBizMs += inc.RBizMs
	}
	b.add(inc.RFlags, 1)
}

func (c *counters) add(flags uint8, n int32) {
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
	b := st.at(inc.RRef)
	b.ResN--
	b.ResMs -= inc.RMs
	if inc.has(incRBiz) {
		b.ResBizN--
		b.ResBizMs -= inc.RBizMs
	}
	b.add(inc.RFlags, -1)
	inc.RRef, inc.RMs, inc.RBizMs, inc.RFlags = 0, 0, 0, 0
	inc.Flags &^= incRBiz
}

func (st *state) backlogEnter(inc *incidentT, at int64, day int32) {
	b := st.bucket(inc.Key, day)
	b.BacklogDelta++
	b.BacklogOpenedSec += inc.Opened / 1e6
	inc.Flags |= incInBacklog
	if s := inc.Key.Service; s != 0 {
		sv := st.service(s)
		if sv.Open == 0 && sv.HasUp {
			m := st.bucket(sliceKey{Service: s}, day)
			m.MTBFN++
			m.MTBFMs += millis(sv.UpSince, at)
		}
		sv.Open++
	}
}

func (st *state) backlogLeave(inc *incidentT, at int64, day int32) {
	b := st.bucket(inc.Key, day)
	b.BacklogDelta--
	b.BacklogOpenedSec -= inc.Opened / 1e6
	if s := inc.Key.Service; s != 0 {
		if sv := st.service(s); sv.Open > 0 {
			sv.Open--
			if sv.Open == 0 {
				sv.HasUp, sv.UpSince = true, at
			}
		}
	}
	inc.Flags &^= incInBacklog
}

// ref counts one more incident caused by the change and returns its slot.
func (st *state) ref(change string) int32 {
	s, ok, h := st.Changes.find(change, 0)
	if !ok {
		s = st.Changes.add(change, h)
	}
	ch := &st.Changes.Rows[s]
	ch.Refs++
	if ch.Refs == 1 && ch.Live && ch.Closed {
		st.at(ch.CRef).ChgCausing++
	}
	return s
}

// unref counts one incident less caused by the change in slot s.
func (st *state) unref(s int32) {
	ch := &st.Changes.Rows[s]
	ch.Refs--
	if ch.Refs > 0 {
		return
	}
	ch.Refs = 0
	if ch.Live && ch.Closed {
		st.at(ch.CRef).ChgCausing--
	}
	if !ch.Live {
		st.Changes.remove(s)
	}
}

func (e *Engine) change(ev *event) {
	st := e.st
	slot, ok, h := st.Changes.find(ev.RecordID, ev.hash)
	if !ok || !st.Changes.Rows[slot].Live {
		if ev.Name != itsm.EventCreate {
			return
		}
		if !ok {
			slot = st.Changes.add(ev.RecordID, h)
		}
		st.Changes.Rows[slot].Live = true
		if e.keep != nil && !e.keep(ev.Event) {
			st.Changes.Rows[slot].Excluded = true
		}
		ok = false // counted as opened below
	}
	ch := &st.Changes.Rows[slot]
	if ch.Closed || ch.Excluded {
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
			ch.Emergency = jsonString(c.To) == "emergency"
		case "review_outcome":
			switch jsonString(c.To) {
			case "":
				ch.Outcome = outcomeNone
			case "successful":
				ch.Outcome = outcomeSuccessful
			default:
				ch.Outcome = outcomeOther
			}
		}
	}
	if !ok {
		st.bucket(ch.Key, ev.day).ChgOpened++
	}
	switch ev.To {
	case stateClosed:
		r, b := st.bucketRef(ch.Key, ev.day)
		b.ChgClosed++
		if ch.Outcome != outcomeNone {
			b.ChgReviewed++
			if ch.Outcome == outcomeSuccessful {
				b.ChgSuccessful++
			}
		}
		if ch.Emergency {
			b.ChgEmergency++
		}
		if ch.Refs > 0 {
			b.ChgCausing++
		}
		ch.Closed, ch.CRef = true, r
		ch.Emergency, ch.Outcome = false, outcomeNone
	case stateCanceled:
		if ch.Refs > 0 {
			// Incidents still link to it: keep the count, forget the rest.
			*ch = changeT{Refs: ch.Refs}
			return
		}
		st.Changes.remove(slot)
	}
}

func (e *Engine) request(ev *event) {
	st := e.st
	slot, ok, h := st.Requests.find(ev.RecordID, ev.hash)
	if !ok {
		if ev.Name != itsm.EventCreate {
			return
		}
		slot = st.Requests.add(ev.RecordID, h)
		rq := &st.Requests.Rows[slot]
		rq.Opened = ev.at
		if e.keep != nil && !e.keep(ev.Event) {
			rq.Excluded = true
		}
	}
	rq := &st.Requests.Rows[slot]
	if rq.Excluded {
		return
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
	if !ok {
		st.bucket(rq.Key, ev.day).ReqOpened++
	}
	if ev.To == "" {
		return
	}
	fulfilled := slices.Contains(e.cfg.RequestFulfilled, ev.To)
	if rq.Fulfilled && !fulfilled {
		// Reopened, or closed another way: the fulfilment is withdrawn.
		b := st.at(rq.FRef)
		b.ReqN--
		b.ReqMs -= rq.FMs
		rq.Fulfilled, rq.FRef, rq.FMs = false, 0, 0
	}
	if !rq.Fulfilled && fulfilled {
		ms := millis(rq.Opened, ev.at)
		r, b := st.bucketRef(rq.Key, ev.day)
		b.ReqN++
		b.ReqMs += ms
		rq.Fulfilled, rq.FRef, rq.FMs = true, r, ms
	}
	ended := slices.Contains(e.cfg.RequestEnded, ev.To)
	if ended && !rq.Ended {
		st.forgetSLAs(rq.SLAs)
		rq.SLAs = 0
	}
	rq.Ended = ended
}

func (e *Engine) sla(ev *event) {
	st, in := e.st, &e.cfg.SLA
	slot, ok, h := st.SLAs.find(ev.RecordID, ev.hash)
	if !ok {
		if ev.Name != itsm.EventCreate {
			return
		}
		slot = st.SLAs.add(ev.RecordID, h)
		e.stage(&st.SLAs.Rows[slot], "")
	}
	s := &st.SLAs.Rows[slot]
	staged := false
	for i := range ev.Changes {
		c := &ev.Changes[i]
		switch c.Field {
		case in.TaskField:
			if task := jsonString(c.To); task != s.Task {
				st.detach(slot)
				s.Task = task
				st.attach(slot)
			}
		case in.StageField:
			e.stage(s, jsonString(c.To))
			staged = true
		case in.MetricField:
			s.Metric = st.id(jsonString(c.To))
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
	if s.TaskKind == taskNone && s.Task != "" && st.excludedTask(s.Task) {
		st.dropSLA(slot) // the clock of a ticket left out goes with it
		return
	}
	if !staged && ev.Name != itsm.EventUpdate && ev.To != "" {
		e.stage(s, ev.To)
	}
	if s.Completed && (!s.Done || s.Cancelled) {
		b := st.at(s.CRef)
		b.SLAN--
		if s.CMet {
			b.SLAMet--
		}
		s.Completed, s.CMet, s.CRef = false, false, 0
	}
	measured := e.metrics == nil || e.metrics[st.Names[s.Metric]]
	if !s.Completed && s.Done && !s.Cancelled && measured {
		key := s.Own
		if task := st.ticket(slot); task != nil {
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
		r, b := st.bucketRef(key, ev.day)
		b.SLAN++
		s.CMet = !s.Breached
		if s.CMet {
			b.SLAMet++
		}
		s.Completed, s.CRef = true, r
	}
	if s.Done && !measured {
		st.dropSLA(slot) // a clock of a metric not measured
		return
	}
	if (s.Completed || s.Cancelled) && st.ticket(slot) == nil {
		// Ended on a ticket the engine no longer follows (closed, or of a
		// kind it does not read): nothing can withdraw the measurement or
		// restart the clock any more.
		st.dropSLA(slot)
	}
}

// excludedTask tells whether task is a ticket the engine leaves out
// (Config.Keep).
func (st *state) excludedTask(task string) bool {
	if t, ok := st.Incidents.findOther(task); ok {
		return st.Incidents.Rows[t].has(incExcluded)
	}
	if t, ok := st.Requests.findOther(task); ok {
		return st.Requests.Rows[t].Excluded
	}
	return false
}

// stage records the clock's stage as what the engine needs of it.
func (e *Engine) stage(s *slaT, stage string) {
	s.Done = slices.Contains(e.cfg.SLA.Completed, stage)
	s.Cancelled = stage == "cancelled" || stage == "canceled"
}

// ticket returns the slice of the ticket the clock in slot runs on, nil
// when the engine does not follow it.
func (st *state) ticket(slot int32) *sliceKey {
	s := &st.SLAs.Rows[slot]
	if s.TaskKind == taskNone && s.Task != "" {
		st.attach(slot) // the ticket may have been created after the clock
	}
	switch s.TaskKind {
	case taskIncident:
		return &st.Incidents.Rows[s.TaskSlot].Key
	case taskRequest:
		return &st.Requests.Rows[s.TaskSlot].Key
	}
	return nil
}

// attach links the clock in slot to its ticket when the engine follows it.
func (st *state) attach(slot int32) {
	s := &st.SLAs.Rows[slot]
	if s.TaskKind != taskNone || s.Task == "" {
		return
	}
	// Closed, canceled and ended tickets are kept (to apply a reopen) but
	// not followed by their clocks: a clock's measurement is final then.
	if t, ok := st.Incidents.findOther(s.Task); ok {
		inc := &st.Incidents.Rows[t]
		if inc.has(incExcluded) || inc.State == stClosed || inc.State == stCanceled {
			return
		}
		head := &inc.SLAs
		s.TaskKind, s.TaskSlot, s.Next, *head = taskIncident, t, *head, slot+1
	} else if t, ok := st.Requests.findOther(s.Task); ok {
		if rq := &st.Requests.Rows[t]; rq.Excluded || rq.Ended {
			return
		}
		head := &st.Requests.Rows[t].SLAs
		s.TaskKind, s.TaskSlot, s.Next, *head = taskRequest, t, *head, slot+1
	}
}

// detach unlinks the clock in slot from its ticket.
func (st *state) detach(slot int32) {
	s := &st.SLAs.Rows[slot]
	var p *int32
	switch s.TaskKind {
	case taskIncident:
		p = &st.Incidents.Rows[s.TaskSlot].SLAs
	case taskRequest:
		p = &st.Requests.Rows[s.TaskSlot].SLAs
	default:
		return
	}
	for *p != 0 {
		if *p == slot+1 {
			*p = s.Next
			break
		}
		p = &st.SLAs.Rows[*p-1].Next
	}
	s.TaskKind, s.TaskSlot, s.Next = taskNone, 0, 0
}

// dropSLA forgets the clock in slot.
func (st *state) dropSLA(slot int32) {
	st.detach(slot)
	st.SLAs.remove(slot)
}

// forgetSLAs goes through the clocks of a ticket that is closing (head is
// the first one's slot+1): completed and canceled clocks are forgotten,
// their measurements being final; running clocks are kept until they end,
// no longer linked to the ticket.
func (st *state) forgetSLAs(head int32) {
	for head != 0 {
		slot := head - 1
		s := &st.SLAs.Rows[slot]
		head = s.Next
		s.TaskKind, s.TaskSlot, s.Next = taskNone, 0, 0
		if s.Completed || s.Cancelled {
			st.SLAs.remove(slot)
		}
	}
}
