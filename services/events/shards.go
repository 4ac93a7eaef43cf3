package events

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// MaxShards bounds STREAM_SHARDS: every bayes replica reads every shard, so
// each shard costs it a blocking read and a commit loop.
const MaxShards = 256

// Shards places models on the shards of one deployment's stream. A shard is
// a stream with its own consumer group, dead letters, model states, specs
// and names: everything one commit touches lives on one shard, so on a Redis
// Cluster the commit script stays a single-slot script.
//
// Shard 0 is the stream as it always was: its stream is named REDIS_STREAM
// itself, so the original's `XADD update_model * trial w` and the pub/sub
// bridge feed it, and the default model lives there. On a plain Redis its
// other keys keep their names too (update_model:dead, …), so a deployment
// of one shard sees no change. Every other key carries a hash tag: on a
// cluster shard 0's are {update_model}:dead, {update_model}:model:NAME, …
// (a key K and a key tagged {K} hash to the same slot), and shard i > 0 is
// the stream update_model:i with keys {update_model:i}:dead, ….
//
// A model's shard is a stable hash of its name (FNV-1a, 32 bits, modulo
// the number of shards): the api and every bayes replica compute the same
// one with no lookup, and a model never moves while the number of shards
// stays the same. bayes records that number in Redis and refuses to start
// with another (ShardsKey).
type Shards struct {
	stream  string
	n       int
	cluster bool
}

// NewShards returns the layout of n shards of stream; cluster says whether
// the keys must be hash-tagged for a Redis Cluster.
func NewShards(stream string, n int, cluster bool) (Shards, error) {
	if stream == "" {
		return Shards{}, fmt.Errorf("shards: empty stream name")
	}
	if n < 1 || n > MaxShards {
		return Shards{}, fmt.Errorf("shards: %d shards, want 1 to %d", n, MaxShards)
	}
	return Shards{stream: stream, n: n, cluster: cluster}, nil
}

// OneShard is today's layout: one shard on a plain Redis, every key named
// as before shards existed.
func OneShard(stream string) Shards { return Shards{stream: stream, n: 1} }

// Count is the number of shards.
func (s Shards) Count() int { return s.n }

// Cluster says whether the keys are laid out for a Redis Cluster.
func (s Shards) Cluster() bool { return s.cluster }

// Name is the deployment's stream name (REDIS_STREAM), shard 0's stream.
func (s Shards) Name() string { return s.stream }

// Of is the shard model lives on. The default model is always on shard 0,
// where the original's clients write.
func (s Shards) Of(model string) int {
	if s.n <= 1 || model == DefaultModel {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(model))
	return int(h.Sum32() % uint32(s.n))
}

// Stream is shard i's stream: REDIS_STREAM for shard 0, REDIS_STREAM:i for
// the others.
func (s Shards) Stream(i int) string {
	if i == 0 {
		return s.stream
	}
	return s.stream + ":" + strconv.Itoa(i)
}

// Prefix starts the name of every other key of shard i (dead letters,
// states, specs, names): the stream name, hash-tagged on a cluster and for
// every shard but 0.
func (s Shards) Prefix(i int) string {
	if i == 0 && !s.cluster {
		return s.stream
	}
	return "{" + s.Stream(i) + "}"
}

// SpecKey is the key of model's spec on its shard.
func (s Shards) SpecKey(model string) string { return SpecKey(s.Prefix(s.Of(model)), model) }

// ModelsKey is shard i's set of the names of its models.
func (s Shards) ModelsKey(i int) string { return s.Prefix(i) + ":models" }

// ShardsKey holds the number of shards a deployment of more than one was
// created with, on shard 0. The api and bayes must agree on it and it must
// not change while models exist: a model's shard depends on it.
func (s Shards) ShardsKey() string { return s.Prefix(0) + ":shards" }
