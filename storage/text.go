package storage

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// textCheck is validText planned once for a type: the walk visits only the
// members that can hold strings, with their JSON names looked up once, so
// a write pays for the record's text and not for reflecting on its type.
// It reports what validText reports.
type textCheck func(v reflect.Value) (string, bool)

// newTextCheck plans validText for values of type t; nil when t holds no
// strings.
func newTextCheck(t reflect.Type) textCheck {
	return planText(t, map[reflect.Type]*textPlan{})
}

// textPlan is planText's result for a type, while and once it is built.
type textPlan struct {
	check textCheck
	done  bool
}

func planText(t reflect.Type, seen map[reflect.Type]*textPlan) textCheck {
	if p, ok := seen[t]; ok {
		if p.done {
			return p.check
		}
		return func(v reflect.Value) (string, bool) { // a recursive type
			if p.check == nil {
				return "", true
			}
			return p.check(v)
		}
	}
	slot := &textPlan{}
	seen[t] = slot
	var check textCheck
	switch {
	case t == valuesType:
		check = validText
	default:
		check = planKind(t, seen)
	}
	slot.check, slot.done = check, true
	return check
}

func planKind(t reflect.Type, seen map[reflect.Type]*textPlan) textCheck {
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value) (string, bool) {
			s := v.String()
			return "", utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
		}
	case reflect.Interface:
		return validText
	case reflect.Pointer:
		elem := planText(t.Elem(), seen)
		if elem == nil {
			return nil
		}
		return func(v reflect.Value) (string, bool) {
			if v.IsNil() {
				return "", true
			}
			return elem(v.Elem())
		}
	case reflect.Struct:
		type member struct {
			i     int
			name  string
			embed bool // anonymous without a JSON name: its path is its members'
			check textCheck
		}
		var ms []member
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			c := planText(f.Type, seen)
			if c == nil {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			m := member{i: i, name: name, check: c}
			if f.Anonymous && name == "" {
				m.embed = true
			} else if name == "" {
				m.name = f.Name
			}
			ms = append(ms, m)
		}
		if len(ms) == 0 {
			return nil
		}
		return func(v reflect.Value) (string, bool) {
			for _, m := range ms {
				if path, ok := m.check(v.Field(m.i)); !ok {
					if m.embed {
						return path, false
					}
					return joinPath(m.name, path), false
				}
			}
			return "", true
		}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return nil // []byte is base64 in JSON
		}
		elem := planText(t.Elem(), seen)
		if elem == nil {
			return nil
		}
		return func(v reflect.Value) (string, bool) {
			for i := range v.Len() {
				if path, ok := elem(v.Index(i)); !ok {
					return joinPath(strconv.Itoa(i), path), false
				}
			}
			return "", true
		}
	case reflect.Map:
		key, elem := planText(t.Key(), seen), planText(t.Elem(), seen)
		if key == nil && elem == nil {
			return nil
		}
		return func(v reflect.Value) (string, bool) {
			it := v.MapRange()
			for it.Next() {
				if key != nil {
					if path, ok := key(it.Key()); !ok {
						return path, false
					}
				}
				if elem != nil {
					if path, ok := elem(it.Value()); !ok {
						return joinPath(fmt.Sprint(it.Key().Interface()), path), false
					}
				}
			}
			return "", true
		}
	}
	return nil
}
