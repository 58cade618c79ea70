package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
)

// audit reads the whole domain event log by sequence, checks every record's
// hash chain against the head the record holds (itsm.Verify), prints the
// count per kind, and shows that editing one entry is detected.
func (d *demo) audit(ctx context.Context) error {
	type key struct{ kind, id string }
	chains := map[key][]itsm.Event{}
	var order []key // first appearance in the log, so the output never depends on map order
	var after int64
	total := 0
	for {
		batch, err := d.store.ReadEvents(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			k := key{e.Kind, e.RecordID}
			if _, seen := chains[k]; !seen {
				order = append(order, k)
			}
			chains[k] = append(chains[k], e)
		}
		total += len(batch)
		after = batch[len(batch)-1].Seq
	}
	perKind := map[string]int{}
	for _, k := range order {
		head, err := d.head(ctx, k.kind, k.id)
		if err != nil {
			return err
		}
		if err := itsm.Verify(chains[k], head); err != nil {
			return err
		}
		perKind[k.kind] += len(chains[k])
	}
	kinds := make([]string, 0, len(perKind))
	for kind := range perKind {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	fmt.Fprintf(d.out, "%d events over %d records verified, every hash chain intact:\n", total, len(order))
	var parts []string
	for i, kind := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", kind, perKind[kind]))
		if len(parts) == 6 || i == len(kinds)-1 {
			fmt.Fprintf(d.out, "  %s\n", strings.Join(parts, ", "))
			parts = parts[:0]
		}
	}

	// Tampering with one entry of the major incident's history is detected.
	first := key{"incident", d.incidents[0]}
	events := append([]itsm.Event(nil), chains[first]...)
	events[2].Actor = "mallory"
	head, err := d.head(ctx, first.kind, first.id)
	if err != nil {
		return err
	}
	err = itsm.Verify(events, head)
	var ce *itsm.ChainError
	if !errors.As(err, &ce) {
		return fmt.Errorf("an edited entry went unnoticed: %v", err)
	}
	fmt.Fprintf(d.out, "after editing entry %d of %s: chain broken at entry %d (%s), ErrConflict %t\n",
		3, events[0].Number, ce.Index+1, ce.Problem, errors.Is(err, itsm.ErrConflict))
	return nil
}

// head reads the hash of a record's newest event from the stored document,
// whatever the kind.
func (d *demo) head(ctx context.Context, kind, id string) (string, error) {
	doc, err := d.store.Get(ctx, kind, id)
	if err != nil {
		return "", err
	}
	var rec itsm.Record
	if err := json.Unmarshal(doc.Data, &rec); err != nil {
		return "", fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return rec.Head, nil
}
