//go:build unix

package design_test

import (
	"syscall"
	"time"
)

// cpuTime returns the user and system CPU time the process has used, so a
// benchmark on a shared machine can report throughput per CPU second as
// well as per wall second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
