package improvement

// StateOf exposes the engine's state to the tests, which compare engines fed
// differently.
func StateOf(e *Engine) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}
