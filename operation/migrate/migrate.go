// Package migrate reads the exports of the service desks hosts most often
// migrate from, ServiceNow and Jira Service Management, into the history
// operation.Desk.Import loads: ServiceNow's incident table with its history
// (one CSV row per update, each carrying the record's fields) and Jira
// Service Management's issue CSV export.
//
// A reader returns the incidents it could read and, as an
// operation.ImportErrors, every row it could not (an unparseable date, a
// missing key, a state the map lacks), each naming the record, the CSV
// line and the rule; an incident with a bad row is left out whole, so
// nothing is half-applied. Options returns the import options that go
// with the reader (its state map and source name), so a second run of the
// same export is recognised:
//
//	incs, err := migrate.ServiceNow{}.Read(file)      // err: the rows left out
//	rep, err := desk.Import(ctx, incs, migrate.ServiceNow{}.Options())
//
// Both readers map foreign states through a StateMap with documented
// defaults (ServiceNowStates, JSMStates) that a host copies and extends.
package migrate

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
	"github.com/pillars-itsm/pillars/operation"
)

// MaxInput bounds what a reader reads, in bytes.
const MaxInput = 1 << 30

// table is a CSV file read whole, with its header.
type table struct {
	cols  map[string][]int // lower-cased header -> column indexes, in order
	names []string
	rows  [][]string
	lines []int // the CSV line each row starts on
}

func readTable(r io.Reader) (*table, error) {
	if r == nil {
		return nil, itsm.Invalidf("migrate: nil reader")
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if len(data) > MaxInput {
		return nil, itsm.Invalidf("migrate: input larger than %d bytes", MaxInput)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, itsm.Invalidf("migrate: no CSV header: %v", err)
	}
	t := &table{cols: map[string][]int{}, names: header}
	for i, h := range header {
		k := strings.ToLower(strings.TrimSpace(h))
		t.cols[k] = append(t.cols[k], i)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, itsm.Invalidf("migrate: %v", err)
		}
		line, _ := cr.FieldPos(0)
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	return t, nil
}

// get returns the row's value of the first column named name ("" when
// absent), trimmed; "?" and "NULL", which exports write for no value, are
// "".
func (t *table) get(row []string, name string) string {
	idx := t.cols[name]
	if len(idx) == 0 || idx[0] >= len(row) {
		return ""
	}
	return clean(row[idx[0]])
}

func clean(v string) string {
	v = strings.TrimSpace(v)
	if v == "?" || strings.EqualFold(v, "null") {
		return ""
	}
	return v
}

func (t *table) has(name string) bool { return len(t.cols[name]) > 0 }

// alias reads column old as name when the export has no name column.
func (t *table) alias(name, old string) {
	if !t.has(name) && t.has(old) {
		t.cols[name] = t.cols[old]
	}
}

// rowError is one CSV row that could not be read.
func rowError(record string, line int, rule, format string, args ...any) *operation.ImportError {
	err := itsm.Invalidf(format, args...)
	return &operation.ImportError{Record: record, Row: line, Rule: rule, Reason: err.Error(), Err: err}
}

// DefaultTimeLayouts returns the layouts a reader tries, in order, for a
// time without a zone (read in the reader's Location): ServiceNow's default
// "2006-01-02 15:04:05", RFC 3339, Jira's "02/Jan/06 3:04 PM", and
// day-first "2/1/2006 15:04" as public ServiceNow event logs write it. A
// host with month-first dates sets its own. Each call returns a new slice,
// so a host may extend it without changing anyone else's defaults.
func DefaultTimeLayouts() []string {
	return []string{
		"2006-01-02 15:04:05", time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04:05",
		"02/Jan/06 3:04 PM", "2/Jan/06 3:04 PM", "02/Jan/2006 3:04 PM", "02/Jan/06 15:04",
		"2/1/2006 15:04:05", "2/1/2006 15:04",
	}
}

func parseTime(v string, layouts []string, loc *time.Location) (time.Time, bool) {
	if layouts == nil {
		layouts = DefaultTimeLayouts()
	}
	if loc == nil {
		loc = time.UTC
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// leadingInt reads "2 - Medium" or "2" as 2; 0 when there is no number.
func leadingInt(v string) int {
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil || n > 1000 {
		return 0
	}
	return n
}

// identifier turns a foreign code into a lower-case identifier
// ("Solved (Permanently)" -> "solved_permanently").
func identifier(v string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(v) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
		} else {
			under = true
		}
	}
	return b.String()
}
