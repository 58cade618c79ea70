package storage

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"

	"github.com/pillars-itsm/pillars/itsm"
)

// Cursors are opaque to callers: base64url of a version byte, a fingerprint
// of the query and the tenant they were issued for, the sort key values and
// the id of the last row. A cursor replayed on another query or under
// another tenant, or mangled, is ErrInvalid.

const cursorVersion = 1

// maxCursorLen bounds a cursor before decoding: keys are at most a few
// index values and an id.
const maxCursorLen = 64 << 10

// fingerprint hashes the query a cursor belongs to and its tenant. The
// default tenant adds nothing, so cursors issued before tenants existed
// stay valid; another tenant is written first behind a zero byte, which no
// default fingerprint starts with (a kind is never empty).
func fingerprint(tenant string, q Query) uint64 {
	h := fnv.New64a()
	var buf [binary.MaxVarintLen64]byte
	put := func(b []byte) { h.Write(binary.AppendUvarint(buf[:0], uint64(len(b)))); h.Write(b) }
	if tenant != "" && tenant != itsm.DefaultTenant {
		h.Write([]byte{0})
		put([]byte(tenant))
	}
	putV := func(v Value) {
		h.Write([]byte{byte(v.typ)})
		put([]byte(v.s))
		h.Write(binary.AppendVarint(buf[:0], v.n))
	}
	put([]byte(q.Kind))
	for _, f := range q.Filters {
		put([]byte(f.Field))
		h.Write([]byte{byte(f.Op)})
		for _, v := range f.Values {
			putV(v)
		}
	}
	for _, o := range q.Sort {
		put([]byte(o.Field))
		if o.Desc {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}
	return h.Sum64()
}

func encodeCursor(p Plan, key []Value, id string) string {
	b := make([]byte, 0, 32+len(id))
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, fingerprint(p.Tenant, p.Query))
	b = binary.AppendUvarint(b, uint64(len(key)))
	for _, v := range key {
		b = append(b, byte(v.typ))
		if v.typ == TypeString {
			b = binary.AppendUvarint(b, uint64(len(v.s)))
			b = append(b, v.s...)
		} else {
			b = binary.AppendVarint(b, v.n)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, p Plan) ([]Value, string, error) {
	bad := func(why string) ([]Value, string, error) {
		return nil, "", itsm.Invalidf("query %s: cursor %s", p.Kind, why)
	}
	if len(s) > maxCursorLen {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("is not base64url")
	}
	if len(b) < 9 || b[0] != cursorVersion {
		return bad("has an unknown format")
	}
	if binary.BigEndian.Uint64(b[1:9]) != fingerprint(p.Tenant, p.Query) {
		return bad("was issued for a different query or tenant")
	}
	b = b[9:]
	readLen := func() (int, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return 0, false
		}
		b = b[k:]
		return int(n), true
	}
	count, ok := readLen()
	if !ok || count != len(p.SortFields) {
		return bad("does not match the query's ordering")
	}
	key := make([]Value, count)
	for i := range key {
		if len(b) == 0 {
			return bad("is truncated")
		}
		typ := FieldType(b[0])
		b = b[1:]
		if typ != p.Schema.Fields[p.SortFields[i]].Type {
			return bad("holds a value of the wrong type")
		}
		if typ == TypeString {
			n, ok := readLen()
			if !ok {
				return bad("is truncated")
			}
			key[i] = String(string(b[:n]))
			b = b[n:]
			continue
		}
		n, k := binary.Varint(b)
		if k <= 0 {
			return bad("is truncated")
		}
		key[i] = Value{typ: typ, n: n}
		b = b[k:]
	}
	n, ok := readLen()
	if !ok || n == 0 || n > 128 {
		return bad("holds no valid id")
	}
	id := string(b[:n])
	if len(b) != n {
		return bad("has trailing bytes")
	}
	return key, id, nil
}
