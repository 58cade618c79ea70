package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
)

// foldPlan is what a Fold's encodeAfter needs of a kind's codec,
// worked out once per Records.
type foldPlan struct {
	keys [][]byte // the quoted member names, in the codec's order
	rank []int    // each field's place in name order, the order of an event's changes
	meta []bool   // the members every write changes (metaFields), never listed
	head int      // the head field's index, -1 when there is none
	// off is each field's offset in the record (embedded structs are held
	// by value, so every field is at one); size an integer field's width.
	off  []uintptr
	size []uint8
}

// foldPlan returns the codec's plan for encodeAfter on records of type t;
// nil without a codec.
func (c *codec) foldPlan(t reflect.Type) *foldPlan {
	if c == nil {
		return nil
	}
	n := len(c.fields)
	p := &foldPlan{keys: make([][]byte, n), rank: make([]int, n), meta: make([]bool, n), head: -1,
		off: make([]uintptr, n), size: make([]uint8, n)}
	order := make([]int, n)
	for i, f := range c.fields {
		p.keys[i] = []byte(f.key[:len(f.key)-1])
		name := p.keys[i][1 : len(p.keys[i])-1]
		p.meta[i] = slices.Contains(metaFields, string(name))
		if string(name) == "head" {
			p.head = i
		}
		order[i] = i
		st := t
		for _, x := range f.index {
			sf := st.Field(x)
			p.off[i] += sf.Offset
			st = sf.Type
		}
		p.size[i] = uint8(st.Size())
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return bytes.Compare(p.keys[a][1:len(p.keys[a])-1], p.keys[b][1:len(p.keys[b])-1])
	})
	for at, i := range order {
		p.rank[i] = at
	}
	return p
}

// intAt reads the signed integer of the given width at ptr.
func intAt(ptr unsafe.Pointer, size uint8) int64 {
	switch size {
	case 1:
		return int64(*(*int8)(ptr))
	case 2:
		return int64(*(*int16)(ptr))
	case 4:
		return int64(*(*int32)(ptr))
	}
	return *(*int64)(ptr)
}

// encodedAfter is what encodeAfter made of a record.
type encodedAfter struct {
	members []jsonMember
	// listed: changes are the event's changes, as diffMembers would list
	// them (before the journal and custom rewrites), and head the head
	// member's value; otherwise the caller diffs the members.
	listed  bool
	changes []itsm.FieldChange
	head    []byte
}

// encodeAfter encodes v member by member as encode would, for a Fold: v is
// the record a command made of prev, whose encoding's members are
// prevMembers; both are addressable records of the plan's type. A member
// whose typed value (a string, integer, bool or time) equals prev's keeps
// prev's bytes; the others are encoded afresh, into one new buffer. The
// members come out as encode's spans would split its output, so the head
// and the document (joinMembers) read as they would from a whole encoding.
// When prevMembers are the codec's members in its order (every encoding a
// Fold made, and most stored ones), it lists the changes too, from the
// members it encoded afresh, instead of leaving them to a diff of every
// member. It declines (false) where encode would, and the record is then
// encoded whole.
//
// Members of the plain kinds are read at their offsets rather than
// through reflect: a command's encoding visits every member.
func (c *codec) encodeAfter(v, prev reflect.Value, prevMembers, out []jsonMember, p *foldPlan) (encodedAfter, bool) {
	type fresh struct {
		field  int
		at     int    // out[at] is the new member, -1 when omitted
		lo, hi int    // its value is arena[lo:hi]
		from   []byte // prev's value, nil when prev lacked the member
	}
	var bufF [24]fresh
	fr := bufF[:0]
	arena := make([]byte, 0, 256)
	j := 0 // the next member of prevMembers not yet matched
	headAt := -1
	base, prevBase := v.Addr().UnsafePointer(), prev.Addr().UnsafePointer()
	for i := range c.fields {
		f := &c.fields[i]
		key := p.keys[i]
		var pm []byte // prev's member value for this field, nil when omitted
		if j < len(prevMembers) && bytes.Equal(prevMembers[j].key, key) {
			pm, key = prevMembers[j].value, prevMembers[j].key
			j++
		}
		at, was := unsafe.Add(base, p.off[i]), unsafe.Add(prevBase, p.off[i])
		omit, same := false, false
		lo := len(arena)
		switch f.kind {
		case codecTime:
			t := (*time.Time)(at)
			omit = f.omitZero && t.IsZero()
			if !omit && pm != nil && *t == *(*time.Time)(was) {
				same = true
			} else if !omit {
				var err error
				if arena, err = t.AppendText(append(arena, '"')); err != nil {
					return encodedAfter{}, false
				}
				arena = append(arena, '"')
			}
		case codecString:
			s := *(*string)(at)
			omit = (f.omitEmpty || f.omitZero) && s == ""
			if !omit && pm != nil && s == *(*string)(was) {
				same = true
			} else if !omit {
				arena, _ = jsontext.AppendString(arena, s)
			}
		case codecInt:
			n := intAt(at, p.size[i])
			omit = (f.omitEmpty || f.omitZero) && n == 0
			if !omit && pm != nil && n == intAt(was, p.size[i]) {
				same = true
			} else if !omit {
				arena = strconv.AppendInt(arena, n, 10)
			}
		case codecBool:
			b := *(*bool)(at)
			omit = (f.omitEmpty || f.omitZero) && !b
			if !omit && pm != nil && b == *(*bool)(was) {
				same = true
			} else if !omit {
				arena = strconv.AppendBool(arena, b)
			}
		default:
			fv := v.FieldByIndex(f.index)
			omit = f.omitEmpty && emptyValue(fv) || f.omitZero && fv.IsZero()
			if !omit {
				var ok bool
				if arena, ok = f.appendValue(arena, fv); !ok {
					return encodedAfter{}, false
				}
			}
		}
		switch {
		case omit:
			if pm != nil {
				fr = append(fr, fresh{field: i, at: -1, from: pm})
			}
		case same:
			out = append(out, jsonMember{key: key, value: pm})
		default:
			if i == p.head {
				headAt = len(out)
			}
			fr = append(fr, fresh{field: i, at: len(out), lo: lo, hi: len(arena), from: pm})
			out = append(out, jsonMember{key: key})
		}
	}
	res := encodedAfter{members: out}
	for _, x := range fr {
		if x.at >= 0 {
			out[x.at].value = arena[x.lo:x.hi:x.hi]
		}
	}
	if j < len(prevMembers) {
		return res, true // prev's members out of the codec's order: diff them
	}
	// Every member of prev was matched to its field in order: a member
	// changed where it was encoded afresh with other bytes, or dropped.
	var bufP [24]pendingChange
	var bufR [24]int
	ps, ranks := bufP[:0], bufR[:0]
	size := 0
	for _, x := range fr {
		if p.meta[x.field] {
			continue
		}
		var to []byte
		if x.at >= 0 {
			to = out[x.at].value
			if x.from != nil && bytes.Equal(x.from, to) {
				continue
			}
		}
		name := p.keys[x.field][1 : len(p.keys[x.field])-1]
		// In name order (insertion: a command changes a few members).
		r := p.rank[x.field]
		k := len(ps)
		ps, ranks = append(ps, pendingChange{}), append(ranks, 0)
		for ; k > 0 && ranks[k-1] > r; k-- {
			ps[k], ranks[k] = ps[k-1], ranks[k-1]
		}
		ps[k], ranks[k] = pendingChange{name, x.from, to}, r
		size += len(name) + len(x.from) + len(to)
	}
	res.listed = true
	if len(ps) > 0 {
		res.changes = joinChanges(ps, size)
	}
	if headAt >= 0 {
		res.head = out[headAt].value
	}
	return res, true
}

