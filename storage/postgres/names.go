package postgres

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/storage"
)

// Names in the database. Kinds, fields and sequence names are checked by
// storage.ValidName (lower-case letters, digits and underscores, starting
// with a letter, at most 63 bytes), so every object Pillars creates for
// itself starts with an underscore and can never collide with a kind's
// table. Every identifier is still quoted when it is put into SQL.

// quoteIdent returns s as a quoted SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// maxIdent is PostgreSQL's identifier limit (NAMEDATALEN-1); longer names
// are silently truncated by the server, so we never build one.
const maxIdent = 63

// systemColumns are PostgreSQL's system column names, which a table may not
// use for its own columns.
var systemColumns = map[string]bool{
	"tableoid": true, "xmin": true, "cmin": true, "xmax": true, "cmax": true, "ctid": true, "oid": true,
}

// columnName returns the column of an indexed field: the field's own name,
// or the name with a leading underscore for the few names PostgreSQL
// reserves for system columns. Fields never start with an underscore, so
// the mapping is one to one and cannot meet the internal columns _version
// and _data.
func columnName(field string) string {
	if systemColumns[field] {
		return "_" + field
	}
	return field
}

// hashName returns a short, stable, collision-resistant name for an object
// derived from parts: prefix, up to keep bytes of the readable stem, and a
// 64-bit hash of every part. The result is at most maxIdent bytes.
func hashName(prefix, stem string, parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	keep := maxIdent - len(prefix) - 1 - 16
	if len(stem) > keep {
		stem = stem[:keep]
	}
	return fmt.Sprintf("%s%s_%016x", prefix, stem, h.Sum64())
}

// indexName names the index on (fields..., id) of a kind. The name depends
// on the field list, so redeclaring an index with other fields creates a new
// index rather than keeping a stale one under the old name.
func indexName(kind, purpose string, fields []string) string {
	return hashName("_", kind, append([]string{kind, purpose}, fields...)...)
}

// numberIndexName names the unique index on a kind's human numbers, per
// tenant. (Before tenancy it was purpose "unique" on the number alone;
// Register drops that one.)
func numberIndexName(kind string) string {
	return indexName(kind, "tenant unique", []string{storage.NumberField})
}

// sequenceName names the native sequence behind a tenant's number
// sequence. The default tenant's keep the names they had before tenancy
// (_seq_<name>), so existing sequences go on where they were; every other
// tenant's are _tseq_<stem>_<hash of tenant and name>, a prefix the default
// tenant's never take.
func sequenceName(tenant, name string) string {
	if tenant != itsm.DefaultTenant {
		return hashName("_tseq_", tenant+"_"+name, tenant, name)
	}
	if len("_seq_")+len(name) <= maxIdent {
		return "_seq_" + name
	}
	return hashName("_seq_", name, name)
}

// advisoryKey returns the bigint key of one of the store's advisory locks,
// scoped to the namespace so that stores in other schemas never wait on it.
func advisoryKey(schema, purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("pillars\x00" + schema + "\x00" + purpose))
	return int64(h.Sum64())
}

// fieldNames lists the names of a schema's fields.
func fieldNames(s storage.Schema) []string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	return names
}
