// Package charttest verifies the Kubernetes deployment of event-driven-bayes
// where no cluster can run: it renders charts/event-driven-bayes with the
// Helm SDK, decodes every rendered object strictly into the Kubernetes API
// types (an unknown or misspelt field fails), and checks the invariants the
// two binaries depend on, among them that the chart sets every variable the
// binaries' config.go reads (scanned from the Go source, so the list cannot
// go stale) and no other; it runs the helm test hook's script with busybox
// against a fake api and bayes; it checks the rendered Redis ACL file
// against the golden rules of services/platform/redisacl and loads it into a
// real redis-server with the chart's own arguments and probes; it renders
// the chart for an external Redis Cluster (no Redis of its own,
// REDIS_CLUSTER_ADDRS, shards, WAIT) and runs the ACL commands its NOTES
// print against a real redis-server; it lints the
// chart as `helm lint --strict` does, loads k8s/kind-config.yaml the way
// kind does, and checks that skaffold.yaml, plain and with its monitoring
// profile, builds both Dockerfiles and deploys this chart.
//
// Everything is in the tests; this file only names the package.
package charttest
