// Package pubsubbridge keeps the original project's manual path working:
// `redis-cli PUBLISH update_model w`. Every replica of bayes would receive a
// pub/sub message, so exactly one of them, the holder of a lease, forwards
// each message into the stream, where it is counted like any other event.
//
// The forward is fenced: a Lua script XADDs only while the lease key still
// holds this replica's token. A replica that lost its lease (a pause longer
// than the TTL) and has not noticed yet cannot forward, so a message is
// forwarded at most once even while two replicas are subscribed. Pub/sub
// itself is at-most-once: a message published while no replica holds the
// lease is lost. The durable manual path is XADD.
package pubsubbridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/events"
)

// Config names the keys and the timing of the lease.
type Config struct {
	Channel string        // REDIS_CHANNEL
	Stream  string        // where forwarded messages go
	Lease   string        // the lease key
	TTL     time.Duration // how long a lease lives without renewal
}

// Bridge forwards pub/sub messages into the stream while it holds the lease.
type Bridge struct {
	rdb   redis.UniversalClient
	cfg   Config
	token string
	log   *slog.Logger
	now   func() time.Time
	// Subscribed, when set, is called each time this replica starts or stops
	// forwarding; the tests wait on it.
	Subscribed func(bool)
}

// New returns a bridge with a random token identifying this replica.
func New(rdb redis.UniversalClient, cfg Config, log *slog.Logger) (*Bridge, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.Channel == "" || cfg.Stream == "" || cfg.Lease == "" {
		return nil, errors.New("pubsub bridge: channel, stream and lease key are required")
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("pubsub bridge token: %w", err)
	}
	return &Bridge{rdb: rdb, cfg: cfg, token: hex.EncodeToString(b), log: log, now: time.Now, Subscribed: func(bool) {}}, nil
}

// renewScript extends the lease only if we still hold it.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// forwardScript XADDs the message only if we still hold the lease.
var forwardScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
`)

// releaseScript gives the lease up, if it is ours, so another replica takes
// over at once on a clean shutdown.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Run tries to take the lease and forwards messages while it holds it, until
// ctx is cancelled. Errors (Redis down) are logged and retried; Run returns
// only ctx's error.
func (b *Bridge) Run(ctx context.Context) error {
	retry := time.NewTicker(b.cfg.TTL / 3)
	defer retry.Stop()
	for {
		ok, err := b.rdb.SetNX(ctx, b.cfg.Lease, b.token, b.cfg.TTL).Result()
		if err != nil && ctx.Err() == nil {
			b.log.WarnContext(ctx, "pubsub bridge: taking the lease", "err", err)
		}
		if ok {
			b.log.InfoContext(ctx, "pubsub bridge: forwarding", "channel", b.cfg.Channel, "stream", b.cfg.Stream)
			err := b.forward(ctx)
			if ctx.Err() == nil {
				b.log.WarnContext(ctx, "pubsub bridge: stopped forwarding", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-retry.C:
		}
	}
}

// forward subscribes and forwards until the lease is lost or ctx ends.
func (b *Bridge) forward(ctx context.Context) error {
	sub := b.rdb.Subscribe(ctx, b.cfg.Channel)
	defer func() {
		_ = sub.Close()
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = releaseScript.Run(release, b.rdb, []string{b.cfg.Lease}, b.token).Err()
		b.Subscribed(false)
	}()
	// Wait for the subscription to be confirmed before saying we forward.
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("subscribing to %s: %w", b.cfg.Channel, err)
	}
	b.Subscribed(true)
	msgs := sub.Channel(redis.WithChannelHealthCheckInterval(b.cfg.TTL))
	renew := time.NewTicker(b.cfg.TTL / 3)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-renew.C:
			n, err := renewScript.Run(ctx, b.rdb, []string{b.cfg.Lease}, b.token, b.cfg.TTL.Milliseconds()).Int()
			if err != nil {
				return fmt.Errorf("renewing the lease: %w", err)
			}
			if n == 0 {
				return errors.New("lease lost to another replica")
			}
		case m, ok := <-msgs:
			if !ok {
				return errors.New("subscription closed")
			}
			if err := b.forwardOne(ctx, m.Payload); err != nil {
				return err
			}
		}
	}
}

func (b *Bridge) forwardOne(ctx context.Context, payload string) error {
	ev := events.Event{Trial: payload, PublishedAt: b.now(), Source: events.SourcePubSub}
	args := []any{b.token}
	for _, f := range ev.Fields() {
		args = append(args, f)
	}
	id, err := forwardScript.Run(ctx, b.rdb, []string{b.cfg.Lease, b.cfg.Stream}, args...).Text()
	if errors.Is(err, redis.Nil) {
		return errors.New("lease lost: message not forwarded")
	}
	if err != nil {
		return fmt.Errorf("forwarding a pub/sub message: %w", err)
	}
	b.log.DebugContext(ctx, "pubsub bridge: forwarded", "id", id, "payload_bytes", strconv.Itoa(len(payload)))
	return nil
}
