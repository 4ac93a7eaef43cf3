// Package redisstream is bayes' side of the Redis transport and state: it
// reads the observation stream in a consumer group, claims entries of dead
// consumers, commits batches (ack + apply + dead-letter in one Lua script),
// trims only what is acknowledged, and reads the persisted counts.
package redisstream

// Keys names every Redis key bayes touches. All derive from the stream name,
// so two deployments sharing one Redis with different REDIS_STREAM values
// never mix their knowledge.
type Keys struct {
	Stream     string // the observations, XADDed by the api
	Group      string // the consumer group of every bayes replica
	DeadLetter string // malformed entries with the reason
	State      string // hash: w, n
	Lease      string // who forwards pub/sub messages (see pubsubbridge)
}

// GroupName is the consumer group all bayes replicas share.
const GroupName = "bayes"

// KeysFor returns the keys for stream.
func KeysFor(stream string) Keys {
	return Keys{
		Stream:     stream,
		Group:      GroupName,
		DeadLetter: stream + ":dead",
		State:      stream + ":model:default",
		Lease:      stream + ":pubsub-bridge",
	}
}
