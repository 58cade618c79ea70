package storage

import (
	"reflect"
)

// cloner copies records deeply, for a Fold, which keeps the record as it
// stands while a command changes its copy: the struct is copied whole,
// then every map, slice and pointer reachable through exported fields is
// copied in turn (strings and times are values already). Interfaces and
// unexported fields stay shared; records keep neither mutable.
type cloner[T any, P interface{ *T }] struct {
	fix func(reflect.Value) // nil: a plain copy is deep
}

func newCloner[T any, P interface{ *T }]() cloner[T, P] {
	return cloner[T, P]{fix: fixerFor(reflect.TypeFor[T](), map[reflect.Type]*fixer{})}
}

// clone returns a deep copy of rec.
func (c cloner[T, P]) clone(rec P) P {
	out := new(T)
	*out = *(*T)(rec)
	if c.fix != nil {
		c.fix(reflect.ValueOf(out).Elem())
	}
	return out
}

// fixerFor returns what makes a plain copy of a value of type t (settable)
// share nothing mutable with the original, nil when a plain copy shares
// nothing. seen breaks the recursion of recursive types.
func fixerFor(t reflect.Type, seen map[reflect.Type]*fixer) func(reflect.Value) {
	if p, ok := seen[t]; ok {
		if p.done {
			return p.fix
		}
		return func(v reflect.Value) { // a recursive type, known once built
			if p.fix != nil {
				p.fix(v)
			}
		}
	}
	slot := &fixer{}
	seen[t] = slot
	var fix func(reflect.Value)
	switch t.Kind() {
	case reflect.Struct:
		type part struct {
			i   int
			fix func(reflect.Value)
		}
		var parts []part
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			if f := fixerFor(t.Field(i).Type, seen); f != nil {
				parts = append(parts, part{i, f})
			}
		}
		if len(parts) > 0 {
			fix = func(v reflect.Value) {
				for _, p := range parts {
					p.fix(v.Field(p.i))
				}
			}
		}
	case reflect.Array:
		if f := fixerFor(t.Elem(), seen); f != nil {
			fix = func(v reflect.Value) {
				for i := range v.Len() {
					f(v.Index(i))
				}
			}
		}
	case reflect.Slice:
		elem := fixerFor(t.Elem(), seen)
		fix = func(v reflect.Value) {
			if v.IsNil() {
				return
			}
			n := reflect.MakeSlice(t, v.Len(), v.Len())
			reflect.Copy(n, v)
			if elem != nil {
				for i := range n.Len() {
					elem(n.Index(i))
				}
			}
			v.Set(n)
		}
	case reflect.Map:
		key, elem := fixerFor(t.Key(), seen), fixerFor(t.Elem(), seen)
		fix = func(v reflect.Value) {
			if v.IsNil() {
				return
			}
			n := reflect.MakeMapWithSize(t, v.Len())
			it := v.MapRange()
			for it.Next() {
				k, e := it.Key(), it.Value()
				if key != nil {
					c := reflect.New(t.Key()).Elem()
					c.Set(k)
					key(c)
					k = c
				}
				if elem != nil {
					c := reflect.New(t.Elem()).Elem()
					c.Set(e)
					elem(c)
					e = c
				}
				n.SetMapIndex(k, e)
			}
			v.Set(n)
		}
	case reflect.Pointer:
		elem := fixerFor(t.Elem(), seen)
		fix = func(v reflect.Value) {
			if v.IsNil() {
				return
			}
			n := reflect.New(t.Elem())
			n.Elem().Set(v.Elem())
			if elem != nil {
				elem(n.Elem())
			}
			v.Set(n)
		}
	}
	slot.fix, slot.done = fix, true
	return fix
}

// fixer is fixerFor's result for a type, while and once it is built.
type fixer struct {
	fix  func(reflect.Value)
	done bool
}
