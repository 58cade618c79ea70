package calendar_test

import (
	"fmt"
	"time"

	"github.com/pillars-itsm/pillars/design/calendar"
)

// A London office calendar with a lunch break and the UK bank holidays:
// four working hours from Christmas Eve afternoon end on the 29th.
func Example() {
	c, err := calendar.Parse([]byte(`{
		"name": "london-office", "time_zone": "Europe/London",
		"hours": {"mon": ["09:00-12:30", "13:30-17:30"], "tue": ["09:00-12:30", "13:30-17:30"],
		          "wed": ["09:00-12:30", "13:30-17:30"], "thu": ["09:00-12:30", "13:30-17:30"],
		          "fri": ["09:00-12:30", "13:30-17:30"]},
		"holiday_sets": ["gb"]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 12, 24, 15, 0, 0, 0, time.UTC)
	due, _ := c.Add(start, 4*time.Hour)
	fmt.Println("due:", due.In(c.Location()).Format("Mon 2 Jan 15:04"))
	worked, _ := c.Between(start, due)
	fmt.Println("worked:", worked)
	// Output:
	// due: Tue 29 Dec 10:30
	// worked: 4h0m0s
}
