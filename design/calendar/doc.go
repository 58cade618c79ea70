// Package calendar computes business time: working hours per weekday
// (several ranges a day), an IANA time zone, holidays (fixed dates and sets
// from github.com/rickar/cal/v2), and one-off closures.
//
// A Config (or its JSON form, Spec, read by Parse) is compiled once by
// Compile into an immutable Calendar. The compiled form is the sorted list of
// working intervals in UTC over a horizon of years with a prefix sum of
// working seconds, built one zone period (constant UTC offset) at a time, so
//
//   - Add(start, d) — the instant d of working time after start — and
//   - Between(start, end) — the working time elapsed between two instants —
//
// are two binary searches with no allocation, and exact over daylight-saving
// changes, midnight, year ends and leap days. Working time is defined by
// the local wall clock: an instant is working when its wall-clock reading
// on a non-holiday date falls in one of that weekday's ranges and no closure
// covers it.
package calendar
