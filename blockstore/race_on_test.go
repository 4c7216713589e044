//go:build race

package blockstore

// raceEnabled is true under the race detector, which makes sync.Pool drop
// items at random, so allocation measurements mean nothing.
const raceEnabled = true
