//go:build unix

package storagetest

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, user and system: on a
// loaded machine, CPU per query says more than wall time per query.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
