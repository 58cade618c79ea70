package storage

import (
	"fmt"
	"reflect"

	"github.com/pillars-itsm/pillars/internal/jsontext"
	"github.com/pillars-itsm/pillars/itsm"
)

// FieldChanges returns the changes a write of the encoded record after over
// the encoded record before lists in its event, as Records writes them:
// one per top-level member that differs, by name, with the raw JSON of
// each side ("" for a member one side lacks), leaving out the members
// every write changes (version, head, updated_at). Code that writes a
// record kind it owns without Records (a bulk rewrite sealing its own
// events) lists its changes with it, so they read as every other event's.
// Either side not being a JSON object is ErrInvalid.
func FieldChanges(before, after []byte) ([]itsm.FieldChange, error) {
	changes, _, err := diffJSON(before, after, metaFields, "")
	return changes, err
}

// Rewrite decodes the stored document before, hands the record to edit
// and, unless edit returns nil, encodes the record edit returns and lists
// the changes of that encoding over before as FieldChanges does. It is
// FieldChanges for code that decodes a record, changes it and encodes it
// again (a bulk rewrite of a kind it owns): the codec that decodes before
// reports its top-level members, a member whose value edit left as stored
// (a string, integer, bool or time) keeps the stored bytes instead of
// being encoded again, and neither encoding is split a second time for the
// diff. edit must not change the record it is handed (it returns another,
// a changed copy). head is the value of the encoding's "head" member
// within the document's data, quotes included (nil without one), for a
// caller that encodes a placeholder and writes the sealed event's hash
// over it. A nil record from edit returns the zero Document, no changes and
// no error.
func (c *Collection[T, P]) Rewrite(before Document, edit func(stored P) (P, error)) (doc Document, changes []itsm.FieldChange, head []byte, err error) {
	var bufB, bufA [64]jsonMember
	stored, bm, err := c.decodeMembers(before, bufB[:0])
	if err != nil {
		return Document{}, nil, nil, err
	}
	rec, err := edit(stored)
	if err != nil || rec == nil {
		return Document{}, nil, nil, err
	}
	var data []byte
	var am []jsonMember
	if bm != nil && c.codec != nil && c.codec.encodable && len(c.codec.fields) <= 64 && jsontext.MatchesEncodingJSON() {
		if after, ok := c.codec.encodeAfter(reflect.ValueOf(rec).Elem(), reflect.ValueOf(stored).Elem(), bm, bufA[:0], c.plan); ok {
			am = after.members
			data = joinInPlace(am)
		}
	}
	if am == nil {
		data, am, err = c.marshalMembers(rec, bufA[:0])
	}
	if err == nil && am == nil {
		am, err = topLevelMembers(data, bufA[:0])
	}
	if err == nil && bm == nil {
		bm, err = topLevelMembers(before.Data, bufB[:0])
	}
	if err != nil {
		return Document{}, nil, nil, fmt.Errorf("%s %s: %w", c.schema.Kind, rec.Meta().ID, err)
	}
	changes, head = diffMembers(bm, am, metaFields, "head")
	return c.document(rec, data), changes, head, nil
}

// joinInPlace writes the JSON object of members, as joinMembers does, and
// points each member at its copy in it, so that what a diff of them finds
// (the head) is part of the data.
func joinInPlace(members []jsonMember) []byte {
	data := joinMembers(members)
	at := 1 // past {
	for i := range members {
		k, v := len(members[i].key), len(members[i].value)
		members[i].key = data[at : at+k]
		members[i].value = data[at+k+1 : at+k+1+v]
		at += k + 1 + v + 1 // the key, :, the value and , or }
	}
	return data
}
