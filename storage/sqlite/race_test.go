//go:build race

package sqlite

// raceEnabled shrinks the data of the heaviest tests: the race detector
// slows the transpiled SQLite by two orders of magnitude.
const raceEnabled = true
