// Package platform groups the small pieces of infrastructure code both
// services share: typed configuration from the environment (envconf,
// redisconf), JSON logging (logging), error kinds (apperr) and the test
// helper that starts a real redis-server (redistest). It holds no business
// rules; those live in each service's domain package.
package platform
