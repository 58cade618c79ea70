package customstore

import (
	"encoding/binary"
	"fmt"

	"github.com/pillars-itsm/pillars/storage"
)

// Index entries are members of sorted sets whose scores are all 0, so Redis
// orders them bytewise (ZRANGEBYLEX). A member is
//
//	enc(v1) … enc(vk)  idpart  id  len(id)
//
// where enc is order-preserving and prefix-free: an int or time is its 64
// bits big-endian with the sign bit flipped, a string has 0x00 escaped as
// 0x00 0xff and ends with 0x00 0x01. idpart is the id in the same string
// encoding for an ascending index, and that encoding with every byte
// complemented for a descending one, so a reverse walk still breaks ties by
// id ascending, as storage.Plan orders them. The raw id and its length come
// last so the Lua walk can find the document without knowing the field
// types; being after a prefix-free part, they never change the order.

// appendValue appends the order-preserving encoding of v.
func appendValue(b []byte, v storage.Value) []byte {
	if v.Type() == storage.TypeString {
		return appendString(b, v.Str())
	}
	return binary.BigEndian.AppendUint64(b, uint64(v.Int64())^(1<<63))
}

func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xff)
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, 0, 1)
}

// member returns the sorted-set member of a document with the given index
// values; desc selects the descending twin.
func member(vals []storage.Value, id string, desc bool) string {
	b := make([]byte, 0, 16*len(vals)+2*len(id)+4)
	for _, v := range vals {
		b = appendValue(b, v)
	}
	n := len(b)
	b = appendString(b, id)
	if desc {
		for i := n; i < len(b); i++ {
			b[i] = ^b[i]
		}
	}
	b = append(b, id...)
	return string(append(b, byte(len(id))))
}

// memberID returns the id at the end of a member.
func memberID(m string) (string, error) {
	if len(m) == 0 || int(m[len(m)-1]) > len(m)-1 {
		return "", fmt.Errorf("customstore: malformed index member %q", m)
	}
	n := int(m[len(m)-1])
	return m[len(m)-1-n : len(m)-1], nil
}

// encodeFields encodes a document's index values for its hash; they decode
// with the kind's field types.
func encodeFields(vals []storage.Value) string {
	var b []byte
	for _, v := range vals {
		b = appendValue(b, v)
	}
	return string(b)
}

// decodeFields decodes what encodeFields wrote, given the declared fields.
// Malformed input is an error, never a panic.
func decodeFields(fields []storage.Field, s string) ([]storage.Value, error) {
	bad := fmt.Errorf("customstore: malformed field values %q", s)
	vals := make([]storage.Value, len(fields))
	for i, f := range fields {
		if f.Type != storage.TypeString {
			if len(s) < 8 {
				return nil, bad
			}
			n := int64(binary.BigEndian.Uint64([]byte(s[:8])) ^ (1 << 63))
			v, err := storage.ParseValue(f.Type, n)
			if err != nil {
				return nil, bad
			}
			vals[i], s = v, s[8:]
			continue
		}
		var out []byte
		for {
			if len(s) < 2 && (len(s) == 0 || s[0] == 0) {
				return nil, bad
			}
			if s[0] != 0 {
				out, s = append(out, s[0]), s[1:]
				continue
			}
			if s[1] == 0xff {
				out, s = append(out, 0), s[2:]
				continue
			}
			if s[1] != 1 {
				return nil, bad
			}
			s = s[2:]
			break
		}
		vals[i] = storage.String(string(out))
	}
	if s != "" {
		return nil, bad
	}
	return vals, nil
}

// prefixEnd returns the smallest string greater than every string that
// starts with p, and false when there is none (p is all 0xff).
func prefixEnd(p string) (string, bool) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			return p[:i] + string([]byte{p[i] + 1}), true
		}
	}
	return "", false
}
