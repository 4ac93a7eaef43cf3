// Package redisstream is bayes' side of the Redis transport and state: it
// reads the observation stream in a consumer group, claims entries of dead
// consumers, commits batches (ack + apply + dead-letter in one Lua script),
// trims only what is acknowledged, and reads the persisted models.
package redisstream

import "github.com/event-driven-bayes/event-driven-bayes/services/events"

// Keys names every Redis key bayes touches. All derive from the stream name,
// so two deployments sharing one Redis with different REDIS_STREAM values
// never mix their knowledge.
type Keys struct {
	Stream     string // the events, XADDed by the api
	Group      string // the consumer group of every bayes replica
	DeadLetter string // malformed entries with the reason
	Models     string // set: the name of every model created
	Index      string // sorted set, all scores 0: the same names, for paging by name
	Epochs     string // counter: grows with every reset and deletion (a model's epoch)
	Lease      string // who forwards pub/sub messages (see pubsubbridge)
	stream     string
}

// GroupName is the consumer group all bayes replicas share.
const GroupName = "bayes"

// KeysFor returns the keys for stream.
func KeysFor(stream string) Keys {
	return Keys{
		Stream:     stream,
		Group:      GroupName,
		DeadLetter: stream + ":dead",
		Models:     stream + ":models",
		Index:      stream + ":models:index",
		Epochs:     stream + ":epochs",
		Lease:      stream + ":pubsub-bridge",
		stream:     stream,
	}
}

// State is the hash holding a model's counts (fields w and n):
// <stream>:model:<name>, so the default model keeps the key it always had.
func (k Keys) State(model string) string { return k.stream + ":model:" + model }

// Spec is the string holding a model's prior and grid (events.ModelSpec,
// encoded), fixed when the model is created. The api may read it (to answer
// a conflicting definition with 409), never the counts.
func (k Keys) Spec(model string) string { return events.SpecKey(k.stream, model) }
