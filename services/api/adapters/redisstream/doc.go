// Package redisstream is the api's Redis adapter: it publishes events
// (observations, model definitions, deletions and resets) to Redis Streams
// with XADD, reads the spec a model was created with and the number of
// models, and checks that Redis answers. It implements the interfaces of
// the app layer and knows nothing of HTTP.
//
// Redis is one server or a Redis Cluster, and the models are placed on
// STREAM_SHARDS shards (events.Shards): a Router sends each event to its
// model's shard, where a group-commit Publisher writes it to the shard's
// stream on that stream's master, optionally waiting for replicas (WAIT).
package redisstream
