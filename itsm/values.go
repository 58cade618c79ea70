package itsm

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Values holds a record's custom field values, by field name, as their JSON
// encodings. Every pillar record carries them in the same member,
//
//	Custom itsm.Values `json:"custom,omitempty"`
//
// and a host's own record kinds declare the same member to have custom
// fields. Which names a record may hold, their types and rules are declared
// in a storage.Dictionary; storage.Records checks them on every write and
// stores each value in its canonical form:
//
//	string, text, enum, user, group, reference  a JSON string (Str)
//	integer                                     a JSON number (Int)
//	decimal                                     a JSON string "12.50" with the field's scale (Str)
//	boolean                                     true or false (Bool)
//	time                                        an RFC 3339 UTC string (Time)
//	date                                        a JSON string "2006-01-02" (Date, Str)
//
// The getters report false for a name without a value or a value of
// another shape. The setters take a pointer, so that they can make the map
// of a record that has none yet: rec.Custom.SetString("region", "emea").
type Values map[string]json.RawMessage

// Has reports whether name has a value (JSON null counts as none).
func (v Values) Has(name string) bool {
	raw, ok := v[name]
	return ok && string(raw) != "null"
}

// Str returns the value of a string-shaped field: string, text, enum,
// user, group, reference, and the text of a decimal or date.
func (v Values) Str(name string) (string, bool) {
	raw := v[name]
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if in := raw[1 : len(raw)-1]; raw[len(raw)-1] == '"' && plain(in) {
		return string(in), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// plain reports whether a JSON string's content needs no decoding: valid
// UTF-8 without quotes, backslashes or control characters.
func plain(in []byte) bool {
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(in)
}

// Int returns the value of an integer field.
func (v Values) Int(name string) (int64, bool) {
	n, err := strconv.ParseInt(string(v[name]), 10, 64)
	return n, err == nil
}

// Bool returns the value of a boolean field.
func (v Values) Bool(name string) (bool, bool) {
	switch string(v[name]) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// Time returns the value of a time field, in UTC.
func (v Values) Time(name string) (time.Time, bool) {
	s, ok := v.Str(name)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil
}

// Date returns the value of a date field as midnight UTC of that day.
func (v Values) Date(name string) (time.Time, bool) {
	s, ok := v.Str(name)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// Set stores the JSON encoding of x under name; a value encoding/json
// cannot encode (a channel, a NaN) leaves the values as they were and
// returns the error. Prefer the typed setters.
func (v *Values) Set(name string, x any) error {
	raw, err := json.Marshal(x)
	if err != nil {
		return err
	}
	v.put(name, raw)
	return nil
}

// SetString stores a string-shaped value (string, text, enum, user, group,
// reference, or the text of a decimal such as "12.50").
func (v *Values) SetString(name, s string) {
	raw, _ := json.Marshal(s) // a string always encodes
	v.put(name, raw)
}

// SetInt stores an integer value.
func (v *Values) SetInt(name string, n int64) { v.put(name, strconv.AppendInt(nil, n, 10)) }

// SetBool stores a boolean value.
func (v *Values) SetBool(name string, b bool) { v.put(name, strconv.AppendBool(nil, b)) }

// SetTime stores a time value, in UTC at the stores' precision.
func (v *Values) SetTime(name string, t time.Time) {
	v.SetString(name, NormalizeTime(t).Format(time.RFC3339Nano))
}

// SetDate stores the calendar day of t, in t's location, as a date value.
func (v *Values) SetDate(name string, t time.Time) { v.SetString(name, t.Format(time.DateOnly)) }

// Delete removes name's value.
func (v Values) Delete(name string) { delete(v, name) }

// Clone returns a copy that shares no map with v (nil for nil).
func (v Values) Clone() Values {
	if v == nil {
		return nil
	}
	out := make(Values, len(v))
	for k, raw := range v {
		out[k] = append(json.RawMessage(nil), raw...)
	}
	return out
}

func (v *Values) put(name string, raw []byte) {
	if *v == nil {
		*v = Values{}
	}
	(*v)[name] = raw
}
