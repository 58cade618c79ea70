//go:build unix

package telemetry_test

import (
	"syscall"
	"time"
)

// cpuNow returns the CPU time (user and system) the process has used: a
// benchmark's figure that waits on nobody, where a shared machine makes
// wall time swing.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
