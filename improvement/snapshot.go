package improvement

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// CheckpointKind is the document kind holding KPI engine checkpoints: one
// document named after the engine with the sequence reached, and parts
// named "<engine>.<n>" holding its compressed state (a state larger than a
// document is split). They are written together in one unit of work.
const CheckpointKind = "kpi_checkpoint"

var snapshotSchema = storage.Schema{Kind: CheckpointKind}

// snapshotFormat changes when the saved state's layout or meaning does.
// Format 1 kept records in maps keyed by id, format 2 in tables of slots
// (see table); both forgot an incident once it closed, so they lack what a
// reopen after close, MTTRFirst and the percentiles need. Format 3 keeps
// every record, measurements naming their buckets by position. A
// checkpoint of an older format cannot be brought up to date from what it
// holds: New leaves it and the engine recomputes from the log (see
// outdatedFormat); a checkpoint is always saved in the newest.
const snapshotFormat = 3

// outdatedFormat tells a checkpoint format an earlier version of the
// engine saved, which this one replaces by a recomputation.
func outdatedFormat(f int) bool { return f == 1 || f == 2 }

const partSize = 600 << 10 // raw bytes per part; base64 keeps it under MaxDocumentSize

type snapshotMeta struct {
	Format int    `json:"format"`
	Seq    int64  `json:"seq"`
	Parts  int    `json:"parts"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

type snapshotPart struct {
	Index int    `json:"index"`
	Data  string `json:"data"` // base64 of a slice of the compressed state
}

func partID(name string, i int) string { return fmt.Sprintf("%s.%d", name, i) }

func encodeState(st *state) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := gob.NewEncoder(zw).Encode(st); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeState reads a state saved in format, which must be the current
// one.
func decodeState(b []byte, format int) (st *state, err error) {
	defer func() {
		// gob documents no panics, but the state comes from storage: a
		// corrupt checkpoint must be an error, never a crash.
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("decoding panicked: %v", r)
		}
	}()
	if format != snapshotFormat {
		return nil, fmt.Errorf("format %d, this version reads %d", format, snapshotFormat)
	}
	st = newState()
	if err := gob.NewDecoder(flate.NewReader(bytes.NewReader(b))).Decode(st); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := st.rebuild(); err != nil {
		return nil, err
	}
	return st, nil
}

// rebuild derives the indexes a checkpoint does not save and checks that
// every reference between records is in range, so a corrupt state is an
// error rather than a crash later.
func (st *state) rebuild() error {
	n := 0
	for i, c := range st.Counters {
		if len(c) == 0 || len(c) > chunkSize || len(c) < chunkSize && i < len(st.Counters)-1 {
			return fmt.Errorf("bucket chunk %d holds %d buckets", i, len(c))
		}
		n += len(c)
	}
	if len(st.Keys) != n {
		return fmt.Errorf("%d bucket keys for %d buckets", len(st.Keys), n)
	}
	if k := len(st.Counters); k > 0 && cap(st.Counters[k-1]) < chunkSize {
		st.Counters[k-1] = append(make([]counters, 0, chunkSize), st.Counters[k-1]...)
	}
	st.index = bucketIndex{}
	for i, k := range st.Keys {
		if _, dup := st.index.get(st.Keys, k); dup {
			return errors.New("a bucket is stored twice")
		}
		st.index.put(st.Keys, int32(i))
	}
	if len(st.Names) == 0 || st.Names[0] != "" {
		return errors.New("the name table does not start with the empty name")
	}
	st.names, st.nameCache = idIndex{}, [64]int32{}
	for i, n := range st.Names {
		h := hashID(n)
		if _, dup := st.names.get(st.Names, n, h); dup {
			return fmt.Errorf("name %q is interned twice", n)
		}
		st.names.put(h, int32(i))
	}
	if len(st.Services) > len(st.Names) {
		return fmt.Errorf("%d services for %d names", len(st.Services), len(st.Names))
	}
	if err := errors.Join(st.Incidents.rebuild("incident"), st.Changes.rebuild("change"),
		st.Requests.rebuild("request"), st.SLAs.rebuild("sla clock")); err != nil {
		return err
	}
	name := func(id int32) bool { return id >= 0 && int(id) < len(st.Names) }
	key := func(k sliceKey) bool { return name(k.Service) && name(k.Group) }
	// A measurement standing names its bucket (ref != 0); a ref is a
	// position+1 in Keys.
	ref := func(r bucketRef, standing bool) bool {
		return r >= 0 && int(r) <= len(st.Keys) && (r != 0 || !standing)
	}
	for _, k := range st.Keys {
		if !key(k.Slice) {
			return errors.New("a bucket names a service or group out of range")
		}
	}
	// Each clock is linked from at most one ticket, the one it names.
	linked := make([]bool, len(st.SLAs.Rows))
	walk := func(head int32, kind uint8, slot int32) error {
		for head != 0 {
			if head < 0 || int(head) > len(st.SLAs.Rows) || linked[head-1] {
				return fmt.Errorf("sla clock link %d out of range or repeated", head)
			}
			linked[head-1] = true
			c := &st.SLAs.Rows[head-1]
			if c.TaskKind != kind || c.TaskSlot != slot {
				return errors.New("an sla clock is linked from a ticket it does not name")
			}
			head = c.Next
		}
		return nil
	}
	for i := range st.Incidents.Rows {
		inc := &st.Incidents.Rows[i]
		if inc.CausedBy < 0 || int(inc.CausedBy) > len(st.Changes.Rows) || !key(inc.Key) ||
			!ref(inc.RRef, false) || !ref(inc.AckRef, false) || !ref(inc.FirstRef, false) {
			return fmt.Errorf("incident %d refers out of range", i)
		}
		if err := walk(inc.SLAs, taskIncident, int32(i)); err != nil {
			return err
		}
	}
	for i := range st.Requests.Rows {
		if rq := &st.Requests.Rows[i]; !key(rq.Key) || !ref(rq.FRef, rq.Fulfilled) {
			return fmt.Errorf("request %d refers out of range", i)
		}
		if err := walk(st.Requests.Rows[i].SLAs, taskRequest, int32(i)); err != nil {
			return err
		}
	}
	for i := range st.Changes.Rows {
		if ch := &st.Changes.Rows[i]; !key(ch.Key) || !ref(ch.CRef, ch.Live && ch.Closed) {
			return fmt.Errorf("change %d refers out of range", i)
		}
	}
	for i := range st.SLAs.Rows {
		c := &st.SLAs.Rows[i]
		if c.TaskKind != taskNone && !linked[i] || !name(c.Metric) || !key(c.Own) || !ref(c.CRef, c.Completed) {
			return fmt.Errorf("sla clock %d refers out of range", i)
		}
	}
	return nil
}

// rebuild derives the table's id index and checks its slots.
func (t *table[T]) rebuild(kind string) error {
	if len(t.IDs) != len(t.Rows) {
		return fmt.Errorf("%s table: %d ids for %d rows", kind, len(t.IDs), len(t.Rows))
	}
	free := make([]bool, len(t.Rows))
	for _, s := range t.Free {
		if s < 0 || int(s) >= len(t.Rows) || free[s] {
			return fmt.Errorf("%s table: free slot %d out of range or repeated", kind, s)
		}
		free[s] = true
	}
	t.index, t.tags, t.seen, t.last = idIndex{}, make([]uint32, len(t.IDs)), nil, 0
	for s, id := range t.IDs {
		if free[s] {
			continue
		}
		h := hashID(id)
		if _, dup := t.index.get(t.IDs, id, h); dup {
			return fmt.Errorf("%s %q is stored twice", kind, id)
		}
		t.index.put(h, int32(s))
		t.tags[s] = uint32(h)
	}
	return nil
}

// saveSnapshot writes st as the engine's checkpoint, provided the stored
// checkpoint is still at prevSeq (nobody else saved meanwhile).
func saveSnapshot(ctx context.Context, b storage.Backend, name string, st *state, prevSeq int64) error {
	raw, err := encodeState(st)
	if err != nil {
		return itsm.Invalidf("kpi engine %s: cannot encode state: %v", name, err)
	}
	sum := sha256.Sum256(raw)
	meta := snapshotMeta{Format: snapshotFormat, Seq: st.Seq, Parts: (len(raw) + partSize - 1) / partSize,
		Bytes: len(raw), SHA256: hex.EncodeToString(sum[:])}
	return b.Update(ctx, func(tx storage.Tx) error {
		var old snapshotMeta
		var oldVersion int64
		d, err := tx.Get(ctx, CheckpointKind, name)
		switch {
		case err == nil:
			if err := json.Unmarshal(d.Data, &old); err != nil {
				return fmt.Errorf("kpi engine %s: stored checkpoint is corrupt: %w: %v", name, itsm.ErrInvalid, err)
			}
			oldVersion = d.Version
		case !errors.Is(err, itsm.ErrNotFound):
			return err
		}
		if old.Seq != prevSeq {
			return &itsm.ConflictError{Kind: CheckpointKind, ID: name, Expected: oldVersion}
		}
		for i := 0; i < max(meta.Parts, old.Parts); i++ {
			id := partID(name, i)
			var version int64
			pd, err := tx.Get(ctx, CheckpointKind, id)
			switch {
			case err == nil:
				version = pd.Version
			case !errors.Is(err, itsm.ErrNotFound):
				return err
			}
			if i >= meta.Parts {
				if version > 0 {
					if err := tx.Delete(ctx, CheckpointKind, id, version); err != nil {
						return err
					}
				}
				continue
			}
			chunk := raw[i*partSize : min(len(raw), (i+1)*partSize)]
			data, err := json.Marshal(snapshotPart{Index: i, Data: base64.StdEncoding.EncodeToString(chunk)})
			if err != nil {
				return err
			}
			if err := tx.Put(ctx, storage.Document{Kind: CheckpointKind, ID: id, Version: version + 1, Data: data}, version); err != nil {
				return err
			}
		}
		data, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		return tx.Put(ctx, storage.Document{Kind: CheckpointKind, ID: name, Version: oldVersion + 1, Data: data}, oldVersion)
	})
}

// loadSnapshot reads the engine's checkpoint. It returns a nil state when
// there is none, or when it is of an outdated format (see outdatedFormat),
// and then the sequence the stored checkpoint is at (0 when none), which
// the next checkpoint replaces.
func loadSnapshot(ctx context.Context, b storage.Backend, name string) (*state, int64, error) {
	d, err := b.Get(ctx, CheckpointKind, name)
	if errors.Is(err, itsm.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	corrupt := func(why string, args ...any) error {
		return fmt.Errorf("kpi engine %s: stored checkpoint is corrupt: %w: %s", name, itsm.ErrInvalid, fmt.Sprintf(why, args...))
	}
	var meta snapshotMeta
	if err := json.Unmarshal(d.Data, &meta); err != nil {
		return nil, 0, corrupt("%v", err)
	}
	if outdatedFormat(meta.Format) {
		if meta.Seq < 0 {
			return nil, 0, corrupt("seq %d", meta.Seq)
		}
		return nil, meta.Seq, nil
	}
	if meta.Format != snapshotFormat {
		return nil, 0, corrupt("format %d, this version reads %d (and recomputes over 1 and 2)", meta.Format, snapshotFormat)
	}
	if meta.Parts < 0 || meta.Bytes < 0 || meta.Bytes > meta.Parts*partSize {
		return nil, 0, corrupt("%d bytes in %d parts", meta.Bytes, meta.Parts)
	}
	raw := make([]byte, 0, meta.Bytes)
	for i := 0; i < meta.Parts; i++ {
		pd, err := b.Get(ctx, CheckpointKind, partID(name, i))
		if err != nil {
			return nil, 0, corrupt("part %d: %v", i, err)
		}
		var p snapshotPart
		if err := json.Unmarshal(pd.Data, &p); err != nil || p.Index != i {
			return nil, 0, corrupt("part %d does not decode", i)
		}
		chunk, err := base64.StdEncoding.DecodeString(p.Data)
		if err != nil {
			return nil, 0, corrupt("part %d: %v", i, err)
		}
		raw = append(raw, chunk...)
	}
	sum := sha256.Sum256(raw)
	if len(raw) != meta.Bytes || hex.EncodeToString(sum[:]) != meta.SHA256 {
		return nil, 0, corrupt("parts do not match the checksum (written by a concurrent checkpoint?)")
	}
	st, err := decodeState(raw, meta.Format)
	if err != nil {
		return nil, 0, corrupt("%v", err)
	}
	if st.Seq != meta.Seq {
		return nil, 0, corrupt("state at seq %d, checkpoint says %d", st.Seq, meta.Seq)
	}
	return st, st.Seq, nil
}
