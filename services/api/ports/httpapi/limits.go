package httpapi

import (
	"container/list"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

// Limits bound what one client can ask of the api.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted; a larger one gets
	// 413 before any handler runs. The largest body an endpoint takes is a
	// small JSON object (POST /models/{name}/observations, PUT
	// /models/{name}), so the limit only needs to cover that many times
	// over. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int
	// RatePerSecond is the sustained requests per second allowed to one
	// client IP; zero turns rate limiting off. Burst is how many it may send
	// at once after being idle (a token bucket); zero means RatePerSecond.
	RatePerSecond int
	Burst         int
}

// DefaultMaxBodyBytes is the body limit when Limits.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 4 << 10

// maxTrackedClients bounds the rate limiter's memory whatever the number of
// distinct client addresses; past it the least recently seen client is
// forgotten, which can only make the limit more lenient for that client.
const maxTrackedClients = 16384

// rateLimit returns the middleware answering 429 with Retry-After to a
// client over its budget, or nil when l turns rate limiting off. A path
// for which unlimited is true (the route table's probes and scrape) is
// never limited.
//
// Not gofiber's limiter middleware: its clock ticks once a second, it
// counts whole-second windows (a fixed window lets 2×Max through around a
// window boundary; the sliding one estimates), it has no notion of burst,
// and its in-memory store is bounded only by expiry and runs a collector
// goroutine per middleware that is never stopped. A token bucket per client
// (golang.org/x/time/rate) gives exactly RATE_LIMIT/s with RATE_LIMIT_BURST,
// and the exact time until the next request would be allowed.
func rateLimit(l Limits, unlimited func(path string) bool) fiber.Handler {
	if l.RatePerSecond <= 0 {
		return nil
	}
	cl := newClientLimiter(l.RatePerSecond, l.Burst, maxTrackedClients)
	return func(c *fiber.Ctx) error {
		if unlimited(c.Path()) {
			return c.Next()
		}
		wait := cl.reserve(c.IP(), time.Now())
		if wait <= 0 {
			return c.Next()
		}
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds(wait)))
		return fiber.NewError(fiber.StatusTooManyRequests, "too many requests: retry after "+strconv.Itoa(retryAfterSeconds(wait))+"s")
	}
}

// retryAfterSeconds rounds up: Retry-After has whole seconds, and a client
// that waits what it was told must not be turned away again.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// clientLimiter is one token bucket per client key, in a bounded LRU.
type clientLimiter struct {
	limit rate.Limit
	burst int
	cap   int

	mu      sync.Mutex
	order   *list.List // front: most recently seen; values are *clientBucket
	buckets map[string]*list.Element
}

type clientBucket struct {
	key string
	lim *rate.Limiter
}

func newClientLimiter(perSecond, burst, capacity int) *clientLimiter {
	if burst <= 0 {
		burst = perSecond
	}
	return &clientLimiter{
		limit: rate.Limit(perSecond), burst: burst, cap: max(1, capacity),
		order: list.New(), buckets: make(map[string]*list.Element),
	}
}

// reserve takes a token for key at now and returns zero, or, when the
// bucket is empty, takes nothing and returns how long until a token is due.
func (cl *clientLimiter) reserve(key string, now time.Time) time.Duration {
	lim := cl.bucket(key)
	r := lim.ReserveN(now, 1)
	if !r.OK() { // only when burst < 1, which newClientLimiter prevents
		return time.Second
	}
	wait := r.DelayFrom(now)
	if wait > 0 {
		r.CancelAt(now) // a refused request must not use up a future token
	}
	return wait
}

// bucket returns key's limiter, creating it with a full bucket and evicting
// the least recently seen client when full.
func (cl *clientLimiter) bucket(key string) *rate.Limiter {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if e, ok := cl.buckets[key]; ok {
		cl.order.MoveToFront(e)
		return e.Value.(*clientBucket).lim
	}
	if cl.order.Len() >= cl.cap {
		oldest := cl.order.Back()
		cl.order.Remove(oldest)
		delete(cl.buckets, oldest.Value.(*clientBucket).key)
	}
	b := &clientBucket{key: key, lim: rate.NewLimiter(cl.limit, cl.burst)}
	cl.buckets[key] = cl.order.PushFront(b)
	return b.lim
}

// tracked is the number of clients held, for tests.
func (cl *clientLimiter) tracked() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.order.Len()
}
