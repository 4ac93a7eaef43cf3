// Package redisstream is the api's Redis adapter: it publishes events
// (observations and model definitions) to a Redis Stream with XADD, reads
// the spec a model was created with, and checks that Redis answers. It
// implements the interfaces of the app layer and knows nothing of HTTP.
package redisstream
