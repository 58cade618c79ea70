package improvement

import (
	"errors"
	"fmt"
)

// StateOf exposes the engine's state to the tests, which compare engines fed
// differently. What is derived is left out, being no part of what the
// engine knows: the one-entry bucket cache and the hash indexes (whose
// layout depends on the order of inserts and deletes; checkIndexes checks
// them against what they index). An empty free list reads as none (a
// checkpoint does not tell them apart).
func StateOf(e *Engine) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.st.checkIndexes(); err != nil {
		panic(err)
	}
	st := *e.st
	st.lastKey, st.lastIdx, st.lastOK = bucketKey{}, 0, false
	st.index, st.recent, st.names, st.nameCache = bucketIndex{}, nil, idIndex{}, [64]int32{}
	st.Incidents.index, st.Changes.index, st.Requests.index, st.SLAs.index = idIndex{}, idIndex{}, idIndex{}, idIndex{}
	st.Incidents.tags, st.Changes.tags, st.Requests.tags, st.SLAs.tags = nil, nil, nil, nil
	st.Incidents.seen, st.Changes.seen, st.Requests.seen, st.SLAs.seen = nil, nil, nil, nil
	st.Incidents.last, st.Changes.last, st.Requests.last, st.SLAs.last = 0, 0, 0, 0
	if len(st.Incidents.Free) == 0 {
		st.Incidents.Free = nil
	}
	if len(st.Changes.Free) == 0 {
		st.Changes.Free = nil
	}
	if len(st.Requests.Free) == 0 {
		st.Requests.Free = nil
	}
	if len(st.SLAs.Free) == 0 {
		st.SLAs.Free = nil
	}
	if len(st.Services) == 0 {
		st.Services = nil
	}
	return &st
}

// checkIndexes checks that the hash indexes find every bucket and every
// followed record, and hold nothing else.
func (st *state) checkIndexes() error {
	if st.index.n != len(st.Keys) {
		return fmt.Errorf("bucket index holds %d for %d buckets", st.index.n, len(st.Keys))
	}
	for i, k := range st.Keys {
		if j, ok := st.index.get(st.Keys, k); !ok || j != int32(i) {
			return fmt.Errorf("bucket %d not indexed", i)
		}
	}
	if st.recent != nil {
		for _, r := range st.recent {
			if r.pos != 0 && (int(r.pos) > len(st.Keys) || st.Keys[r.pos-1] != r.key) {
				return fmt.Errorf("recent bucket %v is not at %d", r.key, r.pos-1)
			}
		}
	}
	if st.names.n != len(st.Names) {
		return fmt.Errorf("name index holds %d for %d names", st.names.n, len(st.Names))
	}
	for i, n := range st.Names {
		if j, ok := st.nameID(n); !ok || j != int32(i) {
			return fmt.Errorf("name %q not indexed", n)
		}
	}
	return errors.Join(checkTable(&st.Incidents), checkTable(&st.Changes), checkTable(&st.Requests), checkTable(&st.SLAs))
}

func checkTable[T any](t *table[T]) error {
	if t.index.n != len(t.IDs)-len(t.Free) {
		return fmt.Errorf("record index holds %d for %d records", t.index.n, len(t.IDs)-len(t.Free))
	}
	free := map[int32]bool{}
	for _, s := range t.Free {
		free[s] = true
	}
	for s, id := range t.IDs {
		if free[int32(s)] {
			continue
		}
		if j, ok := t.index.get(t.IDs, id, hashID(id)); !ok || j != int32(s) {
			return fmt.Errorf("record %q not indexed", id)
		}
		if t.tags[s] != uint32(hashID(id)) {
			return fmt.Errorf("record %q has a wrong tag", id)
		}
		if j, ok, _ := t.find(id, 0); !ok || j != int32(s) {
			return fmt.Errorf("record %q not found", id)
		}
	}
	return nil
}
