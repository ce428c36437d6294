//go:build !unix

package processor

import "time"

func processCPU() time.Duration { return 0 }
