package stream

import (
	"context"
	"errors"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// The lease: one document per consumer (ConsumerKind) holds the checkpoint,
// the instance that owns the consumer and until when. Every write of it is
// optimistic (the version read is the version expected), and the owner and
// version are compared in the unit that writes, so an instance whose lease
// ran out and was taken over never moves the checkpoint.

// claim reads the consumer's document and takes or renews the lease when
// this instance does not hold it for at least half a Lease more.
func (c *Consumer) claim(ctx context.Context) (consumerDoc, error) {
	dctx := c.docCtx(ctx)
	now := c.cfg.Clock.Now()
	d, err := c.docs.Get(dctx, c.b, c.id)
	fresh := errors.Is(err, itsm.ErrNotFound)
	if err != nil && !fresh {
		return consumerDoc{}, err
	}
	if fresh {
		d = &consumerDoc{Record: itsm.Record{ID: c.id}, Name: c.cfg.Name, Seq: c.cfg.From}
	}
	c.mu.Lock()
	mine := !fresh && c.have && d.Owner == c.cfg.Instance && d.Version == c.cur.Version
	if mine && d.Until.Sub(now) > c.cfg.Lease/2 {
		c.cur = *d
		c.stats.Checkpoint, c.stats.Holder = d.Seq, true
		c.mu.Unlock()
		return *d, nil
	}
	c.mu.Unlock()
	if !fresh && d.Owner != "" && d.Owner != c.cfg.Instance && now.Before(d.Until) {
		c.mu.Lock()
		c.have, c.stats.Holder, c.stats.Checkpoint = false, false, d.Seq
		c.mu.Unlock()
		return consumerDoc{}, ErrLeased
	}
	took := d.Owner != c.cfg.Instance || !mine
	d.Owner, d.Until = c.cfg.Instance, now.Add(c.cfg.Lease)
	err = c.b.Update(dctx, func(tx storage.Tx) error { return c.docs.Put(dctx, tx, d) })
	if errors.Is(err, itsm.ErrConflict) {
		return consumerDoc{}, ErrLeased // another instance claimed it meanwhile
	}
	if err != nil {
		return consumerDoc{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.have = *d, true
	c.stats.Checkpoint, c.stats.Holder = d.Seq, true
	if took {
		c.stats.Takeovers++
	}
	return *d, nil
}

// renew extends the lease this instance holds; ErrLeaseLost when it holds
// it no more.
func (c *Consumer) renew(ctx context.Context) error {
	return c.writeDoc(ctx, func(context.Context, storage.Tx, *consumerDoc) error { return nil })
}

// ack moves the checkpoint past evs, if this instance still holds the
// lease it claimed.
func (c *Consumer) ack(ctx context.Context, evs []itsm.Event) error {
	return c.writeDoc(ctx, func(_ context.Context, _ storage.Tx, d *consumerDoc) error {
		d.Seq = evs[len(evs)-1].Seq
		return nil
	})
}

// writeDoc writes the consumer's document in one unit of work, after fn
// changed it, when it is still the version this instance last wrote or
// read under its lease: the owner and version are compared in the unit
// that writes, so an instance that lost its lease never moves the
// checkpoint. The lease is extended by the same write.
func (c *Consumer) writeDoc(ctx context.Context, fn func(context.Context, storage.Tx, *consumerDoc) error) error {
	c.mu.Lock()
	held, have := c.cur, c.have
	c.mu.Unlock()
	if !have {
		return ErrLeaseLost
	}
	dctx := c.docCtx(ctx)
	var out consumerDoc
	err := c.b.Update(dctx, func(tx storage.Tx) error {
		d, err := c.docs.Get(dctx, tx, c.id)
		if errors.Is(err, itsm.ErrNotFound) {
			return ErrLeaseLost
		}
		if err != nil {
			return err
		}
		if d.Owner != c.cfg.Instance || d.Version != held.Version || d.Seq != held.Seq {
			return ErrLeaseLost
		}
		if err := fn(dctx, tx, d); err != nil {
			return err
		}
		d.Until = c.cfg.Clock.Now().Add(c.cfg.Lease)
		if err := c.docs.Put(dctx, tx, d); err != nil {
			if errors.Is(err, itsm.ErrConflict) {
				return ErrLeaseLost
			}
			return err
		}
		out = *d
		return nil
	})
	if ce := (*itsm.ConflictError)(nil); errors.As(err, &ce) && ce.Kind == ConsumerKind {
		err = ErrLeaseLost // the document moved after this unit read it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.cur = out
		c.stats.Checkpoint = out.Seq
	case errors.Is(err, ErrLeaseLost):
		c.have, c.stats.Holder = false, false
	}
	return err
}

// release gives the lease up, if this instance still holds it.
func (c *Consumer) release(ctx context.Context) {
	c.run.Lock()
	defer c.run.Unlock()
	_ = c.writeDoc(ctx, func(_ context.Context, _ storage.Tx, d *consumerDoc) error {
		d.Owner = ""
		return nil
	})
	c.mu.Lock()
	c.have, c.stats.Holder = false, false
	c.mu.Unlock()
}
