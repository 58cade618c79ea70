package transition

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The years a transition record's own times (planned starts and ends,
// window and meeting times, review dates) must lie in: a time outside them
// is a mistake refused (year 9999, year 1), not a record kept.
const (
	MinYear = 1900
	MaxYear = 2300
)

var timeType = reflect.TypeOf(time.Time{})

// checkFields adds to ve a problem for every text the record holds that is
// not valid UTF-8 or holds a NUL byte (SQL text columns cannot hold it and
// a reader cannot see it), and for every non-zero time of its own outside
// MinYear..MaxYear. It walks the exported fields of rec (a pointer to a
// struct), nested structs and slices included, by their JSON names; the
// embedded itsm.Record, which the store fills, is left out.
func checkFields(ve *itsm.ValidationError, rec any) {
	walkFields(ve, "", reflect.ValueOf(rec))
}

func walkFields(ve *itsm.ValidationError, path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkFields(ve, path, v.Elem())
		}
	case reflect.String:
		switch s := v.String(); {
		case !utf8.ValidString(s):
			ve.Add(path, "is not valid UTF-8")
		case strings.IndexByte(s, 0) >= 0:
			ve.Add(path, "holds a NUL byte")
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkFields(ve, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key())
			walkFields(ve, path+"."+k, it.Key())
			walkFields(ve, path+"."+k, it.Value())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			t := v.Interface().(time.Time)
			if y := t.UTC().Year(); !t.IsZero() && (y < MinYear || y > MaxYear) {
				ve.Add(path, fmt.Sprintf("%s is outside the years %d..%d", t.UTC().Format(time.RFC3339), MinYear, MaxYear))
			}
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || f.Anonymous && f.Type == reflect.TypeOf(itsm.Record{}) {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if path != "" {
				name = path + "." + name
			}
			walkFields(ve, name, v.Field(i))
		}
	}
}

// checkReason refuses a command reason the store would refuse, for the
// commands that replace cmd.Reason with a comment of their own (the store
// then never sees it).
func checkReason(kind, id string, cmd storage.Command) error {
	ve := &itsm.ValidationError{Kind: kind, ID: id}
	switch r := cmd.Reason; {
	case len(r) > storage.MaxReason:
		ve.Add("reason", fmt.Sprintf("is %d bytes, at most %d", len(r), storage.MaxReason))
	case !utf8.ValidString(r):
		ve.Add("reason", "is not valid UTF-8")
	case strings.IndexByte(r, 0) >= 0:
		ve.Add("reason", "holds a NUL byte")
	}
	return ve.Err()
}

// needEvent refuses an empty event: storage.Records takes one for a
// change without a mutation, which writes nothing and reports success.
func needEvent(kind, id, event string) error {
	if event == "" {
		return (&itsm.ValidationError{Kind: kind, ID: id}).Add("event", "is required")
	}
	return nil
}

// MaxSearchQuery bounds a SearchIndex.Search query, in bytes (only its
// first 16 words are searched).
const MaxSearchQuery = 1024

// validID reports whether id is an id a store accepts: 1..128 bytes of
// UTF-8 without NUL.
func validID(id string) bool {
	return id != "" && len(id) <= 128 && utf8.ValidString(id) && strings.IndexByte(id, 0) < 0
}
