package storage

import (
	"bytes"
	"reflect"
	"time"
)

// encodeAfter encodes v member by member as encode would, for a Fold: v is
// the record a command made of prev, whose encoding's members are
// prevMembers. A member whose typed value (a string, integer, bool or
// time) equals prev's keeps prev's bytes; the others are encoded afresh,
// into one new buffer. The members come out as encode's spans would split
// its output, so the diff, the head and the document (joinMembers) read as
// they would from a whole encoding. It declines (false) where encode
// would, and the record is then encoded whole.
func (c *codec) encodeAfter(v, prev reflect.Value, prevMembers, out []jsonMember, keys [][]byte) ([]jsonMember, bool) {
	type fresh struct{ at, lo, hi int } // out[at].value is arena[lo:hi]
	var bufF [16]fresh
	fr := bufF[:0]
	arena := make([]byte, 0, 256)
	j := 0 // the next member of prevMembers not yet matched
	for i := range c.fields {
		f := &c.fields[i]
		key := keys[i]
		var pm []byte // prev's member value for this field, nil when omitted
		if j < len(prevMembers) && bytes.Equal(prevMembers[j].key, key) {
			pm, key = prevMembers[j].value, prevMembers[j].key
			j++
		}
		fv := v.FieldByIndex(f.index)
		if f.kind == codecTime {
			t := fv.Addr().Interface().(*time.Time)
			if f.omitZero && t.IsZero() {
				continue
			}
			if pm != nil && *t == *prev.FieldByIndex(f.index).Addr().Interface().(*time.Time) {
				out = append(out, jsonMember{key: key, value: pm})
				continue
			}
			lo := len(arena)
			var ok bool
			if arena, ok = f.appendValue(arena, fv); !ok {
				return nil, false
			}
			fr = append(fr, fresh{len(out), lo, len(arena)})
			out = append(out, jsonMember{key: key})
			continue
		}
		if f.omitEmpty && emptyValue(fv) || f.omitZero && fv.IsZero() {
			continue
		}
		if pm != nil {
			pv := prev.FieldByIndex(f.index)
			same := false
			switch f.kind {
			case codecString:
				same = fv.String() == pv.String()
			case codecInt:
				same = fv.Int() == pv.Int()
			case codecBool:
				same = fv.Bool() == pv.Bool()
			}
			if same {
				out = append(out, jsonMember{key: key, value: pm})
				continue
			}
		}
		lo := len(arena)
		var ok bool
		if arena, ok = f.appendValue(arena, fv); !ok {
			return nil, false
		}
		fr = append(fr, fresh{len(out), lo, len(arena)})
		out = append(out, jsonMember{key: key})
	}
	for _, x := range fr {
		out[x.at].value = arena[x.lo:x.hi:x.hi]
	}
	return out, true
}

// memberKeys returns the quoted names of the codec's members, in its
// order, as encodeAfter takes them; nil without a codec.
func (c *codec) memberKeys() [][]byte {
	if c == nil {
		return nil
	}
	keys := make([][]byte, len(c.fields))
	for i, f := range c.fields {
		keys[i] = []byte(f.key[:len(f.key)-1])
	}
	return keys
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
