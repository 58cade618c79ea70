package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// docScanner reads document rows of one kind (the columns of kind.cols)
// into reused destinations.
type docScanner struct {
	k    *kind
	id   string
	ver  int64
	data []byte
	strs []string
	ints []int64
	dest []any
}

func newDocScanner(k *kind) *docScanner {
	n := len(k.schema.Fields)
	ds := &docScanner{k: k, strs: make([]string, n), ints: make([]int64, n)}
	ds.dest = append(make([]any, 0, 4+n), &ds.id, &ds.ver, &ds.data)
	for i, f := range k.schema.Fields {
		if f.Type == storage.TypeString {
			ds.dest = append(ds.dest, &ds.strs[i])
		} else {
			ds.dest = append(ds.dest, &ds.ints[i])
		}
	}
	return ds
}

// scan decodes the current row of rows. Every Scan error is a conversion
// error: a row that does not decode (a value of the wrong type written
// behind the store's back, a version below 1) is an error naming the record,
// never a panic.
func (ds *docScanner) scan(rows *sql.Rows) (storage.Document, error) {
	ds.id, ds.data = "", nil
	if err := rows.Scan(ds.dest...); err != nil {
		return storage.Document{}, &corruptError{What: ds.k.schema.Kind + " " + ds.id, Err: err}
	}
	if ds.ver < 1 {
		return storage.Document{}, &corruptError{What: ds.k.schema.Kind + " " + ds.id, Err: fmt.Errorf("version %d", ds.ver)}
	}
	d := storage.Document{Kind: ds.k.schema.Kind, ID: ds.id, Version: ds.ver, Data: ds.data,
		Fields: make([]storage.Value, len(ds.k.schema.Fields))}
	for i, f := range ds.k.schema.Fields {
		switch f.Type {
		case storage.TypeString:
			d.Fields[i] = storage.String(ds.strs[i])
		case storage.TypeInt:
			d.Fields[i] = storage.Int(ds.ints[i])
		default:
			d.Fields[i] = storage.TimeMicros(ds.ints[i])
		}
	}
	return d, nil
}

// Get returns the committed document of kind with id, read through the
// reader pool, or an error matching ErrNotFound; a document of another
// tenant than ctx's is not found.
func (s *Store) Get(ctx context.Context, kindName, id string) (storage.Document, error) {
	ctx = orBackground(ctx)
	if err := s.check(); err != nil {
		return storage.Document{}, err
	}
	tenant, err := s.tenant(ctx)
	if err != nil {
		return storage.Document{}, err
	}
	k, err := s.lookup(ctx, kindName)
	if err != nil {
		return storage.Document{}, err
	}
	rs, err := s.readStmt(ctx, k.getSQL)
	if err != nil {
		return storage.Document{}, s.fail("get "+kindName+" "+id, err)
	}
	defer s.releaseRead(rs)
	rows, err := rs.st.QueryContext(ctx, id, tenant)
	return s.getRow(k, id, rows, err)
}

// getRow reads the single row of a get by id.
func (s *Store) getRow(k *kind, id string, rows *sql.Rows, err error) (storage.Document, error) {
	if err != nil {
		return storage.Document{}, s.fail("get "+k.schema.Kind+" "+id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return storage.Document{}, s.fail("get "+k.schema.Kind+" "+id, err)
		}
		return storage.Document{}, &itsm.NotFoundError{Kind: k.schema.Kind, ID: id}
	}
	d, err := newDocScanner(k).scan(rows)
	if err != nil {
		return storage.Document{}, err
	}
	if err := rows.Close(); err != nil {
		return storage.Document{}, s.fail("get "+k.schema.Kind+" "+id, err)
	}
	return d, nil
}
