// Package redisstream is bayes' side of the Redis transport and state: it
// reads the observation stream in a consumer group, claims entries of dead
// consumers, commits batches (ack + apply + dead-letter in one Lua script),
// trims only what is acknowledged, and reads the persisted models. With
// STREAM_SHARDS > 1 each shard (events.Shards) has its own Keys, Consumer
// and Ledger; Store reads the models of them all.
package redisstream

import "github.com/event-driven-bayes/event-driven-bayes/services/events"

// Keys names every Redis key bayes touches for one shard. All derive from
// the stream name, so two deployments sharing one Redis with different
// REDIS_STREAM values never mix their knowledge; on a Redis Cluster every
// key but the stream carries the shard's hash tag, so whatever one commit
// touches is in one slot.
type Keys struct {
	Stream     string // the events, XADDed by the api
	Group      string // the consumer group of every bayes replica
	DeadLetter string // malformed entries with the reason
	Models     string // set: the name of every model created
	Index      string // sorted set, all scores 0: the same names, for paging by name
	Epochs     string // counter: grows with every reset and deletion (a model's epoch)
	Lease      string // who forwards pub/sub messages (see pubsubbridge); shard 0's
	prefix     string // of the states and specs
}

// GroupName is the consumer group all bayes replicas share.
const GroupName = "bayes"

// KeysFor returns the keys of stream as the one shard of a plain Redis:
// the names bayes always used.
func KeysFor(stream string) Keys { return ShardKeys(events.OneShard(stream), 0) }

// ShardKeys returns the keys of shard i of shards (0 ≤ i < shards.Count()).
//
// The lease is the pub/sub bridge's, which forwards into shard 0's stream
// in one script with the lease: it carries shard 0's prefix, so on a plain
// Redis it keeps its name (<stream>:pubsub-bridge) and on a cluster it is
// in the stream's slot ({<stream>}:pubsub-bridge).
func ShardKeys(shards events.Shards, i int) Keys {
	p := shards.Prefix(i)
	return Keys{
		Stream:     shards.Stream(i),
		Group:      GroupName,
		DeadLetter: p + ":dead",
		Models:     shards.ModelsKey(i),
		Index:      p + ":models:index",
		Epochs:     p + ":epochs",
		Lease:      shards.Prefix(0) + ":pubsub-bridge",
		prefix:     p,
	}
}

// State is the hash holding a model's counts (fields w and n):
// <prefix>:model:<name>, so the default model keeps the key it always had.
func (k Keys) State(model string) string { return k.prefix + ":model:" + model }

// Spec is the string holding a model's prior and grid (events.ModelSpec,
// encoded), fixed when the model is created. The api may read it (to answer
// a conflicting definition with 409), never the counts.
func (k Keys) Spec(model string) string { return events.SpecKey(k.prefix, model) }
