package improvement

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// stateV1 is the state as checkpoint format 1 saved it: records in maps
// keyed by their ids. New still reads it and converts it (convert), so an
// engine upgraded in place resumes from its last checkpoint.
type stateV1 struct {
	Seq        int64
	Keys       []bucketKey
	Counters   []countersV1
	Incidents  map[string]*incidentV1
	Changes    map[string]*changeV1
	ChangeRefs map[string]int32
	Requests   map[string]*requestV1
	SLAs       map[string]*slaV1
	Services   map[int32]*serviceT
	Names      []string
	HasDay     bool
	MinDay     int32
	MaxDay     int32
}

type countersV1 struct {
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

type incidentV1 struct {
	Opened    int64
	Key       sliceKey
	State     string
	Acked     bool
	Held      bool
	Reassign  int32
	Reopen    int32
	InBacklog bool
	BKey      sliceKey
	Resolved  bool
	RKey      bucketKey
	RMs       int64
	RBizMs    int64
	RBiz      bool
	RFlags    uint8
	CausedBy  string
	SLAs      []string
}

type changeV1 struct {
	Key     sliceKey
	Type    string
	Outcome string
	Closed  bool
	CKey    bucketKey
}

type requestV1 struct {
	Opened int64
	Key    sliceKey
	SLAs   []string
}

type slaV1 struct {
	Task      string
	Metric    string
	Stage     string
	Breached  bool
	Own       sliceKey
	OwnSet    uint8
	Completed bool
	CKey      bucketKey
	CMet      bool
}

// convert builds the current state from a format 1 one; stages are the
// SLA stages that end a measured clock. Records take slots in id order.
func (v *stateV1) convert(stages map[string]bool) (*state, error) {
	st := newState()
	st.Seq, st.Keys, st.Names = v.Seq, v.Keys, v.Names
	if len(v.Keys) != len(v.Counters) {
		return nil, fmt.Errorf("%d bucket keys for %d buckets", len(v.Keys), len(v.Counters))
	}
	for i, c := range v.Counters {
		if i&(chunkSize-1) == 0 {
			st.Counters = append(st.Counters, make([]counters, 0, chunkSize))
		}
		var overflow bool
		n := func(x int64) int32 {
			if x < math.MinInt32 || x > math.MaxInt32 {
				overflow = true
			}
			return int32(x)
		}
		st.Counters[len(st.Counters)-1] = append(st.Counters[len(st.Counters)-1], counters{
			AckMs: c.AckMs, ResMs: c.ResMs, ResBizMs: c.ResBizMs, BacklogOpenedSec: c.BacklogOpenedSec, MTBFMs: c.MTBFMs, ReqMs: c.ReqMs,
			AckN: n(c.AckN), ResN: n(c.ResN), ResBizN: n(c.ResBizN), Reopened: n(c.Reopened), FCR: n(c.FCR), Reassigned: n(c.Reassigned),
			BacklogDelta: n(c.BacklogDelta), MTBFN: n(c.MTBFN), SLAN: n(c.SLAN), SLAMet: n(c.SLAMet),
			ChgClosed: n(c.ChgClosed), ChgReviewed: n(c.ChgReviewed), ChgSuccessful: n(c.ChgSuccessful),
			ChgEmergency: n(c.ChgEmergency), ChgCausing: n(c.ChgCausing), ReqN: n(c.ReqN),
			IncOpened: n(c.IncOpened), ReqOpened: n(c.ReqOpened), ChgOpened: n(c.ChgOpened)})
		if overflow {
			return nil, fmt.Errorf("bucket %d: a count beyond the 32-bit counters of format 2", i)
		}
	}
	st.HasDay, st.MinDay, st.MaxDay = v.HasDay, v.MinDay, v.MaxDay
	if err := st.rebuild(); err != nil { // the buckets and names
		return nil, err
	}
	for _, s := range slices.Sorted(maps.Keys(v.Services)) {
		if s <= 0 || int(s) >= len(st.Names) || v.Services[s] == nil {
			return nil, fmt.Errorf("service %d out of range", s)
		}
		*st.service(s) = *v.Services[s]
	}
	for _, id := range slices.Sorted(maps.Keys(v.Changes)) {
		c := v.Changes[id]
		if c == nil {
			return nil, errors.New("an empty change")
		}
		ch := &st.Changes.Rows[st.Changes.add(id, 0)]
		*ch = changeT{Live: true, Closed: c.Closed, Emergency: c.Type == "emergency", Key: c.Key, CKey: c.CKey}
		switch c.Outcome {
		case "":
		case "successful":
			ch.Outcome = outcomeSuccessful
		default:
			ch.Outcome = outcomeOther
		}
	}
	for _, id := range slices.Sorted(maps.Keys(v.ChangeRefs)) {
		if v.ChangeRefs[id] <= 0 {
			continue
		}
		s, ok, h := st.Changes.find(id)
		if !ok {
			s = st.Changes.add(id, h)
		}
		st.Changes.Rows[s].Refs = v.ChangeRefs[id]
	}
	for _, id := range slices.Sorted(maps.Keys(v.Requests)) {
		r := v.Requests[id]
		if r == nil {
			return nil, errors.New("an empty request")
		}
		st.Requests.Rows[st.Requests.add(id, 0)] = requestT{Opened: r.Opened, Key: r.Key}
	}
	for _, id := range slices.Sorted(maps.Keys(v.Incidents)) {
		i := v.Incidents[id]
		if i == nil {
			return nil, errors.New("an empty incident")
		}
		inc := incidentT{Opened: i.Opened, Key: i.Key, State: stateCode(i.State), Acked: i.Acked, Held: i.Held,
			InBacklog: i.InBacklog, Resolved: i.Resolved, RBiz: i.RBiz, RFlags: i.RFlags, Reassign: i.Reassign,
			Reopen: i.Reopen, BKey: i.BKey, RKey: i.RKey, RMs: i.RMs, RBizMs: i.RBizMs}
		if i.CausedBy != "" {
			s, ok, _ := st.Changes.find(i.CausedBy)
			if !ok || st.Changes.Rows[s].Refs == 0 {
				return nil, fmt.Errorf("incident %s links change %s, which is not counted", id, i.CausedBy)
			}
			inc.CausedBy = s + 1
		}
		st.Incidents.Rows[st.Incidents.add(id, 0)] = inc
	}
	for _, id := range slices.Sorted(maps.Keys(v.SLAs)) {
		c := v.SLAs[id]
		if c == nil {
			return nil, errors.New("an empty sla clock")
		}
		slot := st.SLAs.add(id, 0)
		st.SLAs.Rows[slot] = slaT{Task: c.Task, Metric: st.id(c.Metric), Done: stages[c.Stage],
			Cancelled: c.Stage == "cancelled" || c.Stage == "canceled", Breached: c.Breached, OwnSet: c.OwnSet,
			Completed: c.Completed, CMet: c.CMet, Own: c.Own, CKey: c.CKey}
		st.attach(slot)
	}
	if err := st.rebuild(); err != nil {
		return nil, err
	}
	return st, nil
}
