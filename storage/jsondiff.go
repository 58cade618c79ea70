package storage

import (
	"bytes"
	"slices"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
)

// jsonMember is one top-level member of a JSON object: its raw key (with
// quotes, escapes intact) and its raw value.
type jsonMember struct {
	key, value []byte
}

// topLevelMembers splits a JSON object into its top-level members without
// decoding the values. It accepts what encoding/json produces and refuses,
// with ErrInvalid, anything that is not a well-formed object at the top
// level; values are delimited by nesting and string rules, not validated.
func topLevelMembers(data []byte, out []jsonMember) ([]jsonMember, error) {
	bad := func(why string) ([]jsonMember, error) { return nil, itsm.Invalidf("json object: %s", why) }
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return bad("does not start with {")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		if skipSpace(data, i+1) != len(data) {
			return bad("trailing data")
		}
		return out, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return bad("expected a key")
		}
		end, ok := skipString(data, i)
		if !ok {
			return bad("unterminated key")
		}
		key := data[i:end]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return bad("expected :")
		}
		i = skipSpace(data, i+1)
		start := i
		if i, ok = skipValue(data, i); !ok || i == start {
			return bad("malformed value")
		}
		out = append(out, jsonMember{key: key, value: data[start:i]})
		i = skipSpace(data, i)
		if i >= len(data) {
			return bad("unterminated object")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			if skipSpace(data, i+1) != len(data) {
				return bad("trailing data")
			}
			return out, nil
		default:
			return bad("expected , or }")
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			var ok bool
			if i, ok = skipString(b, i); !ok {
				return i, false
			}
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, true
			}
			i++
		case ' ', '\n', '\t', '\r':
			if depth == 0 {
				return i, true
			}
			i++
		default:
			i++
		}
		if depth < 0 {
			return i, false
		}
	}
	return i, depth == 0
}

// diffJSON lists the top-level members that differ between two JSON objects
// (before may be empty: every member is new), skipping the names in skip,
// ordered by field name. Values are compared as raw bytes, which is exact
// for what encoding/json writes. It also returns the raw value of after's
// member named find (nil when absent), a sub-slice of after.
func diffJSON(before, after []byte, skip []string, find string) ([]itsm.FieldChange, []byte, error) {
	var bufA, bufB [64]jsonMember
	am, err := topLevelMembers(after, bufA[:0])
	if err != nil {
		return nil, nil, err
	}
	var bm []jsonMember
	if len(before) > 0 {
		if bm, err = topLevelMembers(before, bufB[:0]); err != nil {
			return nil, nil, err
		}
	}
	changes, found := diffMembers(bm, am, skip, find)
	return changes, found, nil
}

// diffMembers is diffJSON on objects already split into their members (bm
// empty: every member is new), as topLevelMembers splits them.
//
// The changes' strings are substrings of one allocation: a diff costs two
// allocations (that string and the change slice) however many fields
// changed.
func diffMembers(bm, am []jsonMember, skip []string, find string) ([]itsm.FieldChange, []byte) {
	var found []byte
	for _, a := range am {
		if len(a.key) == len(find)+2 && string(a.key[1:len(a.key)-1]) == find {
			found = a.value
			break
		}
	}
	// A change is collected as slices of before and after first.
	var bufP [64]pendingChange
	ps := bufP[:0]
	size := 0
	add := func(key, from, to []byte) {
		name := bytes.Trim(key, `"`)
		for _, s := range skip {
			if s == string(name) {
				return
			}
		}
		ps = append(ps, pendingChange{name, from, to})
		size += len(name) + len(from) + len(to)
	}
	// encoding/json writes a struct's members in declaration order, so the
	// two sides usually line up; fall back to a search when they do not.
	var bufU [64]bool
	used := bufU[:0]
	if len(bm) > len(bufU) {
		used = make([]bool, len(bm))
	} else {
		used = bufU[:len(bm)]
	}
	lo := 0 // every member of bm before lo is used
	for ai, a := range am {
		bi := -1
		if ai < len(bm) && !used[ai] && bytes.Equal(bm[ai].key, a.key) {
			bi = ai
		} else {
			for j := lo; j < len(bm); j++ {
				if !used[j] && bytes.Equal(bm[j].key, a.key) {
					bi = j
					break
				}
			}
		}
		if bi < 0 {
			add(a.key, nil, a.value)
			continue
		}
		used[bi] = true
		for lo < len(bm) && used[lo] {
			lo++
		}
		if !bytes.Equal(bm[bi].value, a.value) {
			add(a.key, bm[bi].value, a.value)
		}
	}
	for j, b := range bm {
		if !used[j] {
			add(b.key, b.value, nil)
		}
	}
	if len(ps) == 0 {
		return nil, found
	}
	// Sort by name (stable, as the changes were listed).
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && bytes.Compare(ps[j].name, ps[j-1].name) < 0; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	return joinChanges(ps, size), found
}

// pendingChange is a change listed as slices of the two encodings: the
// member's name (unquoted) and its raw values, nil for an absent side.
type pendingChange struct{ name, from, to []byte }

// joinChanges turns pending changes, in their order, into FieldChanges
// whose strings are substrings of one allocation; size is the sum of the
// lengths of every name and value.
func joinChanges(ps []pendingChange, size int) []itsm.FieldChange {
	var sb strings.Builder
	sb.Grow(size)
	for _, p := range ps {
		sb.Write(p.name)
		sb.Write(p.from)
		sb.Write(p.to)
	}
	all := sb.String()
	out := make([]itsm.FieldChange, len(ps))
	at := 0
	cut := func(n int) string { s := all[at : at+n]; at += n; return s }
	for i, p := range ps {
		out[i] = itsm.FieldChange{Field: cut(len(p.name)), From: cut(len(p.from)), To: cut(len(p.to))}
	}
	return out
}

// markAppended turns each change of a journal member whose new array
// extends the old one (the old array's elements, then more) into an
// Appended change holding only the new elements. JSON values are
// self-delimiting, so when the new text starts with the old one minus its
// closing bracket and goes on with a comma, the old elements are all there,
// unchanged, and a new one starts at the comma. A member that was absent or
// null before is appended to whole.
func markAppended(changes []itsm.FieldChange, journal []string) {
	for i := range changes {
		c := &changes[i]
		if !slices.Contains(journal, c.Field) || len(c.To) < 2 || c.To[0] != '[' || c.To[len(c.To)-1] != ']' {
			continue
		}
		switch {
		case c.From == "" || c.From == "null" || c.From == "[]":
			if c.To == "[]" {
				continue
			}
		case len(c.From) >= 2 && c.From[0] == '[' && len(c.To) > len(c.From) &&
			c.To[:len(c.From)-1] == c.From[:len(c.From)-1] && c.To[len(c.From)-1] == ',':
			c.To = "[" + c.To[len(c.From):]
		default:
			continue
		}
		c.From, c.Appended = "", true
	}
}
