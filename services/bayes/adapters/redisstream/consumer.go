package redisstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/event-driven-bayes/event-driven-bayes/services/bayes/app/command"
	"github.com/event-driven-bayes/event-driven-bayes/services/events"
	"github.com/event-driven-bayes/event-driven-bayes/services/platform/redisconf"
)

// Consumer reads the stream as one named member of the consumer group.
type Consumer struct {
	rdb     redis.UniversalClient
	keys    Keys
	name    string
	onClaim func(n int) // nil: nobody counts claims
	shards  events.Shards
	shard   int
}

// ConsumerOption configures a Consumer.
type ConsumerOption func(*Consumer)

// OnClaim makes the consumer report how many entries each claim took over
// (e.g. to a metric).
func OnClaim(f func(n int)) ConsumerOption { return func(c *Consumer) { c.onClaim = f } }

// InShard makes the consumer the reader of shard i of shards. An entry of a
// model that lives on another shard is rejected with the code wrong_shard,
// its reason naming the stream the model lives on: a producer that places
// models with another number of shards wrote it, and counting it here
// would split the model over two shards, whose commits cannot see each
// other. Without it (or with one shard) every model is the consumer's.
func InShard(shards events.Shards, i int) ConsumerOption {
	return func(c *Consumer) { c.shards, c.shard = shards, i }
}

// NewConsumer returns a consumer called name. A name that survives restarts
// (a StatefulSet pod name) lets a restarted replica finish its own pending
// entries at once instead of waiting for another replica to claim them.
func NewConsumer(rdb redis.UniversalClient, keys Keys, name string, opts ...ConsumerOption) *Consumer {
	c := &Consumer{rdb: rdb, keys: keys, name: name}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is the consumer name in the group.
func (c *Consumer) Name() string { return c.name }

// EnsureGroup creates the stream and the group if they do not exist. The
// group starts at the beginning of the stream so observations published
// before bayes ever ran are counted too.
func (c *Consumer) EnsureGroup(ctx context.Context) error {
	err := c.rdb.XGroupCreateMkStream(ctx, c.keys.Stream, c.keys.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating group %s on %s: %w", c.keys.Group, c.keys.Stream, err)
	}
	return nil
}

// ReadOwnPending returns up to count entries delivered to this consumer
// but never acknowledged, after the id after (use "0" to start): what a
// previous run with the same name was doing when it died.
func (c *Consumer) ReadOwnPending(ctx context.Context, after string, count int) ([]command.Entry, error) {
	return c.read(ctx, after, count, -1)
}

// ReadNew blocks up to block for new entries and returns up to count.
func (c *Consumer) ReadNew(ctx context.Context, count int, block time.Duration) ([]command.Entry, error) {
	return c.read(ctx, ">", count, block)
}

func (c *Consumer) read(ctx context.Context, id string, count int, block time.Duration) ([]command.Entry, error) {
	streams, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.keys.Group, Consumer: c.name, Streams: []string{c.keys.Stream, id},
		Count: int64(count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil // block timed out with nothing new
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			// Someone deleted the stream or the group (FLUSHALL, DEL): make
			// them again; the next read goes on from there.
			if gerr := c.EnsureGroup(ctx); gerr != nil {
				return nil, errors.Join(err, gerr)
			}
		}
		return nil, fmt.Errorf("XREADGROUP %s %s: %w", c.keys.Stream, id, err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return c.decode(streams[0].Messages), nil // one stream asked for, one answered
}

// Claim takes over up to count entries that another consumer has held for
// longer than minIdle (it crashed, or was scaled away), scanning from
// cursor ("0-0" to start). It returns the entries and the cursor for the
// next call ("0-0" when the scan is complete). Entries deleted from the
// stream while pending are dropped from the PEL by Redis itself.
func (c *Consumer) Claim(ctx context.Context, cursor string, minIdle time.Duration, count int) ([]command.Entry, string, error) {
	msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: c.keys.Stream, Group: c.keys.Group, Consumer: c.name,
		MinIdle: minIdle, Start: cursor, Count: int64(count),
	}).Result()
	if err != nil {
		return nil, cursor, fmt.Errorf("XAUTOCLAIM %s: %w", c.keys.Stream, err)
	}
	if c.onClaim != nil {
		c.onClaim(len(msgs))
	}
	return c.decode(msgs), next, nil
}

