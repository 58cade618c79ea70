package improvement

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pillars-itsm/pillars/itsm"
)

// Summary is the KPI table of a range: every KPI, unsliced, over [From, To).
type Summary struct {
	From  time.Time     `json:"from"`
	To    time.Time     `json:"to"`
	Lines []SummaryLine `json:"lines"`
}

// SummaryLine is one KPI of a Summary. A KPI without measurements in the
// range has Count 0 and Value 0.
type SummaryLine struct {
	KPI   KPI     `json:"kpi"`
	Unit  Unit    `json:"unit"`
	Count int64   `json:"count"`
	Hits  int64   `json:"hits,omitempty"`
	Value float64 `json:"value"`
}

// Summary computes every KPI over [from, to), unsliced (zero times are
// unbounded, as in Query). MTTRBusiness is left out when the engine has no
// calendar. The backlog lines read the whole backlog at the end of the
// range.
func (e *Engine) Summary(from, to time.Time) (Summary, error) {
	s := Summary{From: from, To: to, Lines: []SummaryLine{}}
	for _, k := range KPIs() {
		if k == MTTRBusiness && e.cfg.Calendar == nil {
			continue
		}
		res, err := e.Compute(Query{KPI: k, From: from, To: to})
		if err != nil {
			return Summary{}, err
		}
		line := SummaryLine{KPI: k, Unit: k.Unit()}
		if len(res.Rows) == 1 {
			r := res.Rows[0]
			line.Count, line.Hits, line.Value = r.Count, r.Hits, r.Value
		}
		s.Lines = append(s.Lines, line)
	}
	return s, nil
}

// Line returns the summary line of a KPI and whether it is there.
func (s Summary) Line(k KPI) (SummaryLine, bool) {
	for _, l := range s.Lines {
		if l.KPI == k {
			return l, true
		}
	}
	return SummaryLine{}, false
}

// Format renders the value in its unit for people: "3.75 h", "50.0 %", "12".
func (l SummaryLine) Format() string {
	if l.Count == 0 {
		return "-"
	}
	return formatValue(l.Unit, l.Value)
}

func formatValue(u Unit, v float64) string {
	switch u {
	case UnitHours:
		return strconv.FormatFloat(v, 'f', 2, 64) + " h"
	case UnitRatio:
		return strconv.FormatFloat(v*100, 'f', 1, 64) + " %"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// WriteText writes the summary as an aligned text table.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KPI\tvalue\tmeasured")
	for _, l := range s.Lines {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", l.KPI, l.Format(), l.Count)
	}
	return tw.Flush()
}

// WriteCSV writes the summary as CSV: kpi, unit, count, hits, value.
func (s Summary) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"kpi", "unit", "count", "hits", "value"})
	for _, l := range s.Lines {
		_ = cw.Write([]string{string(l.KPI), string(l.Unit), strconv.FormatInt(l.Count, 10),
			strconv.FormatInt(l.Hits, 10), strconv.FormatFloat(l.Value, 'g', -1, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error { return writeJSON(w, s) }

// WriteJSON writes the result as indented JSON.
func (r Result) WriteJSON(w io.Writer) error { return writeJSON(w, r) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteCSV writes the result as CSV: start and end dates, the slice columns
// the result is broken down by, count, hits, mean (seconds) and value.
func (r Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"start", "end"}
	for _, d := range r.By {
		head = append(head, string(d))
	}
	_ = cw.Write(append(head, "count", "hits", "mean_seconds", "value"))
	for _, row := range r.Rows {
		line := []string{row.Start.Format(time.DateOnly), row.End.Format(time.DateOnly)}
		for _, d := range r.By {
			line = append(line, row.slice(d))
		}
		line = append(line, strconv.FormatInt(row.Count, 10), strconv.FormatInt(row.Hits, 10),
			strconv.FormatFloat(row.Mean.Seconds(), 'f', -1, 64), strconv.FormatFloat(row.Value, 'g', -1, 64))
		_ = cw.Write(line)
	}
	cw.Flush()
	return cw.Error()
}

func (row Row) slice(d Dimension) string {
	switch d {
	case ByService:
		return row.Service
	case ByGroup:
		return row.Group
	case ByPriority:
		return strconv.Itoa(row.Priority)
	}
	return ""
}

// ReadResultJSON decodes a Result written by WriteJSON and checks it: a
// known KPI whose unit matches, known slices, a known period, rows with
// ordered periods and non-negative counts. It is how a host reads back a
// stored report; bad input is ErrInvalid.
func ReadResultJSON(r io.Reader) (Result, error) {
	var res Result
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return Result{}, itsm.Invalidf("kpi result: %v", err)
	}
	q := Query{KPI: res.KPI, By: res.By, Period: res.Period}
	if err := q.Check(); err != nil {
		return Result{}, err
	}
	if res.Unit != res.KPI.Unit() {
		return Result{}, itsm.Invalidf("kpi result %s: unit %q, want %q", res.KPI, res.Unit, res.KPI.Unit())
	}
	for i, row := range res.Rows {
		if row.Count < 0 || row.Hits < 0 || row.Hits > row.Count || row.Mean < 0 || row.Priority < 0 || !row.Start.Before(row.End) {
			return Result{}, itsm.Invalidf("kpi result %s: row %d is inconsistent", res.KPI, i+1)
		}
	}
	if res.Rows == nil {
		res.Rows = []Row{}
	}
	return res, nil
}
