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

// snapshotFormat changes when the saved state's layout does.
const snapshotFormat = 1

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

func decodeState(b []byte) (st *state, err error) {
	defer func() {
		// gob documents no panics, but the state comes from storage: a
		// corrupt checkpoint must be an error, never a crash.
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("decoding panicked: %v", r)
		}
	}()
	st = newState()
	if err := gob.NewDecoder(flate.NewReader(bytes.NewReader(b))).Decode(st); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// gob leaves maps nil when they were empty.
	fresh := newState()
	if len(st.Keys) != len(st.Counters) {
		return nil, fmt.Errorf("%d bucket keys for %d buckets", len(st.Keys), len(st.Counters))
	}
	st.index = make(map[bucketKey]int32, len(st.Keys))
	for i, k := range st.Keys {
		if _, dup := st.index[k]; dup {
			return nil, errors.New("a bucket is stored twice")
		}
		st.index[k] = int32(i)
	}
	if st.Incidents == nil {
		st.Incidents = fresh.Incidents
	}
	if st.Changes == nil {
		st.Changes = fresh.Changes
	}
	if st.ChangeRefs == nil {
		st.ChangeRefs = fresh.ChangeRefs
	}
	if st.Requests == nil {
		st.Requests = fresh.Requests
	}
	if st.SLAs == nil {
		st.SLAs = fresh.SLAs
	}
	if st.Services == nil {
		st.Services = fresh.Services
	}
	if len(st.Names) == 0 || st.Names[0] != "" {
		return nil, errors.New("the name table does not start with the empty name")
	}
	st.ids = make(map[string]int32, len(st.Names))
	for i, n := range st.Names {
		if _, dup := st.ids[n]; dup {
			return nil, fmt.Errorf("name %q is interned twice", n)
		}
		st.ids[n] = int32(i)
	}
	return st, nil
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

// loadSnapshot reads the engine's checkpoint, or returns nil when it has
// none.
func loadSnapshot(ctx context.Context, b storage.Backend, name string) (*state, error) {
	d, err := b.Get(ctx, CheckpointKind, name)
	if errors.Is(err, itsm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	corrupt := func(why string, args ...any) error {
		return fmt.Errorf("kpi engine %s: stored checkpoint is corrupt: %w: %s", name, itsm.ErrInvalid, fmt.Sprintf(why, args...))
	}
	var meta snapshotMeta
	if err := json.Unmarshal(d.Data, &meta); err != nil {
		return nil, corrupt("%v", err)
	}
	if meta.Format != snapshotFormat {
		return nil, corrupt("format %d, this version reads %d", meta.Format, snapshotFormat)
	}
	if meta.Parts < 0 || meta.Bytes < 0 || meta.Bytes > meta.Parts*partSize {
		return nil, corrupt("%d bytes in %d parts", meta.Bytes, meta.Parts)
	}
	raw := make([]byte, 0, meta.Bytes)
	for i := 0; i < meta.Parts; i++ {
		pd, err := b.Get(ctx, CheckpointKind, partID(name, i))
		if err != nil {
			return nil, corrupt("part %d: %v", i, err)
		}
		var p snapshotPart
		if err := json.Unmarshal(pd.Data, &p); err != nil || p.Index != i {
			return nil, corrupt("part %d does not decode", i)
		}
		chunk, err := base64.StdEncoding.DecodeString(p.Data)
		if err != nil {
			return nil, corrupt("part %d: %v", i, err)
		}
		raw = append(raw, chunk...)
	}
	sum := sha256.Sum256(raw)
	if len(raw) != meta.Bytes || hex.EncodeToString(sum[:]) != meta.SHA256 {
		return nil, corrupt("parts do not match the checksum (written by a concurrent checkpoint?)")
	}
	st, err := decodeState(raw)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	if st.Seq != meta.Seq {
		return nil, corrupt("state at seq %d, checkpoint says %d", st.Seq, meta.Seq)
	}
	return st, nil
}
