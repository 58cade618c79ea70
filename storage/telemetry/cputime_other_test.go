//go:build !unix

package telemetry_test

import "time"

// cpuNow is 0 where the process's CPU time is not read.
func cpuNow() time.Duration { return 0 }
