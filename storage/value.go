package storage

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// FieldType is the type of an indexed field.
type FieldType uint8

// The indexed field types. Times are indexed as Unix microseconds in UTC
// (itsm.TimePrecision), so every store orders and compares them the same way.
const (
	TypeString FieldType = iota + 1
	TypeInt
	TypeTime
)

func (t FieldType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeTime:
		return "time"
	}
	return "FieldType(" + strconv.Itoa(int(t)) + ")"
}

// Value is the value of one indexed field: a string, an int64 or a time held
// as Unix microseconds. The zero Value has no type and is invalid in
// documents and filters.
type Value struct {
	typ FieldType
	s   string
	n   int64
}

// String returns a string Value.
func String(s string) Value { return Value{typ: TypeString, s: s} }

// Int returns an integer Value.
func Int(n int64) Value { return Value{typ: TypeInt, n: n} }

// Time returns a time Value, kept as Unix microseconds in UTC.
func Time(t time.Time) Value { return Value{typ: TypeTime, n: t.UnixMicro()} }

// TimeMicros returns a time Value from Unix microseconds, as stored by SQL
// adapters.
func TimeMicros(us int64) Value { return Value{typ: TypeTime, n: us} }

// Type returns the value's type, zero for the zero Value.
func (v Value) Type() FieldType { return v.typ }

// Str returns the string of a TypeString value.
func (v Value) Str() string { return v.s }

// Int64 returns the integer of a TypeInt value, or the Unix microseconds of a
// TypeTime value. Adapters store both as 64-bit integers.
func (v Value) Int64() int64 { return v.n }

// Time returns the time of a TypeTime value, in UTC.
func (v Value) Time() time.Time { return time.UnixMicro(v.n).UTC() }

// Any returns the value as string or int64, ready to bind as a SQL parameter.
func (v Value) Any() any {
	if v.typ == TypeString {
		return v.s
	}
	return v.n
}

// Compare orders two values of the same type: -1, 0 or +1. Strings compare
// bytewise, as SQL adapters must with a binary collation.
func (v Value) Compare(w Value) int {
	if v.typ == TypeString {
		switch {
		case v.s < w.s:
			return -1
		case v.s > w.s:
			return 1
		}
		return 0
	}
	switch {
	case v.n < w.n:
		return -1
	case v.n > w.n:
		return 1
	}
	return 0
}

// GoString renders the value for test failures.
func (v Value) GoString() string {
	switch v.typ {
	case TypeString:
		return fmt.Sprintf("String(%q)", v.s)
	case TypeInt:
		return fmt.Sprintf("Int(%d)", v.n)
	case TypeTime:
		return fmt.Sprintf("Time(%s)", v.Time().Format(time.RFC3339Nano))
	}
	return "Value{}"
}

// ParseValue builds a Value of type t from the forms SQL adapters read back:
// a string for TypeString, an int64 otherwise.
func ParseValue(t FieldType, x any) (Value, error) {
	switch t {
	case TypeString:
		if s, ok := x.(string); ok {
			return String(s), nil
		}
	case TypeInt, TypeTime:
		if n, ok := x.(int64); ok {
			return Value{typ: t, n: n}, nil
		}
	}
	return Value{}, itsm.Invalidf("value %v (%T) is not a %s", x, x, t)
}
