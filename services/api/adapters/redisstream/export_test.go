package redisstream

// Waiting is how many requests wait for their XADD: queued, or in the round
// trip in flight. Tests poll it to know the writer is stuck or drained.
func (p *Publisher) Waiting() int { return len(p.queue) + int(p.inFlight.Load()) }
