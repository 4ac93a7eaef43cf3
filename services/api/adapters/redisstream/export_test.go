package redisstream

// Waiting is how many requests wait for their XADD: queued, or in the round
// trip in flight. Tests poll it to know the writer is stuck or drained.
func (p *Publisher) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.inFlight
	for _, b := range p.queue {
		n += len(b.entries)
	}
	return n
}

// WaitTimeout is waitTimeout, for its table test.
var WaitTimeout = waitTimeout
