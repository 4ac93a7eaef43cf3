// Package redisstream is the api's Redis adapter: it publishes events
// (observations, model definitions, deletions and resets) to a Redis Stream
// with XADD, reads the spec a model was created with and the number of
// models, and checks that Redis answers. It implements the interfaces of
// the app layer and knows nothing of HTTP.
package redisstream
