//go:build unix

package httpapi_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used so far (user and
// system): what a benchmark on a busy machine can still compare, where
// wall time also counts the other processes' turns.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
