// Package platform groups the small pieces of infrastructure code both
// services share: their main function (servicemain), typed configuration
// from the environment (envconf, redisconf), JSON logging (logging), traces
// and the metrics registry (telemetry), the opt-in loopback pprof listener
// (profiling), error kinds (apperr), the Redis ACL rules (redisacl), the
// OpenAPI document's docs page (apidocs) and the checks of exchanges
// against it (apidocs/openapicheck), the
// images' health check program (cmd/healthcheck) and the test helpers
// that start a real redis-server (redistest) and poll with a deadline
// (wait). It holds no business rules; those live in each service's domain
// package.
package platform
