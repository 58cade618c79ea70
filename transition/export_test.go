package transition

// SetBaselinePartItems lowers the items per baseline part for a test, so
// small baselines are stored in parts; it returns the function restoring it.
func SetBaselinePartItems(n int) (restore func()) {
	old := partItems
	partItems = n
	return func() { partItems = old }
}
