//go:build !linux

package telemetry_test

import "time"

// threadCPUNow is 0 where a thread's CPU time is not read.
func threadCPUNow() time.Duration { return 0 }
