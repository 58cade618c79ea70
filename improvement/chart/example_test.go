package chart_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pillars-itsm/pillars/improvement"
	"github.com/pillars-itsm/pillars/improvement/chart"
)

// ExampleSave draws a KPI result, here one a host stored as JSON and reads
// back, as bars and writes it as SVG.
func ExampleSave() {
	stored := `{"kpi":"mttr","unit":"hours","by":["priority"],"rows":[
		{"start":"2026-11-02T00:00:00Z","end":"2026-11-03T00:00:00Z","priority":2,"count":2,"mean":11700000000000,"value":3.25},
		{"start":"2026-11-02T00:00:00Z","end":"2026-11-03T00:00:00Z","priority":3,"count":1,"mean":8100000000000,"value":2.25}]}`
	res, err := improvement.ReadResultJSON(strings.NewReader(stored))
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, _ := os.MkdirTemp("", "kpi")
	defer os.RemoveAll(dir)
	err = chart.Save(filepath.Join(dir, "mttr.svg"), res, chart.Options{Title: "MTTR by priority"})
	fmt.Println("chart written:", err == nil)
	// Output:
	// chart written: true
}

// ExampleFormatValue writes KPI values as the charts label them.
func ExampleFormatValue() {
	fmt.Println(chart.FormatValue(improvement.UnitRatio, 0.95))
	fmt.Println(chart.FormatValue(improvement.UnitHours, 2.5))
	fmt.Println(chart.FormatValue(improvement.UnitCount, 12))
	// Output:
	// 95%
	// 2.5 h
	// 12
}