// joinMembers writes the JSON object of members, as encode writes it.
func joinMembers(members []jsonMember) []byte {
	n := 2
	for _, m := range members {
		n += len(m.key) + len(m.value) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.key...)
		b = append(b, ':')
		b = append(b, m.value...)
	}
	return append(b, '}')
}

// foldIDs hands a Fold's events their ids: version 7 UUIDs as itsm.NewID
// makes them, eight at a time, from one read of crypto/rand and into one
// string, rather than a read and two allocations for every id.
type foldIDs struct {
	buf [foldIDBlock * 16]byte // random bytes, read by uuid through Read
	off int
	ids string // ids made and not yet handed out, 36 bytes each
}

const foldIDBlock = 8

// Read hands out buf's bytes from off.
func (r *foldIDs) Read(p []byte) (int, error) {
	if r.off >= len(r.buf) {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// next returns a new event id.
func (r *foldIDs) next() string {
	if r.ids == "" && !r.fill() {
		return itsm.NewID()
	}
	id := r.ids[:36]
	r.ids = r.ids[36:]
	return id
}

// fill makes the next block of ids, false when the random source fails.
func (r *foldIDs) fill() bool {
	if _, err := rand.Read(r.buf[:]); err != nil {
		return false
	}
	r.off = 0
	var b [foldIDBlock * 36]byte
	for k := range foldIDBlock {
		id, err := uuid.NewV7FromReader(r)
		if err != nil {
			return false
		}
		o := b[k*36 : k*36+36]
		hex.Encode(o[0:8], id[0:4])
		o[8] = '-'
		hex.Encode(o[9:13], id[4:6])
		o[13] = '-'
		hex.Encode(o[14:18], id[6:8])
		o[18] = '-'
		hex.Encode(o[19:23], id[8:10])
		o[23] = '-'
		hex.Encode(o[24:36], id[10:16])
	}
	r.ids = string(b[:])
	return true
}

// foldText is checkText for a Fold, which knows the record a command
// started from passed it: a top-level string whose header (bytes and
// length) is the one the record had is that text still and is not read
// again; the members holding strings in other ways (slices, maps,
// pointers) are checked as checkText checks them.
type foldText struct {
	strs   []uintptr // offsets of the string fields, through embedded structs
	others []foldTextMember
}

type foldTextMember struct {
	off   uintptr
	typ   reflect.Type
	check textCheck
}

// newFoldText plans foldText for records of type t, as planText walks it
// (exported fields, embedded structs included).
func newFoldText(t reflect.Type) *foldText {
	ft := &foldText{}
	var walk func(t reflect.Type, base uintptr)
	walk = func(t reflect.Type, base uintptr) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			off := base + f.Offset
			switch {
			case f.Type.Kind() == reflect.String:
				ft.strs = append(ft.strs, off)
			case f.Type.Kind() == reflect.Struct && f.Type != valuesType:
				walk(f.Type, off)
			default:
				if c := newTextCheck(f.Type); c != nil {
					ft.others = append(ft.others, foldTextMember{off, f.Type, c})
				}
			}
		}
	}
	walk(t, 0)
	return ft
}

// ok reports whether every string of rec is text, as checkText would,
// given that prev passed checkText; both point to records of the planned
// type.
func (ft *foldText) ok(rec, prev unsafe.Pointer) bool {
	for _, off := range ft.strs {
		s, p := *(*string)(unsafe.Add(rec, off)), *(*string)(unsafe.Add(prev, off))
		if len(s) == len(p) && unsafe.StringData(s) == unsafe.StringData(p) {
			continue
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	for _, m := range ft.others {
		if _, ok := m.check(reflect.NewAt(m.typ, unsafe.Add(rec, m.off)).Elem()); !ok {
			return false
		}
	}
	return true
}
