//go:build race

package processor

// raceEnabled scales the soak test down under the race detector, which
// makes each record ~10x slower; the full size runs without -race.
const raceEnabled = true
