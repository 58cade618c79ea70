package transition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// KindBaselinePart is the kind of the parts of a large baseline.
const KindBaselinePart = "cmdb_baseline_part"

// BaselinePartSchema declares the parts of large baselines, indexed by the
// baseline they belong to.
func BaselinePartSchema() storage.Schema {
	return storage.Schema{Kind: KindBaselinePart, Fields: []storage.Field{{Name: "baseline_id", Type: storage.TypeString}}}
}

// partItems is BaselinePartItems, lowered by the package's tests to store
// small baselines in parts.
var partItems = BaselinePartItems

// baselinePart is the content of one part: a run of the baseline's scope
// CIs, then CIs, then relationships, in that order across the parts.
type baselinePart struct {
	Baseline      string         `json:"baseline_id"`
	Index         int            `json:"index"`
	ScopeCIs      []string       `json:"scope_cis,omitempty"`
	CIs           []BaselineItem `json:"cis,omitempty"`
	Relationships []BaselineItem `json:"relationships,omitempty"`
}

func partID(baseline string, i int) string { return baseline + "." + strconv.Itoa(i) }

func partHash(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// splitParts cuts the scope CIs, CIs and relationships into parts of at
// most n items, in that order.
func splitParts(baseline string, scope []string, cis, rels []BaselineItem, n int) []baselinePart {
	var out []baselinePart
	cur := baselinePart{Baseline: baseline}
	room := n
	flush := func() {
		out = append(out, cur)
		cur = baselinePart{Baseline: baseline, Index: len(out)}
		room = n
	}
	for len(scope) > 0 || len(cis) > 0 || len(rels) > 0 {
		if room == 0 {
			flush()
		}
		switch {
		case len(scope) > 0:
			k := min(room, len(scope))
			cur.ScopeCIs, scope, room = scope[:k], scope[k:], room-k
		case len(cis) > 0:
			k := min(room, len(cis))
			cur.CIs, cis, room = cis[:k], cis[k:], room-k
		default:
			k := min(room, len(rels))
			cur.Relationships, rels, room = rels[:k], rels[k:], room-k
		}
	}
	if room < n {
		flush()
	}
	return out
}

// createBaseline writes b: in its own document when it is small, otherwise
// the document without its lists plus its parts, in one unit of work. On
// return b holds its lists either way.
func (c *CMDB) createBaseline(ctx context.Context, b *Baseline, cmd storage.Command) error {
	scope, cis, rels := b.Scope.CIs, b.CIs, b.Relationships
	total := len(scope) + len(cis) + len(rels)
	if total <= partItems {
		return c.baselines.Create(ctx, b, cmd)
	}
	if len(cis)+len(rels) > MaxBaselineItems {
		return (&itsm.ValidationError{Kind: KindBaseline}).Add("cis", fmt.Sprintf("%d items, at most %d per baseline", len(cis)+len(rels), MaxBaselineItems))
	}
	work := *b
	work.ID = itsm.NewID()
	parts := splitParts(work.ID, scope, cis, rels, partItems)
	docs := make([]storage.Document, len(parts))
	work.Parts = make([]BaselinePart, len(parts))
	for i, p := range parts {
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		docs[i] = storage.Document{Kind: KindBaselinePart, ID: partID(work.ID, i), Version: 1, Data: data,
			Fields: []storage.Value{storage.String(work.ID)}}
		work.Parts[i] = BaselinePart{ScopeCIs: len(p.ScopeCIs), CIs: len(p.CIs), Relationships: len(p.Relationships), Hash: partHash(data)}
	}
	work.Scope.CIs, work.CIs, work.Relationships = nil, nil, nil
	var out Baseline
	err := c.backend.Update(ctx, func(tx storage.Tx) error {
		w := work
		if err := c.baselines.CreateTx(ctx, tx, &w, cmd); err != nil {
			return err
		}
		for _, d := range docs {
			if err := tx.Put(ctx, d, 0); err != nil {
				return err
			}
		}
		out = w
		return nil
	})
	if err != nil {
		return err
	}
	*b = out
	b.Scope.CIs, b.CIs, b.Relationships = scope, cis, rels
	return nil
}

// loadParts fills a parted baseline's lists from its parts, checking each
// part's hash against the baseline document.
func (c *CMDB) loadParts(ctx context.Context, b *Baseline) error {
	if len(b.Parts) == 0 {
		return nil
	}
	var scope []string
	var cis, rels []BaselineItem
	for i, want := range b.Parts {
		d, err := c.backend.Get(ctx, KindBaselinePart, partID(b.ID, i))
		if errors.Is(err, itsm.ErrNotFound) {
			return fmt.Errorf("baseline %s: part %d is missing: %w", b.Number, i, itsm.ErrConflict)
		}
		if err != nil {
			return err
		}
		if partHash(d.Data) != want.Hash {
			return fmt.Errorf("baseline %s: part %d does not match the hash its baseline recorded: %w", b.Number, i, itsm.ErrConflict)
		}
		var p baselinePart
		if err := json.Unmarshal(d.Data, &p); err != nil {
			return fmt.Errorf("baseline %s: part %d: %w: %v", b.Number, i, itsm.ErrConflict, err)
		}
		scope, cis, rels = append(scope, p.ScopeCIs...), append(cis, p.CIs...), append(rels, p.Relationships...)
	}
	b.Scope.CIs, b.CIs, b.Relationships = scope, cis, rels
	return nil
}
