package command

// KnownLen is how many names m remembers as existing.
func (m *Models) KnownLen() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.known)
}
