package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app"
	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/query"
)

// DefaultLiveMaxStreams is how many events feeds may be open at once when
// Options.LiveMaxStreams is not set (LIVE_MAX_STREAMS' default).
const DefaultLiveMaxStreams = 1000

// pollChunk bounds the models one read of the hub asks for (two commands
// each, pipelined): a tick that watches thousands of models is a few round
// trips, none of them long enough to hold up Redis, and a model that cannot
// be read fails its own chunk's feeds only.
const pollChunk = 256

// LiveMetrics follows the events feeds (metrics.Live is the Prometheus
// one). Each method is called with the new value whenever it changes.
type LiveMetrics interface {
	// SetStreams is the number of events feeds open, over every feed route.
	SetStreams(n int)
	// SetWatched is the number of models the feeds' shared poll reads.
	SetWatched(n int)
}

type noLiveMetrics struct{}

func (noLiveMetrics) SetStreams(int) {}
func (noLiveMetrics) SetWatched(int) {}

// streams counts the open events feeds against their cap. A feed holds a
// goroutine, a connection and a share of every tick until its page goes
// away; the cap is what bounds them whatever the pages do.
type streams struct {
	max     int
	metrics LiveMetrics

	mu   sync.Mutex
	open int
}

// acquire takes a place for one feed; false when all are taken.
func (s *streams) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.max {
		return false
	}
	s.open++
	s.metrics.SetStreams(s.open) // under the lock, so the gauge never goes back in time
	return true
}

// release gives back the place acquire took.
func (s *streams) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	s.metrics.SetStreams(s.open)
}

// hub shares the store's polling among the open feeds: whatever the number
// of pages, each tick reads every watched model once, all of them in one
// pipelined read (pollChunk models per round trip), and hands each feed the
// new states of the models it follows.
//
// It belongs to the HTTP port, not to the app: pages, feeds and their cap
// are the port's business, and what the hub reads goes through the app's
// query (query.Models.Peek) like every other read, so the app stays a set
// of request-and-answer use cases with no goroutine of its own.
//
// One goroutine polls (run) while at least one feed is subscribed: the
// first subscription starts it, the last one to leave stops it, and done
// (the server shutting down) ends it for good. A subscriber is never
// waited for: it has a channel of one update, which a newer one replaces.
type hub struct {
	read    func(ctx context.Context, names ...string) ([]query.StoredModel, error)
	every   time.Duration
	done    <-chan struct{}
	log     *slog.Logger
	metrics LiveMetrics

	mu      sync.Mutex
	models  map[string]*watch
	stop    context.CancelFunc // the running poller's, nil when none runs
	polls   uint64             // polls started so far; numbers each one
	failing bool               // the last poll failed: an outage is logged once
}

// watch is one watched model: its subscribers and its last polled state.
type watch struct {
	subs  map[*subscription]struct{}
	state query.StoredModel
	err   error // the last poll's failure, nil when it read the model
	have  bool  // state or err comes from a poll
}

// subscription is one feed's interest in a few models (one, or the models
// of a comparison).
type subscription struct {
	names []string
	// from is the number of polls started before the feed subscribed. Their
	// reads may be older than the feed's own first read, so they are not
	// delivered to it: a page never goes back in time.
	from  uint64
	fresh bool // nothing delivered yet: the first poll after from is, changed or not
	c     chan update
}

// update is what a feed gets: the states of its models in its order, or
// the error that kept one of them from being read.
type update struct {
	states []query.StoredModel
	err    error
}

// newLive builds the cap and the hub of the feeds of a handler, from opts
// as NewHandler defaulted them.
func newLive(a app.Application, opts Options, log *slog.Logger) (*streams, *hub) {
	var m LiveMetrics = noLiveMetrics{}
	if opts.Live != nil {
		m = opts.Live
	}
	limit := opts.LiveMaxStreams
	if limit <= 0 {
		limit = DefaultLiveMaxStreams
	}
	m.SetStreams(0)
	m.SetWatched(0)
	read := func(ctx context.Context, names ...string) ([]query.StoredModel, error) {
		return a.Queries.Models.Peek(ctx, names...)
	}
	return &streams{max: limit, metrics: m}, newHub(read, opts.LivePoll, opts.Done, m, log)
}

