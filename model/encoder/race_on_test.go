//go:build race

package encoder

// raceEnabled shortens the long-running tests under the race detector,
// which slows the Go side of every call about tenfold.
const raceEnabled = true
