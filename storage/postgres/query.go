package postgres

import (
	"strconv"
	"strings"

	"github.com/pillars-itsm/pillars/storage"
)

// buildQuery turns a checked plan into one SELECT with parameters for every
// value: the plan's tenant (storage.Schema.CheckQueryFor) and filters in the WHERE clause, keyset pagination after the cursor,
// ORDER BY the sort fields then id, and LIMIT one more than the page so the
// caller knows whether a next page exists. Column names come from the
// registered schema (validated names, quoted); no value is ever put into the
// SQL text.
func buildQuery(ki *kindInfo, p storage.Plan) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, len(p.Filters)+len(p.SortFields)+3)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(ki.selectSQL)
	// Every index leads with the tenant, so the equality on it is the first
	// key of whichever index serves the query.
	conds := []string{"tenant = " + arg(p.Tenant)}
	for i, f := range p.Filters {
		fi := p.FilterFields[i]
		col := ki.cols[fi]
		if f.Op == storage.OpIn {
			conds = append(conds, col+" = ANY ("+arg(inArray(ki.schema.Fields[fi].Type, f.Values))+")")
			continue
		}
		conds = append(conds, col+" "+f.Op.String()+" "+arg(f.Values[0].Any()))
	}
	if p.AfterSet {
		conds = append(conds, keyset(ki, p, arg))
	}
	b.WriteString(" WHERE ")
	b.WriteString(strings.Join(conds, " AND "))
	b.WriteString(" ORDER BY ")
	for i, fi := range p.SortFields {
		b.WriteString(ki.cols[fi])
		if p.Sort[i].Desc {
			b.WriteString(" DESC")
		}
		b.WriteString(", ")
	}
	b.WriteString("id LIMIT ")
	b.WriteString(strconv.Itoa(p.Limit + 1))
	return b.String(), args
}

// keyset returns the condition "comes after the cursor" in the plan's order.
// The longest run of ascending sort fields at the end, with the id that
// breaks ties (always ascending), is one row comparison, which the btree
// uses as a start key: (a, b, id) > ($1, $2, $3). Fields before that run are
// expanded one by one, for example with a descending:
//
//	a <= $1 AND (a < $1 OR (a = $1 AND (b, id) > ($2, $3)))
//
// led by the bound "a <= $1" (">=" for an ascending first field) so the
// index range still starts at the cursor.
func keyset(ki *kindInfo, p storage.Plan, arg func(any) string) string {
	vals := make([]string, len(p.SortFields))
	for i, v := range p.After {
		vals[i] = arg(v.Any())
	}
	idArg := arg(p.AfterID)
	tail := len(p.SortFields)
	for tail > 0 && !p.Sort[tail-1].Desc {
		tail--
	}
	cols := []string{}
	for _, fi := range p.SortFields[tail:] {
		cols = append(cols, ki.cols[fi])
	}
	expr := "id > " + idArg
	if len(cols) > 0 {
		expr = "(" + strings.Join(cols, ", ") + ", id) > (" + strings.Join(vals[tail:], ", ") + ", " + idArg + ")"
	}
	if tail == 0 {
		return expr
	}
	for i := tail - 1; i >= 0; i-- {
		col, op := ki.cols[p.SortFields[i]], " > "
		if p.Sort[i].Desc {
			op = " < "
		}
		expr = col + op + vals[i] + " OR (" + col + " = " + vals[i] + " AND (" + expr + "))"
	}
	lead, op := ki.cols[p.SortFields[0]], " >= "
	if p.Sort[0].Desc {
		op = " <= "
	}
	return lead + op + vals[0] + " AND (" + expr + ")"
}

// inArray returns the values of an In filter as a typed array parameter.
func inArray(t storage.FieldType, vs []storage.Value) any {
	if t == storage.TypeString {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = v.Str()
		}
		return out
	}
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = v.Int64()
	}
	return out
}
