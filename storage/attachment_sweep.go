package storage

// This file holds the sweeper of attachment content no record names.
// Attachments.Add writes the blob first and the metadata record after, and
// Remove moves the record to removed before it deletes the blob: a crash
// between the two writes, or a blob store that fails the delete, leaves
// content behind that no record lists. Sweep finds and deletes it.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/pillars-itsm/pillars/itsm"
)

// BlobLister is the optional capability of a BlobStore that lists its
// keys, which Attachments.Sweep needs. ListBlobs calls fn with each key of
// the context's tenant, in no particular order; an error from fn stops the
// walk and is returned. DirBlobStore and DocBlobStore implement it.
type BlobLister interface {
	ListBlobs(ctx context.Context, fn func(key string) error) error
}

// ActionSweepAttachments is what an actor needs on KindAttachment to run
// Attachments.Sweep.
const ActionSweepAttachments = "sweep"

// DefaultSweepGrace is how old content must be before Sweep deletes it
// when no grace is given: an Add still between its two writes is never
// that slow.
const DefaultSweepGrace = time.Hour

// SweepReport counts what one Sweep found.
type SweepReport struct {
	Listed  int // keys the blob store listed
	Kept    int // content of a stored attachment
	Young   int // no stored attachment, but written within the grace
	Undated int // no stored attachment and a key that carries no time: left alone
	// Deleted are the keys whose content was deleted: no attachment record
	// names them, or their record was removed.
	Deleted []string
}

// Sweep deletes the content of the context's tenant that no stored
// attachment names: content whose metadata write never happened, and
// content a removal could not delete. Content younger than grace
// (DefaultSweepGrace when grace is 0) is left alone, so an Add running at
// the same time keeps its blob. Attachments.Add keys content by a
// version-7 UUID, whose first 48 bits are the time it was made; a key of
// another version has no time and is never swept. The records are not
// touched: a removed attachment's record and events stay as its audit
// trail, and content no record names had none.
//
// The actor needs ActionSweepAttachments on KindAttachment (under
// itsm.DefaultAuthorizer the admin, agent, system and importer roles hold
// it; sweeping deletes only content no stored attachment names). A blob store
// without BlobLister is an ErrInvalid. Sweep may be run again after an
// error: what it deleted stays deleted, the rest is found again.
func (a *Attachments) Sweep(ctx context.Context, grace time.Duration) (SweepReport, error) {
	var rep SweepReport
	if ctx == nil {
		return rep, itsm.Invalidf("attachments: nil context")
	}
	if grace < 0 {
		return rep, itsm.Invalidf("attachments: sweep grace %s is negative", grace)
	}
	if grace == 0 {
		grace = DefaultSweepGrace
	}
	if _, err := TenantOf(ctx, false); err != nil {
		return rep, err
	}
	lister, ok := a.blobs.(BlobLister)
	if !ok {
		return rep, itsm.Invalidf("attachments: the blob store %T cannot list its content to sweep it", a.blobs)
	}
	if err := itsm.Authorize(ctx, a.authz, KindAttachment, ActionSweepAttachments, nil); err != nil {
		return rep, err
	}
	var keys []string
	if err := lister.ListBlobs(ctx, func(key string) error {
		keys = append(keys, key)
		return nil
	}); err != nil {
		return rep, err
	}
	rep.Listed = len(keys)
	cutoff := a.clock.Now().Add(-grace)
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		made, dated := keyTime(key)
		doc, err := a.recs.Backend().Get(ctx, KindAttachment, key)
		switch {
		case err == nil:
			att, err := a.recs.coll.Decode(doc)
			if err != nil {
				return rep, fmt.Errorf("attachments: record %s: %w", key, err)
			}
			if att.State != AttachmentRemoved {
				rep.Kept++
				continue
			}
		case !errors.Is(err, itsm.ErrNotFound):
			return rep, err
		}
		switch {
		case !dated:
			rep.Undated++
			continue
		case made.After(cutoff):
			rep.Young++
			continue
		}
		if err := a.blobs.DeleteBlob(ctx, key); err != nil {
			return rep, fmt.Errorf("attachments: sweeping %s: %w", key, err)
		}
		rep.Deleted = append(rep.Deleted, key)
	}
	return rep, nil
}

// keyTime is the time a version-7 UUID key was made.
func keyTime(key string) (time.Time, bool) {
	u, err := uuid.Parse(key)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	ms := int64(binary.BigEndian.Uint64(u[:8]) >> 16)
	return time.UnixMilli(ms).UTC(), true
}

// ListBlobs implements BlobLister: the keys are the file names of the
// tenant's directory. Temporary files of a PutBlob cut short are not
// listed.
func (d *DirBlobStore) ListBlobs(ctx context.Context, fn func(key string) error) error {
	if ctx == nil || fn == nil {
		return itsm.Invalidf("blobs: nil context or function")
	}
	tenant, err := TenantOf(ctx, false)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(d.dir, tenant))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && itsm.ValidID(e.Name()) {
			if err := fn(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListBlobs implements BlobLister: the keys are the head documents of
// KindBlob (chunk documents carry version-8 ids and are not listed).
func (d *DocBlobStore) ListBlobs(ctx context.Context, fn func(key string) error) error {
	if ctx == nil || fn == nil {
		return itsm.Invalidf("blobs: nil context or function")
	}
	q := Query{Kind: KindBlob, Limit: MaxLimit}
	for {
		page, err := d.b.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, doc := range page.Docs {
			if u, err := uuid.Parse(doc.ID); err == nil && u.Version() == 8 {
				continue
			}
			if err := fn(doc.ID); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}
