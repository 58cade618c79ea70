package telemetry_test

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread alone.
const rusageThread = 1

// threadCPUNow returns the CPU time the calling thread has used: with the
// goroutine locked to its thread, the benchmark's own work, GC assists
// included and the collector's background workers not.
func threadCPUNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