func newHub(read func(ctx context.Context, names ...string) ([]query.StoredModel, error), every time.Duration,
	done <-chan struct{}, metrics LiveMetrics, log *slog.Logger) *hub {
	return &hub{read: read, every: every, done: done, metrics: metrics, log: log, models: map[string]*watch{}}
}

// subscribe follows names (distinct, checked) until unsubscribe; it starts
// the poller when none runs.
func (h *hub) subscribe(names []string) *subscription {
	s := &subscription{names: names, fresh: true, c: make(chan update, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	s.from = h.polls
	for _, n := range names {
		w := h.models[n]
		if w == nil {
			w = &watch{subs: map[*subscription]struct{}{}}
			h.models[n] = w
		}
		w.subs[s] = struct{}{}
	}
	h.metrics.SetWatched(len(h.models))
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		go h.run(ctx)
	}
	return s
}

// unsubscribe ends s; the last subscription to leave stops the poller.
func (h *hub) unsubscribe(s *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range s.names {
		w := h.models[n]
		if w == nil {
			continue
		}
		delete(w.subs, s)
		if len(w.subs) == 0 {
			delete(h.models, n)
		}
	}
	h.metrics.SetWatched(len(h.models))
	if len(h.models) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

// run polls every tick until ctx is cancelled (no subscriber left) or done
// is closed (shutdown; the feeds end on it too, and nothing restarts the
// poller since h.stop stays set).
func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-t.C:
			h.poll(ctx)
		}
	}
}

// poll reads every watched model and delivers what changed.
func (h *hub) poll(ctx context.Context) {
	h.mu.Lock()
	h.polls++
	k := h.polls
	names := make([]string, 0, len(h.models))
	for n := range h.models {
		names = append(names, n)
	}
	h.mu.Unlock()

	type chunk struct {
		names  []string
		states []query.StoredModel
		err    error
	}
	read := make([]chunk, 0, (len(names)+pollChunk-1)/pollChunk)
	for i := 0; i < len(names); i += pollChunk {
		c := chunk{names: names[i:min(i+pollChunk, len(names))]}
		c.states, c.err = h.read(ctx, c.names...)
		if c.err == nil && len(c.states) != len(c.names) {
			c.err = fmt.Errorf("live feeds: read %d models for %d names", len(c.states), len(c.names))
		}
		read = append(read, c)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if ctx.Err() != nil {
		return // stopped while reading: the watches are no longer this poller's
	}
	var failed error
	changed := map[*subscription]bool{}
	for _, c := range read {
		if c.err != nil && failed == nil {
			failed = c.err
		}
		for i, n := range c.names {
			w := h.models[n]
			if w == nil {
				continue // its last feed left during the read
			}
			var moved bool
			if c.err != nil {
				moved = !w.have || w.err == nil || w.err.Error() != c.err.Error()
				w.err = c.err
			} else {
				moved = !w.have || w.err != nil || w.state != c.states[i]
				w.state, w.err = c.states[i], nil
			}
			w.have = true
			for s := range w.subs {
				changed[s] = changed[s] || moved
			}
		}
	}
	switch {
	case failed != nil && !h.failing:
		h.log.WarnContext(ctx, "live feeds cannot read the models; they show an error until Redis answers", "models", len(names), "err", failed)
	case failed == nil && h.failing:
		h.log.InfoContext(ctx, "live feeds read the models again", "models", len(names))
	}
	h.failing = failed != nil

	for s, moved := range changed {
		if k <= s.from || !(moved || s.fresh) {
			continue
		}
		if u, ok := h.updateFor(s); ok {
			s.offer(u)
			s.fresh = false
		}
	}
}

// updateFor is s's models as last polled; false when one of them has not
// been polled yet. h.mu is held.
func (h *hub) updateFor(s *subscription) (update, bool) {
	u := update{states: make([]query.StoredModel, 0, len(s.names))}
	for _, n := range s.names {
		w := h.models[n]
		if w == nil || !w.have {
			return update{}, false
		}
		if w.err != nil {
			return update{err: w.err}, true
		}
		u.states = append(u.states, w.state)
	}
	return u, true
}

// offer hands u to the feed, replacing an update it has not taken yet. It
// never blocks: every send happens under the hub's lock, so after the drain
// the slot is free.
func (s *subscription) offer(u update) {
	select {
	case <-s.c:
	default:
	}
	s.c <- u
}
