//go:build !unix

package design_test

import "time"

// cpuTime is unknown here: the per-CPU-second figure is left out.
func cpuTime() time.Duration { return 0 }