// trimScript removes acknowledged entries only. Everything below the oldest
// pending entry, or, with nothing pending, below the last delivered one, has
// been acknowledged; entries never delivered have larger ids and stay.
// Atomic, so no entry becomes pending between the look and the trim.
var trimScript = redis.NewScript(`
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
local minid = nil
for _, g in ipairs(groups) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i+1] end
  local bound = info['last-delivered-id']
  if info['pending'] > 0 then
    local p = redis.call('XPENDING', KEYS[1], info['name'])
    bound = p[2]
  end
  if minid == nil then
    minid = bound
  else
    local a1, a2 = string.match(minid, '(%d+)-(%d+)')
    local b1, b2 = string.match(bound, '(%d+)-(%d+)')
    if tonumber(b1) < tonumber(a1) or (tonumber(b1) == tonumber(a1) and tonumber(b2) < tonumber(a2)) then
      minid = bound
    end
  end
end
if minid == nil then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', minid)
`)

// Trim deletes acknowledged entries and returns how many went. With more
// than one group on the stream, the slowest group bounds the trim.
func (c *Consumer) Trim(ctx context.Context) (int64, error) {
	n, err := trimScript.Run(ctx, c.rdb, []string{c.keys.Stream}).Int64()
	if err != nil {
		return 0, fmt.Errorf("trimming %s: %w", c.keys.Stream, err)
	}
	return n, nil
}

// cleanupScript deletes consumers other than ARGV[1] that hold no pending
// entries and have been idle for more than ARGV[2] ms. Checking and deleting
// in one script means no entry can be delivered to a consumer between the
// check and the delete, so no pending entry is ever orphaned.
var cleanupScript = redis.NewScript(`
local removed = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[3])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i+1] end
  if info['name'] ~= ARGV[1] and info['pending'] == 0 and info['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[3], info['name'])
    table.insert(removed, info['name'])
  end
end
return removed
`)

// RemoveStaleConsumers deletes consumers idle for longer than idle that have
// nothing pending (their entries were claimed or acknowledged), so restarts
// without stable names do not leave a growing list behind.
func (c *Consumer) RemoveStaleConsumers(ctx context.Context, idle time.Duration) ([]string, error) {
	removed, err := cleanupScript.Run(ctx, c.rdb, []string{c.keys.Stream}, c.name, idle.Milliseconds(), c.keys.Group).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("removing stale consumers of %s: %w", c.keys.Stream, err)
	}
	return removed, nil
}

// decode decodes the entries of a read or a claim, and rejects those whose
// model lives on another shard (InShard).
func (c *Consumer) decode(msgs []redis.XMessage) []command.Entry {
	out := make([]command.Entry, 0, len(msgs)) // one allocation, not a growing slice per batch
	for _, m := range msgs {
		e := DecodeEntry(m.ID, m.Values)
		if e.Kind != command.Reject {
			if home := c.shards.Of(e.Model); home != c.shard {
				e = reject(m.ID, m.Values, command.CodeWrongShard, fmt.Sprintf(
					"model %q lives on shard %d (stream %s), not on %s (shard %d of %d): its producer places models with another STREAM_SHARDS",
					e.Model, home, c.shards.Stream(home), c.keys.Stream, c.shard, c.shards.Count()))
			}
		}
		out = append(out, e)
	}
	return out
}

// Ping checks that the Redis node serving the shard's stream answers (on a
// cluster, that shard's master); it implements query.Pinger. After a
// failure a cluster client is asked to re-read the slot map, so the next
// ping finds a replica that took over.
func (c *Consumer) Ping(ctx context.Context) error {
	node, err := redisconf.MasterFor(ctx, c.rdb, c.keys.Stream)
	if err == nil {
		err = node.Ping(ctx).Err()
	}
	if err != nil {
		redisconf.Reload(ctx, c.rdb)
		return fmt.Errorf("redis serving %s: %w", c.keys.Stream, err)
	}
	return nil
}

// GroupStats returns the group's lag and pending count and the length of
// the dead-letter stream, for metrics. A group that does not exist yet has
// everything in the stream as lag.
func (c *Consumer) GroupStats(ctx context.Context) (lag, pending, deadLetters int64, err error) {
	pipe := c.rdb.Pipeline()
	groups := pipe.XInfoGroups(ctx, c.keys.Stream)
	length := pipe.XLen(ctx, c.keys.Stream)
	dead := pipe.XLen(ctx, c.keys.DeadLetter)
	_, _ = pipe.Exec(ctx) // errors are read per command below
	if err := dead.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("XLEN %s: %w", c.keys.DeadLetter, err)
	}
	gs, gerr := groups.Result()
	if gerr != nil {
		if strings.Contains(gerr.Error(), "no such key") {
			return 0, 0, dead.Val(), nil // no stream yet: nothing to lag behind
		}
		return 0, 0, 0, fmt.Errorf("XINFO GROUPS %s: %w", c.keys.Stream, gerr)
	}
	for _, g := range gs {
		if g.Name == c.keys.Group {
			lag := g.Lag
			if lag < 0 { // Redis cannot tell after some deletions; the length bounds it
				lag = length.Val()
			}
			return lag, g.Pending, dead.Val(), nil
		}
	}
	return length.Val(), 0, dead.Val(), nil
}
